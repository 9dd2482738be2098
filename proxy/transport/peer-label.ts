/**
 * The bounded `peer` label of the traffic metrics (docs/metrics.md, "Labels and cardinality"): the workload id of a
 * verified mesh leaf — the path of its `spiffe://<trust-domain>/<workload-id>` URI SAN, which the Coordinator writes
 * from the manifest's `workloadSecretId` — or {@link UNKNOWN_PEER}.
 *
 * Why this is bounded: only a leaf that passed the identity gate (inbound `checkClientIdentity`, outbound the chain
 * check and `checkServerIdentity`) is ever asked, and the mesh CAs issue leaves only for the manifest's policies, so
 * the ids come from the manifest (the current one and, while the bundle still holds its CA, the previous one), never
 * from free-form bytes on the wire. On top of that a process names at most {@link MAX_PEER_LABELS} distinct ids
 * (a very large manifest, or a long run over many manifest updates); later ones are `unknown`, logged once.
 */
import type { X509Certificate } from 'node:crypto';
import { parseSubjectAltNames } from './subject-alt-names.js';

/** The `peer` label when no mesh workload identity is known (no client certificate, a refusal, or over the cap). */
export const UNKNOWN_PEER = 'unknown';

/** Distinct workload ids one process puts in the `peer` label. */
export const MAX_PEER_LABELS = 64;

/** Longest workload id used as a label value; a longer one is `unknown`. */
export const MAX_PEER_LABEL_LENGTH = 253;

/** A SPIFFE workload path: `/`-separated segments of letters, digits, `.`, `-`, `_` (the Coordinator issues no other). */
const WORKLOAD_PATH = /^[A-Za-z0-9._-]+(?:\/[A-Za-z0-9._-]+)*$/;

/**
 * The workload id in Node's SAN text of a leaf: the path of its first `URI:spiffe://<trust-domain>/<path>` SAN when
 * that path is a SPIFFE path of at most {@link MAX_PEER_LABEL_LENGTH} characters (no `.`/`..` segment), else undefined.
 */
export function workloadIdOf(sanText: string | undefined): string | undefined {
  if (sanText === undefined) return undefined;
  for (const [kind, value] of parseSubjectAltNames(sanText)) {
    if (kind !== 'URI' || !value.startsWith('spiffe://')) continue;
    const rest = value.slice('spiffe://'.length);
    const slash = rest.indexOf('/');
    if (slash <= 0) return undefined;
    const path = rest.slice(slash + 1);
    if (path.length > MAX_PEER_LABEL_LENGTH || !WORKLOAD_PATH.test(path)) return undefined;
    if (path.split('/').some((s) => s === '.' || s === '..')) return undefined;
    return path;
  }
  return undefined;
}

/** Picks the `peer` label of verified leaves; one per process, shared by every listener. */
export class PeerLabels {
  readonly #named = new Set<string>();
  readonly #max: number;
  readonly #onFull: (max: number) => void;
  #full = false;

  /** `onFull` runs once, the first time an id is turned away because `max` ids are named already. */
  constructor(max: number = MAX_PEER_LABELS, onFull: (max: number) => void = () => undefined) {
    this.#max = max;
    this.#onFull = onFull;
  }

  /**
   * The label of a leaf the caller has verified (undefined = no certificate: `unknown`). SECURITY: never call it with
   * a leaf that did not pass the identity gate, or the label set would be the wire's to choose.
   */
  of(verifiedLeaf: X509Certificate | undefined): string {
    const id = workloadIdOf(verifiedLeaf?.subjectAltName);
    if (id === undefined) return UNKNOWN_PEER;
    if (this.#named.has(id)) return id;
    if (this.#named.size >= this.#max) {
      if (!this.#full) {
        this.#full = true;
        this.#onFull(this.#max);
      }
      return UNKNOWN_PEER;
    }
    this.#named.add(id);
    return id;
  }

  /** Workload ids named so far. */
  get size(): number {
    return this.#named.size;
  }
}
