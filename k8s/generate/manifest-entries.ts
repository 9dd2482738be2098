/**
 * Merging generated policy entries into a manifest document (the contract's document form, whose shape the reader
 * checked; judging the result is the caller's job, with the Coordinator's own parser). A generated entry replaces
 * the existing entry or entries that carry the same workload-secret id — the id names the resource, the hash changes
 * whenever its policy does — and takes the first one's place, so the manifest's order is stable across runs. Every
 * other entry is kept as it is.
 */
import type { ManifestDocument } from '../../contract/manifest/types.js';
import { CcmeshError, ErrorCode } from '../../lib/errors.js';
import type { MountDigests } from './config-digests.js';

/** One manifest policy entry made by generate. */
export interface GeneratedEntry {
  /** How messages name the resource. */
  readonly where: string;
  /** Lowercase hex SHA-256 of `document`. */
  readonly policyHash: string;
  readonly document: Uint8Array;
  readonly sans: readonly string[];
  readonly workloadSecretId: string;
  readonly role: '' | 'coordinator';
  /** Pinned config files; empty = no configDigests entry. */
  readonly configDigests: MountDigests;
}

type Policies = ManifestDocument['policies'];

/**
 * The parts of a manifest document that {@link mergeEntries} edits. A policy's configDigests value moves with its
 * entry unexamined (the parser judges it), so any object is accepted there.
 */
export interface EntriesOf {
  readonly policies: Policies;
  readonly configDigests?: Readonly<Record<string, object>>;
}

/** Result of {@link mergeEntries}. */
export interface MergedManifest<D extends EntriesOf> {
  readonly manifest: D;
  /** Hashes of entries that were replaced and are no longer in the manifest (their documents must go too). */
  readonly removedHashes: readonly string[];
}

function refuse(message: string): CcmeshError {
  return new CcmeshError(ErrorCode.K8S_POLICY_INVALID, message);
}

/** Refuses two generated entries with one hash (one measured identity for two resources) or one workload id. */
function checkDistinct(entries: readonly GeneratedEntry[]): void {
  const byHash = new Map<string, GeneratedEntry>();
  const byId = new Map<string, GeneratedEntry>();
  for (const e of entries) {
    const sameHash = byHash.get(e.policyHash);
    if (sameHash) throw refuse(`${sameHash.where} and ${e.where} have the same policy (hash ${e.policyHash}); a TEE cannot tell their pods apart, so each needs its own policy`);
    const sameId = byId.get(e.workloadSecretId);
    if (sameId) throw refuse(`${sameId.where} and ${e.where} have the same workload-secret id ${e.workloadSecretId}; give one of them its own ccmesh.dev/workload-secret-id`);
    byHash.set(e.policyHash, e);
    byId.set(e.workloadSecretId, e);
  }
}

/** A map without a prototype, so a key such as "__proto__" stays a key (and reaches the parser, which refuses it). */
function dict<V>(): Record<string, V> {
  return Object.create(null) as Record<string, V>;
}

/** The document form of one entry. */
function entryDocument(e: GeneratedEntry): Policies[string] {
  return { sans: [...e.sans], workloadSecretId: e.workloadSecretId, role: e.role };
}

/** Returns `manifest` with `entries` merged in (the input is not modified). */
export function mergeEntries<D extends EntriesOf>(manifest: D, entries: readonly GeneratedEntry[]): MergedManifest<D> {
  checkDistinct(entries);
  const oldDigests = manifest.configDigests ?? {};
  const byId = new Map(entries.map((e) => [e.workloadSecretId, e]));
  const generatedHashes = new Set(entries.map((e) => e.policyHash));
  const placed = new Set<GeneratedEntry>();
  const removed: string[] = [];
  const policies = dict<Policies[string]>();
  const digests = dict<object>();
  const place = (e: GeneratedEntry): void => {
    placed.add(e);
    policies[e.policyHash] = entryDocument(e);
    if (Object.keys(e.configDigests).length > 0) digests[e.policyHash] = e.configDigests;
  };
  for (const [hash, entry] of Object.entries(manifest.policies)) {
    const replacement = byId.get(entry.workloadSecretId);
    if (replacement) {
      if (!generatedHashes.has(hash.toLowerCase())) removed.push(hash);
      if (!placed.has(replacement)) place(replacement);
      continue;
    }
    if (generatedHashes.has(hash.toLowerCase())) {
      const mine = entries.find((e) => e.policyHash === hash.toLowerCase());
      throw refuse(`${mine?.where ?? 'a resource'} has policy hash ${hash}, which manifest.json already lists for workload-secret id ${JSON.stringify(entry.workloadSecretId)}; generate does not overwrite entries it did not make`);
    }
    policies[hash] = entry;
    if (Object.hasOwn(oldDigests, hash)) digests[hash] = oldDigests[hash]!;
  }
  for (const e of entries) if (!placed.has(e)) place(e);
  // Digests of hashes that are not policies are the parser's to report; keep them so nothing is silently dropped.
  for (const [hash, d] of Object.entries(oldDigests)) {
    if (!Object.hasOwn(policies, hash) && !removed.includes(hash)) digests[hash] = d;
  }
  // An existing configDigests keeps its place (and stays, even empty); a new one goes last, only when needed.
  const keepDigests = manifest.configDigests !== undefined || Object.keys(digests).length > 0;
  return { manifest: { ...manifest, policies, ...(keepDigests ? { configDigests: digests } : {}) }, removedHashes: removed };
}
