/**
 * Which owner a Coordinator serves (`lib/protocol/mesh-owner.ts`): the key set of the first manifest of its history.
 * Computed when the first manifest is set, and on recovery from the history's first manifest, which the signed
 * `latest` pointer and the transition hash chain authenticate.
 */
import { meshOwnerPin } from '../lib/protocol/mesh-owner.js';
import { MANIFEST_LIMITS } from './manifest/limits.js';
import { parseOwnerKey } from './manifest/public-keys.js';
import type { ManifestPublicKey } from './manifest/types.js';

const spki = (k: ManifestPublicKey): Uint8Array => new Uint8Array(Buffer.from(k.spkiHex, 'hex'));

/** The owner pin of a parsed manifest's key set. */
export function meshOwnerOf(manifest: { readonly workloadOwnerKeys: readonly ManifestPublicKey[]; readonly seedshareOwnerKeys: readonly ManifestPublicKey[] }): Uint8Array {
  return meshOwnerPin(manifest.workloadOwnerKeys.map(spki), manifest.seedshareOwnerKeys.map(spki));
}

/**
 * The owner pin of a stored (canonical, once validated) manifest, reading only its two key lists — so a history
 * started under an older, more lenient manifest schema still yields its owner.
 */
export function meshOwnerOfStored(bytes: Uint8Array): Uint8Array {
  const doc = JSON.parse(Buffer.from(bytes).toString('utf8')) as { workloadOwnerKeys?: unknown; seedshareOwnerKeys?: unknown };
  const keys = (v: unknown, what: string): Uint8Array[] => {
    if (!Array.isArray(v) || !v.every((k) => typeof k === 'string' && /^([0-9a-f]{2})+$/i.test(k))) throw new Error(`the stored first manifest has no valid ${what} list`);
    return v.map((k: string) => new Uint8Array(Buffer.from(k, 'hex')));
  };
  return meshOwnerPin(keys(doc.workloadOwnerKeys, 'workloadOwnerKeys'), keys(doc.seedshareOwnerKeys, 'seedshareOwnerKeys'));
}

/**
 * The seed-share owner keys of a stored first manifest: the only keys that may recover the history (they define the
 * owner pods pin, and only they received seed shares). SECURITY: a host that writes the store can put the victim's
 * first manifest under a history of its own and sign `latest` with a seed of its own; authorising Recover by the
 * *latest* manifest's keys would let it "recover" that forgery with its own key and serve the victim's owner pin.
 */
export function seedshareOwnersOfStored(bytes: Uint8Array): ManifestPublicKey[] {
  const doc = JSON.parse(Buffer.from(bytes).toString('utf8')) as { seedshareOwnerKeys?: unknown };
  if (!Array.isArray(doc.seedshareOwnerKeys)) throw new Error('the stored first manifest has no seedshareOwnerKeys list');
  return doc.seedshareOwnerKeys.map((hex) => {
    const res = parseOwnerKey(hex, 'rsa', MANIFEST_LIMITS);
    if (!res.key) throw new Error(`the stored first manifest has an unreadable seed-share key (${res.expected ?? 'invalid'})`);
    return res.key;
  });
}
