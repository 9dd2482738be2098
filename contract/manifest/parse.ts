/**
 * `parseManifest`: JSON text → a frozen {@link Manifest}, or a ConfigError listing every problem with its JSON path
 * (`policies.<hash>.sans[0]`, `referenceValues.snp[1].measurements[0]`), so an operator fixes everything in one go.
 * Unknown keys are refused everywhere: a typo must not silently drop a restriction.
 */
import { checkSanClaims } from './san-claims.js';
import type { DigestHex, PolicyHash } from '../../lib/brand.js';
import { parseDurationMs } from '../../lib/config/fields.js';
import { isSpiffePath } from '../spiffe-id.js';
import { isJsonObject, JsonObjectReader } from '../../lib/config/json-reader.js';
import { ConfigError, type ConfigIssue } from '../../lib/errors.js';
import { parseSnpReferenceValues, type SnpReferenceValues } from '../../attestation/snp/reference.js';
import { parseTdxReferenceValues, type TdxReferenceValues } from '../../attestation/tdx/reference.js';
import { mountPathProblem, relativePathProblem, hasControlChars } from './file-paths.js';
import { DOCUMENT_FIELD, readJsonText } from './json-text.js';
import { MANIFEST_LIMITS as LIMITS } from './limits.js';
import { parseOwnerKey, type OwnerKeyKind } from './public-keys.js';
import { normaliseDnsName, normaliseSan } from './san.js';
import { parseSimulatedArk } from './simulated-root.js';
import {
  DEFAULT_LEAF_LIFETIME_MS, DEFAULT_TRUST_DOMAIN, MANIFEST_VERSION,
  type ConfigDigestSet, type Manifest, type ManifestPublicKey, type ManifestReferenceValues, type PolicyEntry,
  type PolicyRole, type SimulatedRoot,
} from './types.js';

/** Top-level keys of a manifest document. */
export const MANIFEST_KEYS = [
  'version', 'trustDomain', 'policies', 'referenceValues', 'workloadOwnerKeys', 'seedshareOwnerKeys', 'meshCert', 'configDigests',
] as const;

/** Keys of a policy entry, of `referenceValues`, of a simulated root and of `meshCert`. */
export const POLICY_KEYS = ['sans', 'workloadSecretId', 'role'] as const;
export const REFERENCE_KEYS = ['snp', 'tdx', 'simulated'] as const;
export const SIMULATED_KEYS = ['name', 'ark', 'snp'] as const;
export const MESH_CERT_KEYS = ['leafLifetime'] as const;
const ROLES: readonly PolicyRole[] = ['', 'coordinator'];
const POLICY_HASH_RE = /^[0-9a-fA-F]{64}$/;
const SIMULATED_NAME_RE = /^[A-Za-z0-9][A-Za-z0-9._-]*$/;
const MIN_LEAF_MS = 3_600_000;
const MAX_LEAF_MS = 30 * 24 * 3_600_000;

/** Parses manifest JSON text (bytes are strict UTF-8); throws ConfigError('manifest', issues) listing every problem. */
export function parseManifest(source: Uint8Array | string): Manifest {
  const text = readJsonText(source, LIMITS.documentBytes, LIMITS.depth);
  if (text.issues.length > 0) throw new ConfigError('manifest', text.issues);
  const { manifest, issues } = readManifest(text.value);
  if (!manifest) throw new ConfigError('manifest', issues);
  return manifest;
}

/** Parses a manifest given as a JS value (e.g. from `buildManifestDocument`), through the same text checks and bounds. */
export function parseManifestValue(doc: unknown): Manifest {
  let text: string | undefined;
  try {
    text = JSON.stringify(doc);
  } catch {
    text = undefined; // cycles, BigInt: not JSON
  }
  if (text === undefined) throw new ConfigError('manifest', [{ field: DOCUMENT_FIELD, value: undefined, expected: 'a JSON-serialisable value' }]);
  return parseManifest(text);
}

function show(v: unknown): string | undefined {
  return v === undefined ? undefined : typeof v === 'string' ? v : JSON.stringify(v);
}

/** A null-prototype record, so keys like "__proto__" are plain data. */
function dict<V>(): Record<string, V> {
  return Object.create(null) as Record<string, V>;
}

/** The value of a required key, or an issue saying it is missing. */
function required(r: JsonObjectReader, key: string, expected: string): unknown {
  const v = r.raw(key);
  if (v === undefined) r.issue(key, undefined, expected);
  return v;
}

