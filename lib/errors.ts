/**
 * The error catalogue. Every error ccmesh raises on purpose carries a stable code (`CCMESH_ERR_<AREA>_<WHAT>`)
 * that operators can grep for and tests can assert on; messages say what was being attempted.
 */

/** Stable error codes, one per failure kind. Never renumber or reuse a code. */
export const ErrorCode = {
  CONFIG_INVALID: 'CCMESH_ERR_CONFIG_INVALID',
  USAGE: 'CCMESH_ERR_CLI_USAGE',
  INPUT_UNREADABLE: 'CCMESH_ERR_INPUT_UNREADABLE',
  INPUT_MALFORMED: 'CCMESH_ERR_INPUT_MALFORMED',
  /** A user-named output path (file, directory, store) cannot be created or written: missing parent, a file, read-only. */
  OUTPUT_UNWRITABLE: 'CCMESH_ERR_OUTPUT_UNWRITABLE',
  /** A user-named listen address cannot be bound: port in use, address not on this host, permission. */
  LISTEN_FAILED: 'CCMESH_ERR_LISTEN_FAILED',
  ATTEST_PARSE: 'CCMESH_ERR_ATTEST_PARSE',
  ATTEST_COLLATERAL: 'CCMESH_ERR_ATTEST_COLLATERAL',
  ATTEST_FETCH: 'CCMESH_ERR_ATTEST_FETCH',
  ATTEST_FETCH_DISABLED: 'CCMESH_ERR_ATTEST_FETCH_DISABLED',
  /** No evidence issuer is usable here: configfs-tsm or the guest device is missing, unopenable or unsuitable. */
  ATTEST_ISSUER_UNAVAILABLE: 'CCMESH_ERR_ATTEST_ISSUER_UNAVAILABLE',
  /** An issuer was present but issuance failed (firmware/VMM error, unusable or mismatching output). */
  ATTEST_ISSUER_FAILED: 'CCMESH_ERR_ATTEST_ISSUER_FAILED',
  /** Another writer changed our configfs-tsm request while we used it, on every bounded attempt. */
  ATTEST_ISSUER_CONCURRENT: 'CCMESH_ERR_ATTEST_ISSUER_CONCURRENT',
  /** A PKI input was refused: seed or salt of the wrong size, empty workload id, bad SAN, trust domain or key. */
  PKI_INPUT_INVALID: 'CCMESH_ERR_PKI_INPUT_INVALID',
  /** The issuing CA is not valid now, so no certificate it signs could be. */
  PKI_CA_EXPIRED: 'CCMESH_ERR_PKI_CA_EXPIRED',
  /** A seed share could not be opened: wrong private key, tampered ciphertext or unknown plaintext format. */
  PKI_SEED_SHARE_INVALID: 'CCMESH_ERR_PKI_SEED_SHARE_INVALID',
  /** A store key or prefix is not a `/`-separated path of [a-z0-9._-] segments. */
  STORE_KEY_INVALID: 'CCMESH_ERR_STORE_KEY_INVALID',
  /** A value is larger than every store backend accepts (kept under etcd's request limit). */
  STORE_VALUE_TOO_LARGE: 'CCMESH_ERR_STORE_VALUE_TOO_LARGE',
  /** Stored data failed verification (header, checksum, content hash, record shape); the message names the key/file. */
  STORE_CORRUPT: 'CCMESH_ERR_STORE_CORRUPT',
  /** Another live process holds the store directory's lock. */
  STORE_LOCKED: 'CCMESH_ERR_STORE_LOCKED',
  /** The store was used after close(). */
  STORE_CLOSED: 'CCMESH_ERR_STORE_CLOSED',
  /** The store's backend failed (file system error); the cause carries the original. */
  STORE_IO: 'CCMESH_ERR_STORE_IO',
  /** The store's backend (etcd) could not be reached or did not answer in time; the same request may succeed later. */
  STORE_UNAVAILABLE: 'CCMESH_ERR_STORE_UNAVAILABLE',
  /** The history's `latest` pointer does not verify under the given key (wrong seed, or tampering). */
  HISTORY_SIGNATURE_INVALID: 'CCMESH_ERR_HISTORY_SIGNATURE_INVALID',
  /** An advance of `latest` names a transition that is missing or does not extend the current latest. */
  HISTORY_ADVANCE_INVALID: 'CCMESH_ERR_HISTORY_ADVANCE_INVALID',
  COORDINATOR_UNREACHABLE: 'CCMESH_ERR_COORDINATOR_UNREACHABLE',
  COORDINATOR_REFUSED: 'CCMESH_ERR_COORDINATOR_REFUSED',
  ATTEST_COORDINATOR_REFUSED: 'CCMESH_ERR_ATTEST_COORDINATOR_REFUSED',
  /** A genuine Coordinator that serves another mesh owner than the pinned one, or none (fresh, recovery). */
  ATTEST_COORDINATOR_WRONG_OWNER: 'CCMESH_ERR_ATTEST_COORDINATOR_WRONG_OWNER',
  /** `ccmesh port-forward`: kubectl is missing, or `kubectl port-forward` failed or ended. */
  PORT_FORWARD_KUBECTL: 'CCMESH_ERR_PORT_FORWARD_KUBECTL',
  /** iptables/ip6tables/iproute2 is missing, or the kernel lacks what the rules need. */
  IPTABLES_UNAVAILABLE: 'CCMESH_ERR_IPTABLES_UNAVAILABLE',
  /** Installing, reading back or removing rules failed; the message carries the tool's stderr. */
  IPTABLES_APPLY: 'CCMESH_ERR_IPTABLES_APPLY',
  /** The guard was not lifted: IPv6 is configured on an interface but ip6tables can't enforce rules for it. */
  IPTABLES_IPV6_UNGUARDED: 'CCMESH_ERR_IPTABLES_IPV6_UNGUARDED',
  /** The pod's TLS directory is not safe to write into: a link, writable by others, or another uid's. */
  CREDENTIALS_DIR_UNSAFE: 'CCMESH_ERR_CREDENTIALS_DIR_UNSAFE',
  /** The sidecar's TLS directory is missing, unreadable or inconsistent (key/leaf mismatch, leaf not from the bundle). */
  PROXY_CREDENTIALS_INVALID: 'CCMESH_ERR_PROXY_CREDENTIALS_INVALID',
  /** A sidecar listener could not be bound (address in use, permission). */
  PROXY_LISTEN_FAILED: 'CCMESH_ERR_PROXY_LISTEN_FAILED',
  /** A startup stage of the sidecar failed (credentials, listeners, rule application/verification, guard). */
  PROXY_STARTUP_FAILED: 'CCMESH_ERR_PROXY_STARTUP_FAILED',
  /** A leaf renewal response failed verification against the pinned root and the new key. */
  PROXY_RENEWAL_INVALID: 'CCMESH_ERR_PROXY_RENEWAL_INVALID',
  /** The Coordinator wants fresh evidence to renew (the reference values changed) and the sidecar has no issuer (`--tee`). */
  PROXY_RENEWAL_EVIDENCE_REQUIRED: 'CCMESH_ERR_PROXY_RENEWAL_EVIDENCE_REQUIRED',
  /** Mounted config files differ from the manifest's configDigests; no secret was written. */
  CONFIG_DIGEST_MISMATCH: 'CCMESH_ERR_CONFIG_DIGEST_MISMATCH',
  /** The verified copy of a pinned config volume could not be written (or its destination is unsafe); no secret was written. */
  CONFIG_COPY_FAILED: 'CCMESH_ERR_CONFIG_COPY_FAILED',
  /**
   * An encrypted persistent volume was not opened because the device is in a state ccmesh will not touch (a LUKS
   * header it can't open or verify, a truncated device, data that is not a blank device); nothing was written to it.
   */
  SECURE_PV_REFUSED: 'CCMESH_ERR_SECURE_PV_REFUSED',
  /** A step of preparing an encrypted persistent volume failed (cryptsetup, mkfs or mount); the message names it. */
  SECURE_PV_FAILED: 'CCMESH_ERR_SECURE_PV_FAILED',
  /** `inject` cannot make this Kubernetes resource safe (hostNetwork, a clashing container, a bad annotation). */
  K8S_INJECT_REFUSED: 'CCMESH_ERR_K8S_INJECT_REFUSED',
  /** A pod's Kata policy / initdata annotation is malformed, or injection would change a pinned policy's hash. */
  K8S_POLICY_INVALID: 'CCMESH_ERR_K8S_POLICY_INVALID',
  /** A Kubernetes API call (e.g. patching the webhook's caBundle) failed; the message names the object. */
  K8S_API: 'CCMESH_ERR_K8S_API',
  INTERNAL: 'CCMESH_ERR_INTERNAL',
} as const;

