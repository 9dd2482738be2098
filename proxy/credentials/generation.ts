/**
 * One credential generation: the key, leaf chain, mesh CA bundle and root read from the TLS directory, checked for
 * consistency, and the TLS material built from them exactly once. A generation that fails any check is never
 * used; the caller keeps the previous one.
 */
import { createHash, createPrivateKey, type KeyObject, X509Certificate } from 'node:crypto';
import { createSecureContext as tlsCreateSecureContext, type SecureContext, type SecureContextOptions } from 'node:tls';
import type { TlsFiles } from '../../contract/tls-dir.js';
import { PATHS } from '../../lib/pod-layout.js';
import { isEcKeyOn } from '../../lib/pki/key-details.js';
import type { CredentialRefusal } from '../metrics.js';

/** The raw PEM files of the TLS directory (its layout: contract/tls-dir.ts). */
export type CredentialFiles = TlsFiles;

/** A parsed, consistent generation with its TLS material. */
export interface CredentialGeneration {
  /** SHA-256 over the four files; equal digests mean nothing changed. */
  readonly digest: string;
  readonly files: CredentialFiles;
  readonly key: KeyObject;
  readonly leaf: X509Certificate;
  readonly bundle: readonly X509Certificate[];
  readonly root: X509Certificate;
  readonly notBeforeMs: number;
  readonly notAfterMs: number;
  /** The options the contexts were built from (key, chain, bundle as `ca`, partial trust chain). */
  readonly contextOptions: SecureContextOptions;
  /** This generation's TLS contexts, one per role. */
  readonly contexts: GenerationContexts;
}

/**
 * The TLS contexts of one generation. SECURITY: each server role has its own context, so its own session-ticket
 * keys and session cache, and its own session-id context: a session handed out by a TLS-only listener (no client
 * certificate) can never be resumed on an mTLS listener. A new generation builds new contexts, so a session never
 * outlives the credentials and trust bundle under which it was established.
 */
export interface GenerationContexts {
  /** Inbound listeners that require a client certificate (mtls entries, 15006). */
  readonly mtlsServer: SecureContext;
  /** Inbound listeners of `tls` entries (server authentication only, 15007). */
  readonly tlsServer: SecureContext;
  /** Outbound connections (our leaf as the client certificate, the bundle as the only trust). */
  readonly client: SecureContext;
}

/** Which inbound context a listener uses. */
export type ServerRole = 'mtls' | 'tls';

/**
 * Expected failures of {@link buildGeneration}: data, not exceptions. `refusal` classifies the failure for the
 * refusal metric; absent, it is `invalid` (see {@link refusalOf}).
 */
export type GenerationResult = { ok: true; generation: CredentialGeneration } | { ok: false; reason: string; refusal?: CredentialRefusal };

/** The refusal-metric reason of a failed {@link GenerationResult}. */
export function refusalOf(res: { readonly refusal?: CredentialRefusal }): CredentialRefusal {
  return res.refusal ?? 'invalid';
}

/** Digest of a set of files, to skip re-parsing unchanged content. */
export function digestFiles(f: CredentialFiles): string {
  const h = createHash('sha256');
  for (const part of [f.key, f.chain, f.meshCaBundle, f.rootCa]) h.update(String(part.length)).update('\0').update(part);
  return h.digest('hex');
}

const PEM_CERT = /-----BEGIN CERTIFICATE-----[\s\S]+?-----END CERTIFICATE-----/g;

/** Splits PEM text into certificates; throws on unreadable ones. */
export function parseCertificates(pem: string): X509Certificate[] {
  return (pem.match(PEM_CERT) ?? []).map((p) => new X509Certificate(p));
}

/**
 * A mesh CA bundle holds the current mesh CA and at most the previous one (what the Coordinator sends); a leaf chain
 * holds the leaf and its mesh CA. Larger files are refused before anything is parsed.
 */
export const MAX_BUNDLE_CAS = 2;
const MAX_CHAIN_CERTS = 2;