/** A list of at most `max` entries at `key` (undefined, with an issue, when it is something else). */
function list(r: JsonObjectReader, key: string, v: unknown, max: number, what: string): unknown[] | undefined {
  if (v === undefined) return undefined;
  if (!Array.isArray(v) || v.length > max) {
    r.issue(key, v, `a list of at most ${max} ${what}`);
    return undefined;
  }
  return v;
}

function readManifest(json: unknown): { manifest?: Manifest; issues: ConfigIssue[] } {
  const issues: ConfigIssue[] = [];
  if (!isJsonObject(json)) {
    issues.push({ field: DOCUMENT_FIELD, value: show(json), expected: 'a JSON object (the manifest)' });
    return { issues };
  }
  const r = new JsonObjectReader('', json, 'a manifest object', issues);
  r.allowOnly(MANIFEST_KEYS);
  const version = required(r, 'version', `the manifest version ${MANIFEST_VERSION}`);
  if (version !== undefined && version !== MANIFEST_VERSION) r.issue('version', version, `the manifest version ${MANIFEST_VERSION}`);
  const trustDomain = readTrustDomain(r);
  const policies = readPolicies(r);
  const referenceValues = readReferenceValues(r);
  const workloadOwnerKeys = readKeys(r, 'workloadOwnerKeys', 'ecdsa');
  const seedshareOwnerKeys = readKeys(r, 'seedshareOwnerKeys', 'rsa');
  const leafLifetimeMs = readLeafLifetime(r);
  const configDigests = readConfigDigests(r, policies);
  if (issues.length > 0 || !policies || !referenceValues || !workloadOwnerKeys || !seedshareOwnerKeys || !configDigests) return { issues };
  const manifest: Manifest = {
    version: MANIFEST_VERSION,
    trustDomain: trustDomain ?? DEFAULT_TRUST_DOMAIN,
    policies,
    referenceValues,
    workloadOwnerKeys,
    seedshareOwnerKeys,
    meshCert: { leafLifetimeMs: leafLifetimeMs ?? DEFAULT_LEAF_LIFETIME_MS },
    configDigests,
  };
  return { manifest: freezeData(manifest), issues };
}

function readTrustDomain(r: JsonObjectReader): string | undefined {
  const v = r.raw('trustDomain');
  if (v === undefined) return undefined;
  const name = typeof v === 'string' ? normaliseDnsName(v) : undefined;
  if (name === undefined) r.issue('trustDomain', v, 'a DNS name (e.g. ccmesh.local)');
  return name;
}

function readPolicies(r: JsonObjectReader): Record<PolicyHash, PolicyEntry> | undefined {
  const v = required(r, 'policies', 'an object mapping policy hashes to {sans, workloadSecretId, role}');
  if (v === undefined) return undefined;
  if (!isJsonObject(v) || Object.keys(v).length > LIMITS.policies) {
    r.issue('policies', isJsonObject(v) ? `${Object.keys(v).length} entries` : v, `an object of at most ${LIMITS.policies} policy entries`);
    return undefined;
  }
  const out = dict<PolicyEntry>();
  const before = r.issues.length;
  const p = new JsonObjectReader(r.field('policies'), v, 'an object', r.issues);
  for (const [rawHash, entry] of Object.entries(v)) {
    const policyHash = rawHash.toLowerCase() as PolicyHash;
    if (!POLICY_HASH_RE.test(rawHash)) {
      p.issue(rawHash, rawHash, 'a policy hash key: 64 hex digits (SHA-256 of the pod policy / initdata)');
    } else if (Object.hasOwn(out, policyHash)) {
      p.issue(rawHash, rawHash, 'each policy hash once (this one repeats in another letter case)');
    }
    const e = new JsonObjectReader(p.field(rawHash), entry, 'an object {sans, workloadSecretId, role}', r.issues);
    if (!isJsonObject(entry)) continue;
    e.allowOnly(POLICY_KEYS);
    const sans = readSans(e);
    const workloadSecretId = readWorkloadSecretId(e);
    const role = required(e, 'role', '"" or "coordinator"');
    if (role !== undefined && !(ROLES as readonly unknown[]).includes(role)) e.issue('role', role, '"" or "coordinator"');
    if (sans && workloadSecretId !== undefined && POLICY_HASH_RE.test(rawHash)) {
      out[policyHash] = { policyHash, sans, workloadSecretId, role: role as PolicyRole };
    }
  }
  // SECURITY: one name, one workload (san-claims.ts).
  if (r.issues.length === before) r.issues.push(...checkSanClaims(Object.values(out)));
  return r.issues.length === before ? out : undefined;
}

