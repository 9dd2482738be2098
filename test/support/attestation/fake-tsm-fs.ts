/**
 * Test double: an in-memory configfs-tsm report directory that follows the kernel's rules
 * (drivers/virt/coco/tsm.c and fs/configfs/file.c), so the issuer's logic is tested against the behaviour it
 * relies on rather than against its own expectations:
 *
 * - `mkdir <root>/<name>` creates a request with generation 0 and the configured provider; only directly under
 *   the root (EPERM deeper, ENOENT without a root, EEXIST twice).
 * - every write to `inblob` or `privlevel` increments `generation`; `inblob` takes at most 64 bytes — configfs
 *   answers a longer binary write with EFBIG (its cb_max_size check), `privlevel` outside floor..3 with EINVAL.
 * - reading `outblob` or `auxblob` generates evidence from the current inputs through a pluggable generator, once
 *   per generation (later reads are served from the cache, as the kernel does); no `inblob` yet → EINVAL; an
 *   `outblob` over 32 KiB → EFBIG.
 * - write-only attributes can't be read and read-only ones can't be written (EACCES); `rmdir` drops the request.
 *
 * A hook runs before every attribute read, so a test can play a concurrent writer.
 */
import { posix } from 'node:path';
import type { TsmFs } from '../../../attestation/issuers/tsm-fs.js';

/** What the platform returns for one set of inputs. */
export interface TsmGenerated {
  readonly outblob: Uint8Array;
  readonly auxblob?: Uint8Array;
}

/** Produces evidence for an `inblob` (and `privlevel`, when one was written). */
export type TsmGenerator = (inblob: Uint8Array, privlevel: number | undefined) => TsmGenerated;

/** Called before each attribute read; may write through `fs` to simulate another process. */
export type TsmReadHook = (ctx: { readonly entry: string; readonly attribute: string; readonly fs: FakeTsmFs }) => void | Promise<void>;

/** Options of {@link FakeTsmFs}. */
export interface FakeTsmFsOptions {
  readonly root?: string;
  /** Provider name every entry reports; default `sev_guest`. */
  readonly provider?: string;
  readonly generate: TsmGenerator;
  /** Lowest accepted privlevel; default 0. */
  readonly privlevelFloor?: number;
  /** When false the root directory does not exist (a kernel without configfs-tsm). */
  readonly rootExists?: boolean;
  /** Errno every mkdir fails with (e.g. ENXIO: no provider registered). */
  readonly mkdirErrno?: string;
}

interface FakeEntry {
  generation: number;
  inblob: Uint8Array | undefined;
  privlevel: number | undefined;
  cache: { generation: number; out: TsmGenerated } | undefined;
}

const INBLOB_MAX = 64;
const OUTBLOB_MAX = 32 * 1024;
const PRIVLEVEL_MAX = 3;
const WRITE_ONLY = new Set(['inblob', 'privlevel']);
const READ_ONLY = new Set(['outblob', 'auxblob', 'provider', 'generation', 'privlevel_floor']);

function fsError(code: string, op: string, path: string): Error {
  return Object.assign(new Error(`${code}: ${op} '${path}'`), { code });
}

/** In-memory configfs-tsm; see the module comment for the rules it follows. */
export class FakeTsmFs implements TsmFs {
  readonly root: string;
  readonly provider: string;
  /** Live requests by entry name; empty after every well-behaved issuance. */
  readonly entries = new Map<string, FakeEntry>();
  /** Every entry name ever created, in order. */
  readonly created: string[] = [];
  /** How many times evidence was generated. */
  generations = 0;
  /** Runs before each attribute read (see {@link TsmReadHook}). */
  onRead: TsmReadHook | undefined;
  readonly #generate: TsmGenerator;
  readonly #privlevelFloor: number;
  readonly #rootExists: boolean;
  readonly #mkdirErrno: string | undefined;

  constructor(opts: FakeTsmFsOptions) {
    this.root = opts.root ?? '/sys/kernel/config/tsm/report';
    this.provider = opts.provider ?? 'sev_guest';
    this.#generate = opts.generate;
    this.#privlevelFloor = opts.privlevelFloor ?? 0;
    this.#rootExists = opts.rootExists ?? true;
    this.#mkdirErrno = opts.mkdirErrno;
  }

