/**
 * The replicated {@link Store}: the Coordinator's keys in an etcd cluster, so several Coordinator replicas share one
 * history. etcd is run by the host and so is as untrusted as the file store: nothing read here is believed without
 * the checks the Coordinator already makes (content hashes, the signed `latest` pointer, seed-derived CA keys).
 *
 * Mapping onto etcd (v3 API, through the `etcd3` client):
 *   key          `<prefix><store key>`, prefix `/ccmesh/coordinator/` by default; other keys under the prefix that
 *                are not valid store keys are ignored (list, watch), like strays in the file store's directory
 *   revision     the key's `mod_revision`: > 0 and strictly increasing per key (it is the cluster's revision at the
 *                write, so it also jumps when other keys change — callers compare revisions of one key only)
 *   CAS          one transaction: `if mod_revision(key) == expected then put else get` (0 = the key does not
 *                exist); the new revision is the transaction's header revision
 *   list         a keys-only range over `<prefix><prefix argument>`
 *   watch        one etcd watch over the whole prefix per store, opened at {@link EtcdStore.open} from the revision
 *                read there, fanned out to listeners by {@link WatchHub}. A listener sees every change committed
 *                after it subscribed, in revision order — later than the write returned, not inside it (unlike the
 *                in-process stores). The `etcd3` client re-attaches a dropped watch from the last revision it saw;
 *                if etcd has compacted that revision meanwhile the watch is cancelled, and this store opens a new one
 *                after delivering every key changed in the gap (its current value; a key deleted in the gap is
 *                missed, and nothing of ours deletes). A connection that goes silent (a frozen member, dropped packets)
 *                is closed by HTTP/2 keepalive ({@link ETCD_KEEPALIVE}), and the watch re-attaches through another.
 *
 * Writes are not retried here beyond what the client does for a request that failed to reach a server; a request
 * whose outcome is unknown (a timeout) fails with STORE_UNAVAILABLE, and a compare-and-swap retried after it was in
 * fact applied reports a conflict — callers already treat a conflict as "read again".
 */
import { Etcd3, GRPCDeadlineExceededError, isRecoverableError, type IOptions, type IKeyValue, type Watcher } from 'etcd3';
import { CcmeshError, ErrorCode, describeError } from '../../lib/errors.js';
import type { Logger } from '../../lib/log.js';
import { assertExpectedRevision, assertKey, assertPrefix, assertValueSize, isValidKey } from './key.js';
import type { CasResult, Store, StoreEntry, WatchListener } from './store.js';
import { WatchHub } from './watch-hub.js';

/** Where the Coordinator's keys live in etcd unless told otherwise. */
export const DEFAULT_ETCD_PREFIX = '/ccmesh/coordinator/';
/** Deadline of each etcd request (not of the watch stream). */
export const DEFAULT_ETCD_REQUEST_TIMEOUT_MS = 5_000;

/**
 * HTTP/2 keepalive on a connection to a member while a call is open on it — the watch stream is: a member that stops
 * answering without closing the connection (a frozen process, a partition that drops packets) would otherwise hold
 * the watch silently for as long as it stays so. A missed ping closes the connection; the client then re-opens the
 * watch on a member that answers, from the last revision it delivered. etcd refuses pings more often than its
 * --grpc-keepalive-min-time (5 s by default) and pings on a connection without calls, hence 10 s and only with calls.
 */
export const ETCD_KEEPALIVE = Object.freeze({
  'grpc.keepalive_time_ms': 10_000,
  'grpc.keepalive_timeout_ms': 5_000,
  'grpc.keepalive_permit_without_calls': 0,
});
const PREFIX_RE = /^\/(?:[A-Za-z0-9._-]+\/)*$/;
const REWATCH_BACKOFF_MS = [100, 500, 2_000, 5_000];

/** Client TLS material for `https` endpoints (PEM); without `ca` the system roots are used. */
export interface EtcdTls {
  readonly ca?: Uint8Array;
  readonly cert?: Uint8Array;
  readonly key?: Uint8Array;
}