/** One of the codes in {@link ErrorCode}. */
export type ErrorCodeValue = (typeof ErrorCode)[keyof typeof ErrorCode];

/** Base class for every deliberate ccmesh error. */
export class CcmeshError extends Error {
  override readonly name: string = 'CcmeshError';
  readonly code: ErrorCodeValue;

  constructor(code: ErrorCodeValue, message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.code = code;
  }
}

/** One problem found in a configuration source: which field, what it held and what was expected. */
export interface ConfigIssue {
  readonly field: string;
  readonly value: string | undefined;
  readonly expected: string;
}

/** All problems of one configuration at once, so a user fixes everything in one round. */
export class ConfigError extends CcmeshError {
  override readonly name = 'ConfigError';
  readonly issues: readonly ConfigIssue[];

  constructor(what: string, issues: readonly ConfigIssue[]) {
    super(ErrorCode.CONFIG_INVALID, `invalid ${what}:\n${issues.map(formatIssue).join('\n')}`);
    this.issues = issues;
  }
}

/** Renders one issue as a single line: `  --port: got "x", expected a port number 1-65535`. */
export function formatIssue(issue: ConfigIssue): string {
  const got = issue.value === undefined ? 'nothing' : quoteValue(issue.value);
  return `  ${issue.field}: got ${got}, expected ${issue.expected}`;
}

