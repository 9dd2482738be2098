/** Shared pieces of the proxy tests: a config builder, fake timers, a loopback app. Used by tests only. */
import { createHash } from 'node:crypto';
import { createServer, type Server, type Socket } from 'node:net';
import type { AddressInfo } from 'node:net';
import { createLogger } from '../../lib/log.js';
import { tokeniseFlags } from '../../lib/config/argv.js';
import { FieldReader } from '../../lib/config/fields.js';
import { PROXY_DEFAULTS, PROXY_FLAGS, type ProxyConfig, readProxyConfig } from '../config.js';
import type { TimerHandle, Timers } from '../timers.js';

/** A quiet logger (set CCMESH_TEST_LOG=1 to see lines). */
export const testLogger = createLogger({ component: 'proxy-test', level: process.env.CCMESH_TEST_LOG ? 'debug' : 'error', ...(process.env.CCMESH_TEST_LOG ? {} : { sink: () => undefined }) });

/** `ccmesh proxy` flags → ProxyConfig through the real tokeniser and reader (throws ConfigError as the CLI would). */
export function parseProxyFlags(argv: string[]): ProxyConfig {
  const tok = tokeniseFlags(argv, PROXY_FLAGS);
  const r = new FieldReader('proxy flags', tok.values, '--');
  const cfg = readProxyConfig(r, tok.lists);
  r.finish();
  return cfg;
}

/** A ProxyConfig for loopback tests: explicit listeners, admin on a free port, no ready file. */
export function testConfig(over: Partial<ProxyConfig> & Pick<ProxyConfig, 'tlsDir'>): ProxyConfig {
  return {
    inbound: [],
    egress: [],
    listenHost: '127.0.0.1',
    adminHost: '127.0.0.1',
    adminPort: 0,
    appProbes: [],
    coordinator: undefined,
    trustRefreshMs: 0,
    noIptables: true,
    transparent: undefined,
    transparentOutbound: undefined,
    workers: 1,
    idleTimeoutMs: PROXY_DEFAULTS.idleTimeoutMs,
    handshakeTimeoutMs: PROXY_DEFAULTS.handshakeTimeoutMs,
    maxConnections: PROXY_DEFAULTS.maxConnections,
    maxHandshakes: PROXY_DEFAULTS.maxHandshakes,
    maxUnauthenticatedPerSource: PROXY_DEFAULTS.maxUnauthenticatedPerSource,
    drainMs: 2000,
    tunnel: PROXY_DEFAULTS.tunnel,
    readyFile: undefined,
    logLevel: 'error',
    ...over,
  };
}

/** Timers that only fire when the test says so. */
export class FakeTimers implements Timers {
  readonly pending: { ms: number; fn: () => void; cancelled: boolean }[] = [];

  after(ms: number, fn: () => void): TimerHandle {
    const t = { ms, fn, cancelled: false };
    this.pending.push(t);
    return { cancel: () => { t.cancelled = true; } };
  }

  /** Live timers scheduled so far. */
  live(): { ms: number; fn: () => void }[] {
    return this.pending.filter((t) => !t.cancelled);
  }
}

/**
 * The loopback "app": per connection it hashes everything received and, at the client's half-close, answers with
 * the hex SHA-256 and the byte count, then ends — so a test checks integrity and half-close at once. In `echo`
 * mode it echoes instead. `connections` counts accepted connections (refused ones must never show up here).
 */
export class TestApp {
  readonly server: Server;
  connections = 0;
  readonly #sockets = new Set<Socket>();

  constructor(mode: 'hash' | 'echo' = 'hash') {
    this.server = createServer({ allowHalfOpen: true }, (s) => {
      this.connections++;
      this.#sockets.add(s);
      s.on('close', () => this.#sockets.delete(s));
      s.on('error', () => s.destroy());
      if (mode === 'echo') {
        s.pipe(s);
        return;
      }
      const h = createHash('sha256');
      let n = 0;
      s.on('data', (d: Buffer) => {
        h.update(d);
        n += d.length;
      });
      s.on('end', () => s.end(`${h.digest('hex')} ${n}\n`));
    });
  }

  async listen(): Promise<number> {
    await new Promise<void>((r) => this.server.listen(0, '127.0.0.1', r));
    return (this.server.address() as AddressInfo).port;
  }

  async close(): Promise<void> {
    for (const s of this.#sockets) s.destroy();
    await new Promise<void>((r) => this.server.close(() => r()));
  }
}

/** Reads a socket to its end. */
export function readAll(s: Socket): Promise<Buffer> {
  return new Promise((resolve, reject) => {
    const parts: Buffer[] = [];
    s.on('data', (d: Buffer) => parts.push(d));
    s.once('end', () => resolve(Buffer.concat(parts)));
    s.once('error', reject);
  });
}
