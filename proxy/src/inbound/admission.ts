/**
 * Admission of unauthenticated work: how many inbound connections may be in the TLS handshake at once, in total and
 * per source. A connection counts from accept until its handshake completes or it closes; only then can it hold an
 * app connection, so these limits bound what a client without a mesh identity can make the sidecar hold (memory,
 * sockets, CPU) while established, authenticated connections keep their own, larger `maxConnections` bound.
 *
 * Sources are keyed by IPv4 address, or by the /64 prefix for IPv6 (one host usually owns a whole /64, and a
 * per-address key would let it rotate through addresses). An IPv4-mapped IPv6 address (dual-stack listener) is keyed
 * as the IPv4 address it carries.
 */
import { isIP, type Socket } from 'node:net';
import { canonicalIpv6 } from './identity.js';

/** Why admission refused a connection (also its metric label). */
export type AdmissionRefusal = 'too-many-handshakes' | 'too-many-from-source';

/** The two bounds. */
export interface AdmissionLimits {
  /** Connections in the handshake at once, over every inbound listener of the process. */
  readonly maxHandshakes: number;
  /** Connections in the handshake at once from one source (IPv4 address or IPv6 /64). */
  readonly maxHandshakesPerSource: number;
}

/** The source key of a remote address; undefined when the socket has none (already closed). */
export function sourceKey(address: string | undefined): string | undefined {
  if (address === undefined) return undefined;
  const mapped = /^::ffff:(\d+\.\d+\.\d+\.\d+)$/i.exec(address);
  if (mapped) return mapped[1];
  if (isIP(address) !== 6) return address;
  return `${canonicalIpv6(address).split(':').slice(0, 4).join(':')}::/64`;
}

/** Pending-handshake accounting shared by the inbound listeners of one process. */
export class HandshakeAdmission {
  readonly #limits: AdmissionLimits;
  readonly #bySource = new Map<string, number>();
  /** Sockets admitted and not yet released, with their source key. */
  readonly #pending = new WeakMap<Socket, string>();
  #total = 0;

  constructor(limits: AdmissionLimits) {
    this.#limits = limits;
  }

  /** Connections in the handshake now. */
  get pending(): number {
    return this.#total;
  }

  /** Distinct sources with a connection in the handshake now. */
  get sources(): number {
    return this.#bySource.size;
  }

  /**
   * Admits `raw` into the handshake, or says why not. An admitted socket is released by {@link release} or, at the
   * latest, when it closes.
   */
  admit(raw: Socket): AdmissionRefusal | undefined {
    const key = sourceKey(raw.remoteAddress);
    // A socket without a remote address is already gone; refusing it costs nothing.
    if (key === undefined) return 'too-many-from-source';
    if (this.#total >= this.#limits.maxHandshakes) return 'too-many-handshakes';
    const n = this.#bySource.get(key) ?? 0;
    if (n >= this.#limits.maxHandshakesPerSource) return 'too-many-from-source';
    this.#bySource.set(key, n + 1);
    this.#total++;
    this.#pending.set(raw, key);
    raw.once('close', () => this.release(raw));
    return undefined;
  }

  /** Ends the handshake accounting of `raw`; idempotent. */
  release(raw: Socket): void {
    const key = this.#pending.get(raw);
    if (key === undefined) return;
    this.#pending.delete(raw);
    this.#total--;
    const n = (this.#bySource.get(key) ?? 1) - 1;
    if (n === 0) this.#bySource.delete(key);
    else this.#bySource.set(key, n);
  }
}