function readSans(e: JsonObjectReader): string[] | undefined {
  const expected = `a non-empty list of at most ${LIMITS.sansPerPolicy} DNS names, wildcard DNS names (*.a.b) or IP addresses`;
  const v = required(e, 'sans', expected);
  if (v === undefined) return undefined;
  if (!Array.isArray(v) || v.length === 0 || v.length > LIMITS.sansPerPolicy) {
    e.issue('sans', v, expected);
    return undefined;
  }
  const before = e.issues.length;
  const out: string[] = [];
  v.forEach((raw: unknown, i) => {
    const field = `${e.field('sans')}[${i}]`;
    const san = typeof raw === 'string' && raw.length <= LIMITS.sanChars ? normaliseSan(raw) : undefined;
    if (san === undefined) {
      e.issues.push({ field, value: show(raw), expected: 'a DNS name, a wildcard DNS name (*.a.b) or an IP address' });
    } else if (out.includes(san)) {
      e.issues.push({ field, value: show(raw), expected: `each SAN once (${san} repeats)` });
    } else {
      out.push(san);
    }
  });
  return e.issues.length === before ? out : undefined;
}

function readWorkloadSecretId(e: JsonObjectReader): string | undefined {
  // It is also the path of the workload's SPIFFE ID, so it must be a SPIFFE path.
  const expected = `a SPIFFE path of at most ${LIMITS.workloadSecretIdChars} characters ('/'-separated segments of letters, digits, '.', '-', '_')`;
  const v = required(e, 'workloadSecretId', expected);
  if (v === undefined) return undefined;
  if (typeof v !== 'string' || v.length === 0 || v.length > LIMITS.workloadSecretIdChars || hasControlChars(v) || !isSpiffePath(v)) {
    e.issue('workloadSecretId', v, expected);
    return undefined;
  }
  return v;
}

/** Flags fixed report data: the Coordinator binds report data per request, so such an alternative never matches. */
function refuseReportData(values: { reportData?: string } | undefined, path: string, issues: ConfigIssue[]): void {
  if (values?.reportData !== undefined) {
    issues.push({ field: `${path}.reportData`, value: values.reportData, expected: 'no reportData (the Coordinator binds report data to each request)' });
  }
}

/**
 * SECURITY: HOST_DATA / MRCONFIGID are chosen by the host at launch; they name a policy only when the measured
 * image enforces that policy. An alternative without a launch measurement (SNP `measurements`, TDX `mrTd`)
 * accepts any genuine guest — the host could boot its own image with a victim's policy hash — so it is refused
 * unless it says `"allowUnmeasured": true` (and then every command warns, see trust-warnings.ts). Simulated roots
 * follow the same rule.
 */
function requireMeasurement(values: SnpReferenceValues | TdxReferenceValues | undefined, path: string, kind: 'snp' | 'tdx', issues: ConfigIssue[]): void {
  if (!values) return;
  const key = kind === 'snp' ? 'measurements' : 'mrTd';
  const pinned = kind === 'snp' ? (values as SnpReferenceValues).measurements : (values as TdxReferenceValues).mrTd;
  const what = kind === 'snp' ? 'SEV-SNP MEASUREMENT' : 'TDX MRTD';
  if (pinned === undefined && values.allowUnmeasured !== true) {
    issues.push({
      field: `${path}.${key}`,
      value: undefined,
      expected: `the launch measurement(s) this alternative accepts ("${key}": ["<48-byte hex ${what}>"]); without one any genuine guest passes, ` +
        'whatever image the host booted with the pod\'s policy hash. Pin it, or write "allowUnmeasured": true to accept that knowingly',
    });
  } else if (pinned !== undefined && values.allowUnmeasured === true) {
    issues.push({ field: `${path}.allowUnmeasured`, value: 'true', expected: `no allowUnmeasured on an alternative that pins ${key} (drop one of them)` });
  }
}