/** How to reach the cluster. */
export interface EtcdStoreOptions {
  /** `http://host:port` or `https://host:port`, all with the same scheme. */
  readonly endpoints: readonly string[];
  readonly tls?: EtcdTls;
  /** Key prefix: starts and ends with `/` (default {@link DEFAULT_ETCD_PREFIX}). */
  readonly prefix?: string;
  readonly requestTimeoutMs?: number;
  readonly log?: Logger;
}

/** A {@link Store} in etcd; open with {@link EtcdStore.open}. */
export class EtcdStore implements Store {
  readonly #client: Etcd3;
  readonly #prefix: string;
  readonly #hub: WatchHub;
  readonly #log: Logger | undefined;
  readonly #inFlight = new Set<Promise<unknown>>();
  #watcher: Watcher | undefined;
  /** Highest revision the watch has delivered (or the revision it started after). */
  #watchedRevision: number;
  #rewatchAttempt = 0;
  #rewatchTimer: NodeJS.Timeout | undefined;
  #closed = false;

  private constructor(client: Etcd3, prefix: string, startRevision: number, log: Logger | undefined) {
    this.#client = client;
    this.#prefix = prefix;
    this.#watchedRevision = startRevision;
    this.#log = log;
    this.#hub = new WatchHub(log);
  }

  /**
   * Connects, reads the cluster's current revision (so an unreachable cluster fails here, with STORE_UNAVAILABLE) and
   * starts the prefix watch from just after it.
   */
  static async open(opts: EtcdStoreOptions): Promise<EtcdStore> {
    const prefix = opts.prefix ?? DEFAULT_ETCD_PREFIX;
    if (!PREFIX_RE.test(prefix)) throw new CcmeshError(ErrorCode.CONFIG_INVALID, `etcd key prefix ${JSON.stringify(prefix)} must start and end with "/"`);
    if (opts.endpoints.length === 0) throw new CcmeshError(ErrorCode.CONFIG_INVALID, 'etcd store needs at least one endpoint');
    const client = new Etcd3(clientOptions(opts));
    let revision: number;
    try {
      revision = headerRevision(await client.get(prefix).exec());
    } catch (err) {
      client.close();
      throw storeError(`reading from ${opts.endpoints.join(',')}`, err);
    }
    const store = new EtcdStore(client, prefix, revision, opts.log);
    const timeoutMs = opts.requestTimeoutMs ?? DEFAULT_ETCD_REQUEST_TIMEOUT_MS;
    let timer: NodeJS.Timeout | undefined;
    try {
      await Promise.race([
        store.#startWatch(),
        new Promise((_, reject) => {
          timer = setTimeout(() => reject(new GRPCDeadlineExceededError(`the watch was not created within ${timeoutMs} ms`)), timeoutMs);
        }),
      ]);
    } catch (err) {
      store.#closed = true;
      client.close();
      throw storeError(`watching ${prefix} on ${opts.endpoints.join(',')}`, err);
    } finally {
      clearTimeout(timer);
    }
    return store;
  }

