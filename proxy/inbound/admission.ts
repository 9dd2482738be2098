/**
 * Admission of unauthenticated work. Two bounds:
 * - `maxHandshakes`: connections in the TLS handshake at once, over every inbound listener. A connection counts from
 *   accept until its handshake completes or it closes.
 * - `maxUnauthenticatedPerSource`: connections from one source address that have no verified mesh identity — in the
 *   handshake, or established on a server-auth-only (`tls`) port, which never asks for one. An mTLS connection
 *   leaves this count once the identity gate admitted it.
 * Together they bound what clients without a mesh identity can make the sidecar hold (memory, sockets, CPU), while
 * authenticated connections keep their own, larger `maxConnections` bound.
 *
 * Sources are keyed by address; an IPv4-mapped IPv6 address (dual-stack listener) is keyed as the IPv4 address it
 * carries. Not by IPv6 prefix: pods of one node commonly share a /64, so a prefix key would let one pod use up the
 * budget of all its neighbours. A client that can use many addresses (the host can) is bounded by `maxHandshakes`.
 */
import { isIP, type Socket } from 'node:net';
import { canonicalIpv6 } from './identity.js';

/** Why admission refused a connection (also its metric label). */
export type AdmissionRefusal = 'too-many-handshakes' | 'too-many-from-source';

/** The two bounds. */
export interface AdmissionLimits {
  /** Connections in the handshake at once, over every inbound listener of the process. */
  readonly maxHandshakes: number;
  /** Connections without a verified mesh identity (handshaking, or on a `tls` port) from one source address. */
  readonly maxUnauthenticatedPerSource: number;
}

/** The source key of a remote address; undefined when the socket has none (already closed). */
export function sourceKey(address: string | undefined): string | undefined {
  if (address === undefined) return undefined;
  const mapped = /^::ffff:(\d+\.\d+\.\d+\.\d+)$/i.exec(address);
  if (mapped) return mapped[1];
  return isIP(address) === 6 ? canonicalIpv6(address) : address;
}

/** What one admitted socket still holds. */
interface Held {
  readonly key: string;
  handshaking: boolean;
}

/** Unauthenticated-connection accounting shared by the inbound listeners of one process. */
export class HandshakeAdmission {
  readonly #limits: AdmissionLimits;
  /** Unauthenticated connections per source key. */
  readonly #bySource = new Map<string, number>();
  readonly #held = new WeakMap<Socket, Held>();
  #total = 0;

  constructor(limits: AdmissionLimits) {
    this.#limits = limits;
  }

  /** Connections in the handshake now. */
  get pending(): number {
    return this.#total;
  }

  /** Distinct sources holding an unauthenticated connection now. */
  get sources(): number {
    return this.#bySource.size;
  }

  /**
   * Admits `raw` into the handshake, or says why not. An admitted socket is released by {@link handshakeDone} /
   * {@link release} or, at the latest, when it closes.
   */
  admit(raw: Socket): AdmissionRefusal | undefined {
    const key = sourceKey(raw.remoteAddress);
    // A socket without a remote address is already gone; refusing it costs nothing.
    if (key === undefined) return 'too-many-from-source';
    if (this.#total >= this.#limits.maxHandshakes) return 'too-many-handshakes';
    const n = this.#bySource.get(key) ?? 0;
    if (n >= this.#limits.maxUnauthenticatedPerSource) return 'too-many-from-source';
    this.#bySource.set(key, n + 1);
    this.#total++;
    this.#held.set(raw, { key, handshaking: true });
    raw.once('close', () => this.release(raw));
    return undefined;
  }

  /**
   * The handshake of `raw` ended: its handshake slot is free. `authenticated` (the identity gate admitted a mesh
   * peer) frees its per-source slot too; a connection on a `tls` port keeps it until it closes.
   */
  handshakeDone(raw: Socket, authenticated: boolean): void {
    const h = this.#held.get(raw);
    if (h === undefined) return;
    if (h.handshaking) {
      h.handshaking = false;
      this.#total--;
    }
    if (authenticated) this.release(raw);
  }

  /** Ends all accounting of `raw`; idempotent. */
  release(raw: Socket): void {
    const h = this.#held.get(raw);
    if (h === undefined) return;
    this.#held.delete(raw);
    if (h.handshaking) this.#total--;
    const n = (this.#bySource.get(h.key) ?? 1) - 1;
    if (n === 0) this.#bySource.delete(h.key);
    else this.#bySource.set(h.key, n);
  }
}