function readReferenceValues(r: JsonObjectReader): ManifestReferenceValues | undefined {
  const what = 'an object {snp, tdx, simulated?} of acceptable reference values';
  if (required(r, 'referenceValues', what) === undefined) return undefined;
  const rv = r.object('referenceValues', what);
  if (!rv || !isJsonObject(r.raw('referenceValues'))) return undefined;
  const before = r.issues.length;
  rv.allowOnly(REFERENCE_KEYS);
  const max = LIMITS.referenceAlternatives;
  const snpList = list(rv, 'snp', required(rv, 'snp', 'a list of SNP reference values (may be empty)'), max, 'SNP reference values');
  const tdxList = list(rv, 'tdx', required(rv, 'tdx', 'a list of TDX reference values (may be empty)'), max, 'TDX reference values');
  const simList = list(rv, 'simulated', rv.raw('simulated'), max, 'simulated roots {name, ark, snp}');
  const snp: SnpReferenceValues[] = [];
  snpList?.forEach((v, i) => {
    const path = `${rv.field('snp')}[${i}]`;
    const res = parseSnpReferenceValues(v, path);
    r.issues.push(...res.issues);
    refuseReportData(res.values, path, r.issues);
    requireMeasurement(res.values, path, 'snp', r.issues);
    if (res.values) snp.push(res.values);
  });
  const tdx: TdxReferenceValues[] = [];
  tdxList?.forEach((v, i) => {
    const path = `${rv.field('tdx')}[${i}]`;
    const res = parseTdxReferenceValues(v, path);
    r.issues.push(...res.issues);
    refuseReportData(res.values, path, r.issues);
    requireMeasurement(res.values, path, 'tdx', r.issues);
    if (res.values) tdx.push(res.values);
  });
  const simulated: SimulatedRoot[] = [];
  simList?.forEach((v, i) => {
    const s = new JsonObjectReader(`${rv.field('simulated')}[${i}]`, v, 'an object {name, ark, snp}', r.issues);
    const root = isJsonObject(v) ? readSimulatedRoot(s, simulated) : undefined;
    if (root) simulated.push(root);
  });
  if (snpList && tdxList && snpList.length + tdxList.length + (simList?.length ?? 0) === 0) {
    r.issue('referenceValues', undefined, 'at least one entry in snp, tdx or simulated (a manifest that trusts no TEE admits no pod)');
  }
  return r.issues.length === before ? { snp, tdx, simulated } : undefined;
}

function readSimulatedRoot(s: JsonObjectReader, seen: readonly SimulatedRoot[]): SimulatedRoot | undefined {
  const before = s.issues.length;
  s.allowOnly(SIMULATED_KEYS);
  const nameExpected = `a name of 1-${LIMITS.simulatedNameChars} letters, digits, ".", "_" or "-"`;
  const name = required(s, 'name', nameExpected);
  if (name !== undefined) {
    if (typeof name !== 'string' || name.length > LIMITS.simulatedNameChars || !SIMULATED_NAME_RE.test(name)) s.issue('name', name, nameExpected);
    else if (seen.some((x) => x.name === name)) s.issue('name', name, 'a name not used by another simulated root');
  }
  const arkRaw = required(s, 'ark', 'the PEM of a simulated ARK');
  const ark = arkRaw === undefined ? undefined : parseSimulatedArk(arkRaw);
  if (ark?.expected) s.issue('ark', arkRaw, ark.expected);
  const snpRaw = required(s, 'snp', 'an object of SNP reference values');
  const snp = snpRaw === undefined ? undefined : parseSnpReferenceValues(snpRaw, s.field('snp'));
  if (snp) {
    s.issues.push(...snp.issues);
    refuseReportData(snp.values, s.field('snp'), s.issues);
    requireMeasurement(snp.values, s.field('snp'), 'snp', s.issues);
  }
  if (s.issues.length !== before || !ark?.ark || !snp?.values) return undefined;
  return { name: name as string, ark: ark.ark, arkPem: ark.ark.toString(), snp: snp.values };
}

function readKeys(r: JsonObjectReader, key: 'workloadOwnerKeys' | 'seedshareOwnerKeys', kind: OwnerKeyKind): ManifestPublicKey[] | undefined {
  const what = kind === 'ecdsa' ? 'hex SPKI DER ECDSA keys (may be empty: manifest immutable)' : 'hex SPKI DER RSA keys';
  const entries = list(r, key, required(r, key, `a list of ${what}`), LIMITS.ownerKeys, what);
  if (!entries) return undefined;
  const before = r.issues.length;
  const out: ManifestPublicKey[] = [];
  entries.forEach((raw, i) => {
    const field = `${r.field(key)}[${i}]`;
    const res = parseOwnerKey(raw, kind, LIMITS);
    if (!res.key) r.issues.push({ field, value: show(raw), expected: res.expected ?? 'a public key' });
    else if (out.some((k) => k.spkiHex === res.key?.spkiHex)) r.issues.push({ field, value: show(raw), expected: 'each key once (this key repeats)' });
    else out.push(res.key);
  });
  return r.issues.length === before ? out : undefined;
}