/** Why `pem` can't be a mesh CA bundle by its shape (count, duplicates), or undefined. Parses at most MAX_BUNDLE_CAS. */
export function bundleShapeProblem(pem: string): string | undefined {
  const count = countCertificates(pem);
  if (count === 0) return 'the mesh CA bundle holds no certificate';
  if (count > MAX_BUNDLE_CAS) return `the mesh CA bundle holds ${count} certificates; it holds the current and at most the previous mesh CA`;
  let fingerprints: string[];
  try {
    fingerprints = parseCertificates(pem).map((c) => c.fingerprint256);
  } catch (err) {
    return `the mesh CA bundle holds an unreadable certificate: ${err instanceof Error ? err.message : String(err)}`;
  }
  if (new Set(fingerprints).size !== fingerprints.length) return 'the mesh CA bundle lists a certificate twice';
  return undefined;
}

function countCertificates(pem: string): number {
  return pem.split('-----BEGIN CERTIFICATE-----').length - 1;
}

/**
 * Checks and builds a generation: the root is `pinnedRoot` (when given), the key is P-256 and matches the leaf, the
 * leaf is valid at `nowMs` and issued by a CA of the bundle, every bundle CA is issued by the root. `nowMs` comes
 * from the injected clock.
 *
 * SECURITY: `pinnedRoot` is the root the sidecar started with (CredentialStore). Every later generation — a reload of
 * the TLS directory, a renewal answer, a trust refresh — must carry that very certificate: a container that can write
 * the pod's `ccmesh` volume could otherwise swap in a directory of its own, whose root would vouch for its own mesh
 * CA and leaves.
 */