  async get(key: string): Promise<StoreEntry | undefined> {
    this.#assertOpen();
    assertKey(key);
    return this.#track(async () => {
      let res;
      try {
        res = await this.#client.get(this.#prefix + key).exec();
      } catch (err) {
        throw storeError(`reading ${key}`, err);
      }
      const kv = res.kvs[0];
      return kv === undefined ? undefined : entryOf(kv);
    });
  }

  async compareAndSwap(key: string, expected: number, value: Uint8Array): Promise<CasResult> {
    this.#assertOpen();
    assertKey(key);
    assertExpectedRevision(key, expected);
    assertValueSize(key, value);
    const full = this.#prefix + key;
    const bytes = Buffer.from(value); // a copy: the caller may reuse its buffer while the request is out
    return this.#track(async () => {
      let res;
      try {
        // mod_revision of a key that does not exist compares as 0, so expected 0 means "create".
        res = await this.#client.if(full, 'Mod', '==', expected).then(this.#client.put(full).value(bytes)).else(this.#client.get(full)).commit();
      } catch (err) {
        throw storeError(`compare-and-swap of ${key}`, err);
      }
      if (res.succeeded) return { ok: true, revision: headerRevision(res) };
      const kv = res.responses[0]?.response_range?.kvs[0];
      return { ok: false, current: kv === undefined ? undefined : entryOf(kv) };
    });
  }

  async list(prefix: string): Promise<string[]> {
    this.#assertOpen();
    assertPrefix(prefix);
    return this.#track(async () => {
      let keys: string[];
      try {
        keys = await this.#client.getAll().prefix(this.#prefix + prefix).keys('latin1');
      } catch (err) {
        throw storeError(`listing ${prefix || '(all keys)'}`, err);
      }
      return keys.map((k) => k.slice(this.#prefix.length)).filter(isValidKey).sort();
    });
  }

  watch(prefix: string, listener: WatchListener): () => void {
    this.#assertOpen();
    assertPrefix(prefix);
    return this.#hub.add(prefix, listener);
  }

  async close(): Promise<void> {
    if (this.#closed) return;
    this.#closed = true;
    clearTimeout(this.#rewatchTimer);
    await Promise.allSettled([...this.#inFlight]);
    this.#hub.clear();
    const watcher = this.#watcher;
    this.#watcher = undefined;
    if (watcher) await Promise.race([watcher.cancel().catch(() => undefined), new Promise((resolve) => setTimeout(resolve, 1_000).unref())]);
    this.#client.close();
  }

  /** Opens the prefix watch from just after {@link #watchedRevision}; resolves once etcd has created it. */
  async #startWatch(): Promise<void> {
    const watcher = await this.#client.watch().prefix(this.#prefix).startRevision(String(this.#watchedRevision + 1)).create();
    if (this.#closed) {
      await watcher.cancel().catch(() => undefined);
      return;
    }
    this.#watcher = watcher;
    this.#rewatchAttempt = 0;
    watcher.on('put', (kv: IKeyValue) => this.#deliver(kv, false));
    watcher.on('delete', (kv: IKeyValue) => this.#deliver(kv, true));
    watcher.on('disconnected', (err: unknown) => this.#log?.warn('etcd watch disconnected; the client reconnects and resumes', { prefix: this.#prefix, error: describeError(err) }));
    watcher.on('connected', () => this.#log?.debug('etcd watch connected', { prefix: this.#prefix }));
    // Emitted when etcd cancels the watch (its start revision was compacted, or the server refused it).
    watcher.on('error', (err: unknown) => {
      if (this.#watcher !== watcher) return;
      this.#watcher = undefined;
      this.#log?.warn('etcd watch cancelled; re-opening it after catching up', { prefix: this.#prefix, after: this.#watchedRevision, error: describeError(err) });
      this.#scheduleRewatch(0);
    });
  }

  #deliver(kv: IKeyValue, deleted: boolean): void {
    const revision = Number(kv.mod_revision);
    if (Number.isSafeInteger(revision) && revision > this.#watchedRevision) this.#watchedRevision = revision;
    const key = kv.key.toString('latin1').slice(this.#prefix.length);
    if (this.#closed || !isValidKey(key)) return;
    this.#hub.notify(key, deleted ? undefined : entryOf(kv));
  }

  #scheduleRewatch(delayMs: number): void {
    if (this.#closed) return;
    this.#rewatchTimer = setTimeout(() => {
      this.#rewatch().catch((err: unknown) => {
        const next = REWATCH_BACKOFF_MS[Math.min(this.#rewatchAttempt++, REWATCH_BACKOFF_MS.length - 1)]!;
        this.#log?.warn('re-opening the etcd watch failed; retrying', { prefix: this.#prefix, retryMs: next, error: describeError(err) });
        this.#scheduleRewatch(next);
      });
    }, delayMs);
    this.#rewatchTimer.unref();
  }

  /**
   * After a cancelled watch: delivers each key changed after the last delivered revision (as of one consistent read),
   * oldest change first, then watches again from that read's revision on — so listeners miss no key's latest value
   * and still see changes in order.
   */
  async #rewatch(): Promise<void> {
    if (this.#closed) return;
    const now = headerRevision(await this.#client.get(this.#prefix).exec());
    const gap = await this.#client.getAll().prefix(this.#prefix).revision(now).minModRevision(this.#watchedRevision + 1).exec();
    const changed = [...gap.kvs].sort((a, b) => Number(a.mod_revision) - Number(b.mod_revision));
    for (const kv of changed) this.#deliver(kv, false);
    this.#watchedRevision = Math.max(this.#watchedRevision, now);
    await this.#startWatch();
  }

  /** Runs `op`, remembered until it settles so that close() can wait for it. */
  #track<T>(op: () => Promise<T>): Promise<T> {
    const p = op();
    this.#inFlight.add(p);
    const forget = (): void => {
      this.#inFlight.delete(p);
    };
    p.then(forget, forget);
    return p;
  }

  #assertOpen(): void {
    if (this.#closed) throw new CcmeshError(ErrorCode.STORE_CLOSED, `the etcd store ${this.#prefix} was used after close()`);
  }
}

function clientOptions(opts: EtcdStoreOptions): IOptions {
  const timeout = opts.requestTimeoutMs ?? DEFAULT_ETCD_REQUEST_TIMEOUT_MS;
  const tls = opts.tls;
  return {
    hosts: [...opts.endpoints],
    dialTimeout: timeout,
    grpcOptions: ETCD_KEEPALIVE,
    // Unary requests get a deadline, so a cluster that stops answering fails requests instead of holding them.
    defaultCallOptions: (ctx) => (ctx.isStream ? {} : { deadline: Date.now() + timeout }),
    ...(tls && (tls.ca || tls.cert || tls.key)
      ? {
        credentials: {
          // grpc-js takes null for "the system roots"; the etcd3 typing says Buffer.
          rootCertificate: (tls.ca ? Buffer.from(tls.ca) : null) as Buffer,
          ...(tls.key ? { privateKey: Buffer.from(tls.key) } : {}),
          ...(tls.cert ? { certChain: Buffer.from(tls.cert) } : {}),
        },
      }
      : {}),
  };
}

function entryOf(kv: IKeyValue): StoreEntry {
  const revision = Number(kv.mod_revision);
  if (!Number.isSafeInteger(revision) || revision < 1) {
    throw new CcmeshError(ErrorCode.STORE_CORRUPT, `etcd returned key ${kv.key.toString('latin1').slice(0, 200)} with revision ${JSON.stringify(kv.mod_revision)}`);
  }
  return { value: new Uint8Array(kv.value), revision };
}

function headerRevision(res: { header: { revision: string } }): number {
  const revision = Number(res.header.revision);
  if (!Number.isSafeInteger(revision) || revision < 0) throw new CcmeshError(ErrorCode.STORE_CORRUPT, `etcd answered with revision ${JSON.stringify(res.header.revision)}`);
  return revision;
}

/**
 * An etcd failure as a store error: STORE_UNAVAILABLE when the cluster could not be reached or did not answer in time
 * (the same request may succeed later), STORE_IO for anything else etcd refused.
 */
function storeError(what: string, err: unknown): CcmeshError {
  if (err instanceof CcmeshError) return err;
  const transient = err instanceof Error && (
    isRecoverableError(err) ||
    err instanceof GRPCDeadlineExceededError ||
    // cockatiel's open circuit (the client stops calling a host that failed repeatedly, for a few seconds)
    (err as { isBrokenCircuitError?: unknown }).isBrokenCircuitError === true
  );
  return new CcmeshError(transient ? ErrorCode.STORE_UNAVAILABLE : ErrorCode.STORE_IO, `etcd ${what} failed: ${describeError(err)}`, { cause: err });
}
