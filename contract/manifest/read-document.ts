/**
 * `readManifestDocument`: manifest JSON text → the document form ({@link ManifestDocument}), for a program that
 * edits a manifest (`ccmesh generate`) instead of using it. It checks what the type promises and no more: the text
 * as `parseManifest` reads it (size, strict UTF-8, nesting depth, no duplicate keys), no unknown keys, and every
 * field of the JSON type the document form declares — each problem with its JSON path, in one ConfigError. What the
 * values mean (hashes, SANs, keys, measurements, limits) is `parseManifest`'s to judge, after the edit: a document
 * may become valid only through it (an SNP alternative whose launch measurement the edit pins). The value comes
 * back as JSON.parse made it, keys in the file's order, so writing it back changes only what the edit changed.
 */
import { isJsonObject, JsonObjectReader } from '../../lib/config/json-reader.js';
import { ConfigError } from '../../lib/errors.js';
import { DOCUMENT_FIELD, readJsonText } from './json-text.js';
import { MANIFEST_LIMITS as LIMITS } from './limits.js';
import { MANIFEST_KEYS, MESH_CERT_KEYS, POLICY_KEYS, REFERENCE_KEYS, SIMULATED_KEYS } from './parse.js';
import type { ManifestDocument } from './types.js';

/** Whether a key must be present. */
type Presence = 'required' | 'optional';

const isString = (v: unknown): boolean => typeof v === 'string';
const isStringList = (v: unknown): boolean => Array.isArray(v) && v.every(isString);
const isPresent = (): boolean => true;

/** Reads manifest JSON text (bytes are strict UTF-8) into the document form; throws ConfigError('manifest', issues). */
export function readManifestDocument(source: Uint8Array | string): ManifestDocument {
  const text = readJsonText(source, LIMITS.documentBytes, LIMITS.depth);
  if (text.issues.length > 0) throw new ConfigError('manifest', text.issues);
  const json = text.value;
  if (!isJsonObject(json)) {
    throw new ConfigError('manifest', [{ field: DOCUMENT_FIELD, value: typeof json === 'string' ? json : JSON.stringify(json), expected: 'a JSON object (the manifest)' }]);
  }
  const r = new JsonObjectReader('', json, 'a manifest object');
  r.allowOnly(MANIFEST_KEYS);
  check(r, 'version', 'required', (v) => typeof v === 'number', 'the manifest version (a number)');
  check(r, 'trustDomain', 'optional', isString, 'a DNS name (a string)');
  checkPolicies(r);
  checkReferenceValues(r);
  check(r, 'workloadOwnerKeys', 'required', isStringList, 'a list of hex SPKI DER ECDSA keys (strings; may be empty)');
  check(r, 'seedshareOwnerKeys', 'required', isStringList, 'a list of hex SPKI DER RSA keys (strings)');
  const meshCert = objectAt(r, 'meshCert', 'optional', 'an object {leafLifetime}', MESH_CERT_KEYS);
  if (meshCert) check(meshCert, 'leafLifetime', 'required', isString, 'a duration such as "24h" (a string)');
  checkConfigDigests(r);
  if (r.issues.length > 0) throw new ConfigError('manifest', r.issues);
  return json as unknown as ManifestDocument;
}

/** Records an issue when `key` is absent though required, or present and not passing `test`. */
function check(r: JsonObjectReader, key: string, presence: Presence, test: (v: unknown) => boolean, expected: string): void {
  const v = r.raw(key);
  if (v === undefined ? presence === 'required' : !test(v)) r.issue(key, v, expected);
}

/**
 * The object at `key` as a reader sharing `r`'s issues, refusing keys outside `keys` when given. Undefined when it
 * is absent (an issue if required) or not an object (an issue).
 */
function objectAt(r: JsonObjectReader, key: string, presence: Presence, expected: string, keys?: readonly string[]): JsonObjectReader | undefined {
  const v = r.raw(key);
  if (v === undefined && presence === 'optional') return undefined;
  if (!isJsonObject(v)) {
    r.issue(key, v, expected);
    return undefined;
  }
  const o = new JsonObjectReader(r.field(key), v, expected, r.issues);
  if (keys) o.allowOnly(keys);
  return o;
}

/** The keys of the object at `key` of `r` (none when it is not an object). */
function keysAt(r: JsonObjectReader, key: string): string[] {
  const v = r.raw(key);
  return isJsonObject(v) ? Object.keys(v) : [];
}

function checkPolicies(r: JsonObjectReader): void {
  const policies = objectAt(r, 'policies', 'required', 'an object mapping policy hashes to {sans, workloadSecretId, role}');
  if (!policies) return;
  for (const hash of keysAt(r, 'policies')) {
    const e = objectAt(policies, hash, 'required', 'an object {sans, workloadSecretId, role}', POLICY_KEYS);
    if (!e) continue;
    check(e, 'sans', 'required', isStringList, 'a list of DNS names and IP addresses (strings)');
    check(e, 'workloadSecretId', 'required', isString, 'a SPIFFE path (a string)');
    check(e, 'role', 'required', isString, '"" or "coordinator"');
  }
}

function checkReferenceValues(r: JsonObjectReader): void {
  const rv = objectAt(r, 'referenceValues', 'required', 'an object {snp, tdx, simulated?} of acceptable reference values', REFERENCE_KEYS);
  if (!rv) return;
  // The alternatives are `unknown` in the document form: the SNP / TDX parsers judge them.
  check(rv, 'snp', 'required', Array.isArray, 'a list of SNP reference values (may be empty)');
  check(rv, 'tdx', 'required', Array.isArray, 'a list of TDX reference values (may be empty)');
  check(rv, 'simulated', 'optional', Array.isArray, 'a list of simulated roots {name, ark, snp}');
  const simulated = rv.raw('simulated');
  if (!Array.isArray(simulated)) return;
  simulated.forEach((root: unknown, i) => {
    const s = new JsonObjectReader(`${rv.field('simulated')}[${i}]`, root, 'an object {name, ark, snp}', r.issues);
    if (!isJsonObject(root)) return;
    s.allowOnly(SIMULATED_KEYS);
    check(s, 'name', 'required', isString, 'a name (a string)');
    check(s, 'ark', 'required', isString, 'the PEM of a simulated ARK (a string)');
    check(s, 'snp', 'required', isPresent, 'an object of SNP reference values');
  });
}

function checkConfigDigests(r: JsonObjectReader): void {
  const all = objectAt(r, 'configDigests', 'optional', 'an object mapping policy hashes to {mount path: {file: sha256}}');
  if (!all) return;
  for (const hash of keysAt(r, 'configDigests')) {
    const mounts = objectAt(all, hash, 'required', 'an object mapping absolute mount paths to {file: sha256}');
    if (!mounts) continue;
    for (const mount of keysAt(all, hash)) {
      const files = objectAt(mounts, mount, 'required', 'an object mapping relative file paths to SHA-256 hex');
      if (!files) continue;
      for (const file of keysAt(mounts, mount)) check(files, file, 'required', isString, 'SHA-256 hex (a string)');
    }
  }
}