function readLeafLifetime(r: JsonObjectReader): number | undefined {
  const m = r.object('meshCert', 'an object {leafLifetime}');
  if (!m || !isJsonObject(r.raw('meshCert'))) return undefined;
  m.allowOnly(MESH_CERT_KEYS);
  const expected = 'a duration from 1h to 720h (30 days), e.g. "24h" or "90m"';
  const v = required(m, 'leafLifetime', expected);
  if (v === undefined) return undefined;
  const ms = typeof v === 'string' ? parseDurationMs(v) : undefined;
  if (ms === undefined || ms < MIN_LEAF_MS || ms > MAX_LEAF_MS) {
    m.issue('leafLifetime', v, expected);
    return undefined;
  }
  return ms;
}

function readConfigDigests(r: JsonObjectReader, policies: Record<PolicyHash, PolicyEntry> | undefined): Record<PolicyHash, ConfigDigestSet> | undefined {
  const v = r.raw('configDigests');
  const out = dict<ConfigDigestSet>();
  if (v === undefined) return out;
  if (!isJsonObject(v) || Object.keys(v).length > LIMITS.policies) {
    r.issue('configDigests', v, `an object mapping at most ${LIMITS.policies} policy hashes to {mount path: {file: sha256}}`);
    return undefined;
  }
  const before = r.issues.length;
  let files = 0;
  const c = new JsonObjectReader(r.field('configDigests'), v, 'an object', r.issues);
  for (const [rawHash, mounts] of Object.entries(v)) {
    const policyHash = rawHash.toLowerCase() as PolicyHash;
    if (!POLICY_HASH_RE.test(rawHash)) c.issue(rawHash, rawHash, 'a policy hash key: 64 hex digits');
    else if (Object.hasOwn(out, policyHash)) c.issue(rawHash, rawHash, 'each policy hash once (this one repeats in another letter case)');
    // Only judged when policies parsed; otherwise every key would be reported a second time.
    else if (policies && !Object.hasOwn(policies, policyHash)) c.issue(rawHash, rawHash, 'a policy hash that is a key of policies');
    const mountField = c.field(rawHash);
    if (!isJsonObject(mounts) || Object.keys(mounts).length > LIMITS.mountsPerPolicy) {
      c.issue(rawHash, mounts, `an object of at most ${LIMITS.mountsPerPolicy} absolute mount paths`);
      continue;
    }
    const set = dict<Readonly<Record<string, DigestHex>>>();
    const m = new JsonObjectReader(mountField, mounts, 'an object', r.issues);
    for (const [mount, fileMap] of Object.entries(mounts)) {
      const problem = mountPathProblem(mount, LIMITS.pathChars);
      if (problem) m.issue(mount, mount, problem);
      if (!isJsonObject(fileMap) || Object.keys(fileMap).length > LIMITS.filesPerMount) {
        m.issue(mount, fileMap, `an object of at most ${LIMITS.filesPerMount} relative file paths mapped to SHA-256 hex`);
        continue;
      }
      files += Object.keys(fileMap).length;
      const digests = dict<DigestHex>();
      const f = new JsonObjectReader(m.field(mount), fileMap, 'an object', r.issues);
      for (const file of Object.keys(fileMap)) {
        const fileProblem = relativePathProblem(file, LIMITS.pathChars);
        if (fileProblem) f.issue(file, file, fileProblem);
        const hex = f.hex(file, 32);
        if (hex !== undefined && !fileProblem) digests[file] = hex as DigestHex;
      }
      set[mount] = digests;
    }
    out[policyHash] = set;
  }
  if (files > LIMITS.configDigestFiles) r.issue('configDigests', `${files} files`, `at most ${LIMITS.configDigestFiles} pinned files in total`);
  return r.issues.length === before ? out : undefined;
}

/** Freezes plain objects and arrays reachable from `o`; leaves class instances (KeyObject, X509Certificate) alone. */
function freezeData<T extends object>(o: T): T {
  for (const v of Object.values(o)) {
    if (typeof v !== 'object' || v === null) continue;
    const proto = Object.getPrototypeOf(v) as unknown;
    if (Array.isArray(v) || proto === Object.prototype || proto === null) freezeData(v as object);
  }
  return Object.freeze(o);
}