/** Longest echo of a user-supplied value in a message, in characters of the quoted form. */
export const MAX_ECHO_CHARS = 80;

/**
 * A user-supplied value quoted for a one-line message and bounded: printable text as a JSON string cut to about
 * {@link MAX_ECHO_CHARS} characters, anything with control or non-UTF-8 bytes as hex (also cut), each with the full
 * length when cut. A 9 MiB file or a 4 KiB binary certificate must never be echoed whole into a terminal or a log.
 */
export function quoteValue(value: string | Uint8Array): string {
  const text = typeof value === 'string' ? value : undefined;
  if (text !== undefined && isPrintable(text)) {
    if (text.length <= MAX_ECHO_CHARS) return JSON.stringify(text);
    return `${JSON.stringify(text.slice(0, MAX_ECHO_CHARS - 8))}… (${text.length} characters)`;
  }
  const bytes = typeof value === 'string' ? Buffer.from(value, 'utf8') : Buffer.from(value.buffer, value.byteOffset, value.byteLength);
  const shown = MAX_ECHO_CHARS / 2 - 8;
  if (bytes.length <= shown) return `hex:${bytes.toString('hex')}`;
  return `hex:${bytes.subarray(0, shown).toString('hex')}… (${bytes.length} bytes)`;
}

/** No C0/C1 controls but tab, no U+FFFD (a decoding failure), no bidi overrides: safe to show as text. */
function isPrintable(text: string): boolean {
  for (let i = 0; i < text.length; i++) {
    const c = text.charCodeAt(i);
    if ((c < 0x20 && c !== 0x09) || (c >= 0x7f && c <= 0x9f) || c === 0xfffd || (c >= 0x202a && c <= 0x202e) || (c >= 0x2066 && c <= 0x2069)) return false;
  }
  return true;
}

/** What an operating-system error code means in words, for one-line messages about a path or an address. */
const ERRNO_WORDS: Readonly<Record<string, string>> = {
  ENOENT: 'no such file or directory',
  ENOTDIR: 'a part of the path is not a directory',
  EISDIR: 'is a directory',
  EEXIST: 'already exists and is not a directory',
  EACCES: 'permission denied',
  EPERM: 'operation not permitted',
  EROFS: 'read-only file system',
  ENOSPC: 'no space left on the device',
  ELOOP: 'too many symbolic links',
  ENAMETOOLONG: 'the name is too long',
  EADDRINUSE: 'the address is already in use',
  EADDRNOTAVAIL: 'the address is not on this host',
  EAFNOSUPPORT: 'the address family is not supported here',
  ENOTFOUND: 'the name does not resolve',
  EAI_AGAIN: 'the name does not resolve (temporary failure)',
  EINVAL: 'invalid argument',
};

/** The `code` of a Node system error (`ENOENT`, `EADDRINUSE`…), or undefined for anything else. */
export function systemErrorCode(err: unknown): string | undefined {
  const code = (err as { code?: unknown } | null | undefined)?.code;
  // Node's own ERR_* codes (a missing module, a bad argument) are faults, not the environment refusing a path.
  return typeof code === 'string' && /^E[A-Z0-9_]+$/.test(code) && !code.startsWith('ERR_') ? code : undefined;
}

/** A system error as words without the paths Node adds (temporary names): "no such file or directory (ENOENT)". */
export function describeSystemError(err: unknown): string {
  const code = systemErrorCode(err);
  if (code === undefined) return describeError(err);
  return `${ERRNO_WORDS[code] ?? describeError(err).replace(/^E[A-Z0-9_]+: /, '').replace(/,.*$/, '')} (${code})`;
}

/** Best-effort message of an unknown thrown value, for logs and reasons. */
export function describeError(err: unknown): string {
  if (err instanceof Error) return err.message;
  return String(err);
}
