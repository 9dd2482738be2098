/**
 * Live connections of the whole sidecar, for drain: SIGTERM stops the listeners, waits until every tracked
 * connection ended or the grace period passed, then destroys what is left. A Set of sockets — add and delete are
 * the only per-connection work.
 */
import type { Socket } from 'node:net';

/** Every socket the data path owns (accepted and connected legs, also mid-handshake). */
export class ConnectionTracker {
  readonly #sockets = new Set<Socket>();
  #idle: (() => void) | undefined;

  /** Tracks `s` until it closes. */
  add(s: Socket): void {
    this.#sockets.add(s);
    s.once('close', () => {
      this.#sockets.delete(s);
      if (this.#sockets.size === 0) this.#idle?.();
    });
  }

  /** Sockets open now. */
  get size(): number {
    return this.#sockets.size;
  }

  /** Resolves once no socket is open, or after `graceMs` (then destroys the rest); true when all ended by themselves. */
  drain(graceMs: number): Promise<boolean> {
    if (this.#sockets.size === 0) return Promise.resolve(true);
    return new Promise((resolve) => {
      let clean = true;
      const timer = setTimeout(() => {
        // Grace is over: destroy the rest and resolve once their 'close' events have run.
        clean = false;
        this.destroyAll();
      }, graceMs);
      this.#idle = () => {
        clearTimeout(timer);
        this.#idle = undefined;
        resolve(clean);
      };
    });
  }

  /** Destroys every tracked socket. */
  destroyAll(): void {
    for (const s of this.#sockets) s.destroy();
  }
}
