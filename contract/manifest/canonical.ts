/**
 * The canonical form of a manifest: parsed, normalised (lowercase hex and names, re-encoded keys and PEM, durations
 * in one spelling), every default written out, object keys sorted recursively, no whitespace. Two documents that
 * mean the same have the same canonical bytes and so the same {@link manifestHash}; any change in meaning changes it.
 * List order is kept: it is not always meaningless (SAN order shows in certificates), so it counts as a change.
 */
import { createHash } from 'node:crypto';
import type { DigestHex } from '../../lib/brand.js';
import type { SnpReferenceValues } from '../../attestation/snp/reference.js';
import type { TdxReferenceValues } from '../../attestation/tdx/reference.js';
import { parseManifest, parseManifestValue } from './parse.js';
import type { Manifest, ManifestDocument } from './types.js';

/** Spells a duration in ms the way parseDurationMs reads it, largest units first: 5_400_000 → "1h30m". */
export function formatDurationMs(ms: number): string {
  const parts: [number, string][] = [[3_600_000, 'h'], [60_000, 'm'], [1000, 's'], [1, 'ms']];
  let rest = ms;
  let out = '';
  for (const [size, unit] of parts) {
    const n = Math.floor(rest / size);
    if (n > 0) out += `${n}${unit}`;
    rest -= n * size;
  }
  return out === '' ? '0ms' : out;
}

/** The normalised document of a parsed manifest, with every default explicit. */
export function manifestDocument(m: Manifest): ManifestDocument {
  const policies: ManifestDocument['policies'] = {};
  for (const p of Object.values(m.policies)) policies[p.policyHash] = { sans: [...p.sans], workloadSecretId: p.workloadSecretId, role: p.role };
  const configDigests: NonNullable<ManifestDocument['configDigests']> = {};
  for (const [hash, mounts] of Object.entries(m.configDigests)) {
    const out: Record<string, Record<string, string>> = {};
    for (const [mount, files] of Object.entries(mounts)) out[mount] = { ...(files as Record<string, DigestHex>) };
    configDigests[hash] = out;
  }
  return {
    version: m.version,
    trustDomain: m.trustDomain,
    policies,
    referenceValues: {
      snp: m.referenceValues.snp.map(plain<SnpReferenceValues>),
      tdx: m.referenceValues.tdx.map(plain<TdxReferenceValues>),
      simulated: m.referenceValues.simulated.map((s) => ({ name: s.name, ark: s.arkPem, snp: plain(s.snp) })),
    },
    workloadOwnerKeys: m.workloadOwnerKeys.map((k) => k.spkiHex),
    seedshareOwnerKeys: m.seedshareOwnerKeys.map((k) => k.spkiHex),
    meshCert: { leafLifetime: formatDurationMs(m.meshCert.leafLifetimeMs) },
    configDigests,
  };
}

function plain<T>(v: T): unknown {
  return JSON.parse(JSON.stringify(v)) as unknown;
}

/** JSON with object keys sorted (by UTF-16 code units) at every level and no whitespace. */
export function sortedJson(v: unknown): string {
  if (Array.isArray(v)) return `[${v.map(sortedJson).join(',')}]`;
  if (typeof v === 'object' && v !== null) {
    const keys = Object.keys(v).sort();
    return `{${keys.map((k) => `${JSON.stringify(k)}:${sortedJson((v as Record<string, unknown>)[k])}`).join(',')}}`;
  }
  return JSON.stringify(v);
}

/** Canonical bytes of a parsed manifest. */
export function canonicalBytesOf(m: Manifest): Uint8Array {
  return new Uint8Array(Buffer.from(sortedJson(manifestDocument(m)), 'utf8'));
}

/** Canonical bytes of a manifest given as JSON text/bytes or as a JS document; throws ConfigError when invalid. */
export function canonicalManifestBytes(doc: Uint8Array | string | ManifestDocument): Uint8Array {
  return canonicalBytesOf(typeof doc === 'string' || doc instanceof Uint8Array ? parseManifest(doc) : parseManifestValue(doc));
}

/** SHA-256 (lowercase hex) of the canonical bytes of a parsed manifest. */
export function manifestHashOf(m: Manifest): DigestHex {
  return createHash('sha256').update(canonicalBytesOf(m)).digest('hex') as DigestHex;
}

/** SHA-256 (lowercase hex) of the canonical form of manifest JSON text/bytes; throws ConfigError when invalid. */
export function manifestHash(bytes: Uint8Array | string): DigestHex {
  return manifestHashOf(parseManifest(bytes));
}