  /** Splits `<root>/<entry>[/<attribute>]`; undefined for paths outside the root. */
  #locate(path: string): { entry?: string; attribute?: string; depth: number } | undefined {
    const rel = posix.relative(this.root, posix.normalize(path));
    if (rel === '') return { depth: 0 };
    if (rel.startsWith('..') || posix.isAbsolute(rel)) return undefined;
    const parts = rel.split('/');
    const [entry, attribute] = parts;
    return { entry, attribute, depth: parts.length };
  }

  #entry(path: string, op: string): { entry: FakeEntry; attribute: string } {
    const loc = this.#rootExists ? this.#locate(path) : undefined;
    const entry = loc?.entry === undefined ? undefined : this.entries.get(loc.entry);
    if (loc?.depth !== 2 || entry === undefined || loc.attribute === undefined) throw fsError('ENOENT', op, path);
    if (!WRITE_ONLY.has(loc.attribute) && !READ_ONLY.has(loc.attribute)) throw fsError('ENOENT', op, path);
    return { entry, attribute: loc.attribute };
  }

  async isDirectory(path: string): Promise<boolean> {
    const loc = this.#rootExists ? this.#locate(path) : undefined;
    if (loc === undefined) return false;
    return loc.depth === 0 || (loc.depth === 1 && loc.entry !== undefined && this.entries.has(loc.entry));
  }

  async mkdir(path: string): Promise<void> {
    const loc = this.#rootExists ? this.#locate(path) : undefined;
    if (loc === undefined || loc.depth === 0) throw fsError(loc === undefined ? 'ENOENT' : 'EEXIST', 'mkdir', path);
    if (loc.depth > 1) throw fsError(loc.entry !== undefined && this.entries.has(loc.entry) ? 'EPERM' : 'ENOENT', 'mkdir', path);
    if (this.#mkdirErrno !== undefined) throw fsError(this.#mkdirErrno, 'mkdir', path);
    const name = loc.entry!;
    if (this.entries.has(name)) throw fsError('EEXIST', 'mkdir', path);
    this.entries.set(name, { generation: 0, inblob: undefined, privlevel: undefined, cache: undefined });
    this.created.push(name);
  }

  async rmdir(path: string): Promise<void> {
    const loc = this.#rootExists ? this.#locate(path) : undefined;
    if (loc?.depth !== 1 || loc.entry === undefined || !this.entries.delete(loc.entry)) throw fsError('ENOENT', 'rmdir', path);
  }

  async readFile(path: string, maxBytes: number): Promise<Uint8Array> {
    const first = this.#entry(path, 'open');
    if (this.onRead) await this.onRead({ entry: posix.dirname(path), attribute: first.attribute, fs: this });
    // The hook may have removed the entry; look it up again like a fresh open would.
    const { entry, attribute } = this.#entry(path, 'open');
    if (WRITE_ONLY.has(attribute)) throw fsError('EACCES', 'open', path);
    let bytes: Uint8Array;
    switch (attribute) {
      case 'provider':
        bytes = Buffer.from(`${this.provider}\n`);
        break;
      case 'generation':
        bytes = Buffer.from(`${entry.generation}\n`);
        break;
      case 'privlevel_floor':
        bytes = Buffer.from(`${this.#privlevelFloor}\n`);
        break;
      default: {
        const out = this.#evidence(entry, path);
        bytes = attribute === 'outblob' ? out.outblob : (out.auxblob ?? new Uint8Array(0));
      }
    }
    return new Uint8Array(bytes.subarray(0, maxBytes + 1));
  }

  async writeFile(path: string, data: Uint8Array): Promise<void> {
    const { entry, attribute } = this.#entry(path, 'open');
    if (READ_ONLY.has(attribute)) throw fsError('EACCES', 'open', path);
    if (attribute === 'inblob') {
      if (data.length > INBLOB_MAX) throw fsError('EFBIG', 'write', path);
      entry.inblob = new Uint8Array(data);
    } else {
      const text = Buffer.from(data).toString('utf8').trim();
      const level = /^\d+$/.test(text) ? Number(text) : NaN;
      if (!(level >= this.#privlevelFloor && level <= PRIVLEVEL_MAX)) throw fsError('EINVAL', 'write', path);
      entry.privlevel = level;
    }
    entry.generation++;
  }

  /** Writes `inblob` of an entry as another process would (for {@link onRead} hooks). */
  async raceWrite(entryPath: string, inblob: Uint8Array): Promise<void> {
    await this.writeFile(posix.join(entryPath, 'inblob'), inblob);
  }

  #evidence(entry: FakeEntry, path: string): TsmGenerated {
    if (entry.inblob === undefined) throw fsError('EINVAL', 'read', path);
    if (entry.cache?.generation !== entry.generation) {
      const out = this.#generate(entry.inblob, entry.privlevel);
      if (out.outblob.length > OUTBLOB_MAX || (out.auxblob?.length ?? 0) > OUTBLOB_MAX) throw fsError('EFBIG', 'read', path);
      entry.cache = { generation: entry.generation, out };
      this.generations++;
    }
    return entry.cache.out;
  }
}