export function buildGeneration(files: CredentialFiles, nowMs: number, pinnedRoot?: X509Certificate): GenerationResult {
  let key: KeyObject;
  let chain: X509Certificate[];
  let bundle: X509Certificate[];
  let roots: X509Certificate[];
  try {
    // SECURITY: the sizes are bounded before parsing (a host answering for the Coordinator can send 4 MiB of them).
    const shape = bundleShapeProblem(files.meshCaBundle);
    if (shape !== undefined) return { ok: false, reason: shape };
    if (countCertificates(files.chain) > MAX_CHAIN_CERTS) return { ok: false, reason: `${PATHS.chainFile} holds more than the leaf and its mesh CA` };
    if (countCertificates(files.rootCa) > 1) return { ok: false, reason: `${PATHS.rootCaFile} holds more than one certificate` };
    key = createPrivateKey(files.key);
    chain = parseCertificates(files.chain);
    bundle = parseCertificates(files.meshCaBundle);
    roots = parseCertificates(files.rootCa);
  } catch (err) {
    return { ok: false, reason: `unreadable PEM: ${err instanceof Error ? err.message : String(err)}` };
  }
  const leaf = chain[0];
  const root = roots[0];
  if (!leaf) return { ok: false, reason: `${PATHS.chainFile} holds no certificate` };
  if (!root) return { ok: false, reason: `${PATHS.rootCaFile} holds no certificate` };
  if (pinnedRoot !== undefined && !root.raw.equals(pinnedRoot.raw)) {
    return { ok: false, reason: `${PATHS.rootCaFile} holds root CA ${describeCertificate(root)}, not the root this sidecar started with (${describeCertificate(pinnedRoot)})`, refusal: 'root-changed' };
  }
  // SECURITY: isEcKeyOn, not asymmetricKeyDetails, which aborts the process on a malformed EC point.
  if (!isEcKeyOn(key, 'prime256v1')) return { ok: false, reason: 'the key is not ECDSA P-256' };
  // A writer replaces key.pem and chain.pem with two renames; between them the pair mismatches. Such a state is not
  // a generation: it is ignored and the next read (debounce or poll) sees the completed pair.
  if (!leaf.checkPrivateKey(key)) return { ok: false, reason: 'the key does not match the leaf certificate (files mid-update?)' };
  const notBeforeMs = Date.parse(leaf.validFrom);
  const notAfterMs = Date.parse(leaf.validTo);
  if (!(nowMs >= notBeforeMs && nowMs < notAfterMs)) return { ok: false, reason: `the leaf is valid from ${leaf.validFrom} to ${leaf.validTo}, not now` };
  if (!bundle.some((ca) => leaf.checkIssued(ca) && leaf.verify(ca.publicKey))) return { ok: false, reason: 'the leaf is not issued by any CA of the mesh CA bundle' };
  const stray = caNotIssuedByRoot(bundle, root);
  // The root is the pinned one here (checked above), so every bundle CA chains to the pinned root.
  if (stray !== undefined) return { ok: false, reason: `mesh CA ${describeCertificate(stray)} is not a CA issued by the root`, refusal: 'foreign-ca' };
  const chainPem = chain.map((c) => c.toString()).join('');
  const caPem = bundle.map((c) => c.toString()).join('');
  // SECURITY: peers are trusted through the mesh CA bundle only (not the root): during a manifest transition the
  // bundle holds old + new mesh CA, and a mesh CA dropped from the bundle stops being trusted at the next swap.
  // allowPartialTrustChain lets OpenSSL end a chain at a bundle CA, which is not self-signed.
  const contextOptions: SecureContextOptions = Object.freeze({
    key: files.key, cert: chainPem, ca: caPem, allowPartialTrustChain: true, minVersion: 'TLSv1.2' as const,
  });
  const digest = digestFiles(files);
  let contexts: GenerationContexts;
  try {
    // A session-id context (at most 32 bytes) is required for resumption when the server requests client
    // certificates; it names the role and the generation, so even a shared session cache could not cross either.
    const sid = (role: string): string => `${role}-${digest}`.slice(0, 32);
    contexts = Object.freeze({
      mtlsServer: tlsCreateSecureContext({ ...contextOptions, sessionIdContext: sid('mtls') }),
      tlsServer: tlsCreateSecureContext({ ...contextOptions, sessionIdContext: sid('tls') }),
      client: tlsCreateSecureContext(contextOptions),
    });
  } catch (err) {
    return { ok: false, reason: `TLS context: ${err instanceof Error ? err.message : String(err)}` };
  }
  return {
    ok: true,
    generation: Object.freeze({ digest, files, key, leaf, bundle: Object.freeze(bundle), root, notBeforeMs, notAfterMs, contextOptions, contexts }),
  };
}

/**
 * The first certificate of `bundle` that is not a CA certificate issued and signed by `root`; undefined when every one
 * is. SECURITY: the root is the only trust anchor a pod holds from attestation; a bundle CA it did not sign is never
 * trusted (checked by name and by signature, so a CA of another root with the same names is caught too).
 */
export function caNotIssuedByRoot(bundle: readonly X509Certificate[], root: X509Certificate): X509Certificate | undefined {
  // The root itself (or any self-issued certificate) is no mesh CA: trusting it would admit every CA it ever signed,
  // including the ones manifest updates retired.
  return bundle.find((ca) => !ca.ca || ca.fingerprint256 === root.fingerprint256 || ca.checkIssued(ca) || !(ca.checkIssued(root) && ca.verify(root.publicKey)));
}

/**
 * A certificate for messages: its subject on one line, or its fingerprint when it has none. Node reports an empty
 * subject as undefined (its types say string), and the bundle being described may come from the host.
 */
export function describeCertificate(c: X509Certificate): string {
  const subject = (c.subject as string | undefined)?.replace(/\n/g, ', ');
  return subject ? subject : `without a subject (SHA-256 ${c.fingerprint256})`;
}

/** The inbound context of `role` in generation `g`. */
export function serverContext(g: CredentialGeneration, role: ServerRole): SecureContext {
  return role === 'mtls' ? g.contexts.mtlsServer : g.contexts.tlsServer;
}
