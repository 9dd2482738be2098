/**
 * The mesh owner: who a pod trusts to define its mesh. A Coordinator is genuine hardware running the genuine image,
 * but the host can wipe its store, restart it and set a manifest of its own; a pod that only checks "genuine
 * Coordinator" would then take its identity and secret from the host's mesh. So every pod pins the owner of the
 * mesh it belongs to, and the Coordinator binds the owner it serves into its evidence.
 *
 * The owner is the key set of the **first** manifest of the history (its workload-owner and seed-share keys). The
 * first SetManifest must be signed by one of those keys, and every later one by a workload owner of the current
 * manifest, so only the holder of a pinned key can start a history with that owner, and the pin stays the same
 * while the owner later rotates keys. The pin is known before the first set: `ccmesh manifest init` makes the keys.
 */
import { createHash } from 'node:crypto';

/** Length of a mesh-owner pin (SHA-256). */
export const MESH_OWNER_LENGTH = 32;

/** What a Coordinator without a verified history (fresh, or in recovery) binds instead of an owner. */
export const NO_MESH_OWNER: Uint8Array = new Uint8Array(MESH_OWNER_LENGTH);

const LABEL = 'ccmesh/mesh-owner/v1';

/**
 * The pin of an owner key set: SHA-256 over a domain label and both key lists, each sorted (order in the manifest
 * does not matter) and length-prefixed, with the list sizes first (a key can't move from one list to the other).
 */
export function meshOwnerPin(workloadOwnerSpkis: readonly Uint8Array[], seedshareOwnerSpkis: readonly Uint8Array[]): Uint8Array {
  const h = createHash('sha256').update(LABEL).update(Uint8Array.of(0));
  const u32 = (n: number): Buffer => {
    const b = Buffer.alloc(4);
    b.writeUInt32BE(n);
    return b;
  };
  const sorted = (keys: readonly Uint8Array[]): Buffer[] => keys.map((k) => Buffer.from(k)).sort(Buffer.compare);
  h.update(u32(workloadOwnerSpkis.length)).update(u32(seedshareOwnerSpkis.length));
  for (const k of [...sorted(workloadOwnerSpkis), ...sorted(seedshareOwnerSpkis)]) h.update(u32(k.length)).update(k);
  return new Uint8Array(h.digest());
}

/** Parses a pin given as 64 hex digits; undefined when malformed or all zero (which names no owner). */
export function parseMeshOwnerPin(text: string): Uint8Array | undefined {
  if (!/^[0-9a-f]{64}$/i.test(text) || /^0+$/.test(text)) return undefined;
  return new Uint8Array(Buffer.from(text, 'hex'));
}

/** Lowercase hex of a pin ('' for {@link NO_MESH_OWNER}, which names no owner). */
export function formatMeshOwnerPin(pin: Uint8Array): string {
  return pin.every((b) => b === 0) ? '' : Buffer.from(pin).toString('hex');
}
