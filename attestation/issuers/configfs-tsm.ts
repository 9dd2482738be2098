/**
 * Evidence through configfs-tsm (Linux ≥ 6.7, FORMATS.md §5.1): one report directory per request under
 * /sys/kernel/config/tsm/report. The provider (`sev_guest`, `tdx_guest`) decides what `outblob` holds: an SNP
 * report (with the host's certificate table in `auxblob`) or a TDX DCAP quote. This is the only upstream way to
 * get a TDX quote, and the preferred one for SNP.
 *
 * One request: mkdir a fresh entry → read `provider` and `generation` → write `privlevel` (when configured) and
 * `inblob` → read `outblob`, `auxblob` → read `generation` again. The kernel bumps `generation` on every write,
 * so anything other than "before + our writes" means someone else wrote into the entry between our write and our
 * read and the outblob may answer their inblob: retry a bounded number of times with a fresh entry, then fail.
 * The entry is removed whatever happens.
 */
import { randomBytes } from 'node:crypto';
import { join } from 'node:path/posix';
import { CcmeshError, describeError, ErrorCode } from '../../lib/errors.js';
import type { Logger } from '../../lib/log.js';
import { silentLogger } from '../../lib/log.js';
import { PATHS } from '../../lib/pod-layout.js';
import { parseCertTable } from './cert-table.js';
import type { Evidence, EvidenceIssuer, SnpCertificates } from './evidence.js';
import { snpEvidence, tdxEvidence } from './evidence-check.js';
import { checkReportData } from './report-data.js';
import type { TsmFs } from './tsm-fs.js';
import { errnoCode, nodeTsmFs } from './tsm-fs.js';

/** Most caller data `inblob` takes (TSM_INBLOB_MAX). */
export const TSM_INBLOB_MAX = 64;
/** Largest `outblob`/`auxblob` the kernel produces (TSM_OUTBLOB_MAX); anything larger is refused. */
export const TSM_OUTBLOB_MAX = 32 * 1024;
/** Highest `privlevel` (TSM_PRIVLEVEL_MAX). */
export const TSM_PRIVLEVEL_MAX = 3;
/** Providers ccmesh can turn into evidence. */
export const TSM_PROVIDERS = ['sev_guest', 'tdx_guest'] as const;
/** One of {@link TSM_PROVIDERS}. */
export type TsmProvider = (typeof TSM_PROVIDERS)[number];
/** Attempts when another writer races us, before giving up with ATTEST_ISSUER_CONCURRENT. */
export const DEFAULT_TSM_ATTEMPTS = 3;

/** Plain settings of the configfs-tsm issuer. */
export interface ConfigfsTsmIssuerConfig {
  /** The report directory; default {@link PATHS.configfsTsmReport}. */
  readonly root?: string;
  /** SNP VMPL to request (written to `privlevel`); left at the kernel's floor when absent. */
  readonly privlevel?: number;
  /** Attempts on a concurrent writer, ≥ 1; default {@link DEFAULT_TSM_ATTEMPTS}. */
  readonly maxAttempts?: number;
}

/** Live dependencies of the configfs-tsm issuer. */
export interface ConfigfsTsmIssuerRuntime {
  readonly fs?: TsmFs;
  readonly logger?: Logger;
  /** Name of the next request entry; default `ccmesh-<pid>-<random>`. */
  readonly entryName?: () => string;
}

/** A fresh, unguessable entry name, so concurrent ccmesh processes never share a request. */
export function defaultEntryName(): string {
  return `ccmesh-${process.pid}-${randomBytes(8).toString('hex')}`;
}

/** The error for "there is no configfs-tsm here". */
export function configfsTsmUnavailable(root: string, why = 'the directory does not exist', cause?: unknown): CcmeshError {
  return new CcmeshError(
    ErrorCode.ATTEST_ISSUER_UNAVAILABLE,
    `configfs-tsm is not available at ${root}: ${why} (it needs Linux >= 6.7 with the tsm module (CONFIG_TSM_REPORTS) and a TEE guest driver loaded, and configfs mounted at /sys/kernel/config)`,
    cause === undefined ? undefined : { cause },
  );
}

function isProvider(p: string): p is TsmProvider {
  return (TSM_PROVIDERS as readonly string[]).includes(p);
}

function unknownProvider(root: string, provider: string): CcmeshError {
  return new CcmeshError(
    ErrorCode.ATTEST_ISSUER_UNAVAILABLE,
    `configfs-tsm at ${root} is served by provider ${JSON.stringify(provider)}, which ccmesh can not turn into evidence (expected one of ${TSM_PROVIDERS.join(', ')})`,
  );
}

/** Maps an mkdir failure under `root` to the error a user can act on. */
function mkdirError(root: string, entry: string, err: unknown): CcmeshError {
  switch (errnoCode(err)) {
    case 'ENOENT':
      return configfsTsmUnavailable(root, 'the directory does not exist', err);
    case 'ENXIO':
    case 'ENODEV':
      return configfsTsmUnavailable(root, 'no TEE guest driver (sev-guest, tdx-guest) is registered as its provider', err);
    case 'EACCES':
    case 'EPERM':
    case 'EROFS':
      return configfsTsmUnavailable(root, `creating ${entry} was refused (${errnoCode(err)}); issuing evidence needs root in the guest`, err);
    default:
      return new CcmeshError(ErrorCode.ATTEST_ISSUER_FAILED, `configfs-tsm: creating report entry ${entry} failed: ${describeError(err)}`, { cause: err });
  }
}

/** Runs one filesystem step, turning a raw filesystem error into ATTEST_ISSUER_FAILED that says what we were doing. */
async function step<T>(what: string, fn: () => Promise<T>): Promise<T> {
  try {
    return await fn();
  } catch (err) {
    if (err instanceof CcmeshError) throw err;
    throw new CcmeshError(ErrorCode.ATTEST_ISSUER_FAILED, `configfs-tsm: ${what} failed: ${describeError(err)}`, { cause: err });
  }
}

async function readText(fs: TsmFs, path: string): Promise<string> {
  const b = await step(`reading ${path}`, () => fs.readFile(path, 4096));
  return Buffer.from(b).toString('utf8').trim();
}

async function readGeneration(fs: TsmFs, entry: string): Promise<bigint> {
  const path = join(entry, 'generation');
  const text = await readText(fs, path);
  if (!/^\d{1,20}$/.test(text)) throw new CcmeshError(ErrorCode.ATTEST_ISSUER_FAILED, `configfs-tsm: ${path} holds ${JSON.stringify(text)}, not a counter`);
  return BigInt(text);
}

/** Reads a blob attribute, refusing more than TSM_OUTBLOB_MAX bytes. */
async function readBlob(fs: TsmFs, path: string): Promise<Uint8Array> {
  const b = await step(`reading ${path}`, () => fs.readFile(path, TSM_OUTBLOB_MAX));
  if (b.length > TSM_OUTBLOB_MAX) throw new CcmeshError(ErrorCode.ATTEST_ISSUER_FAILED, `configfs-tsm: ${path} is larger than ${TSM_OUTBLOB_MAX} bytes`);
  return b;
}

/** Result of {@link probeConfigfsTsm}: usable with a known provider, or why not. */
export type ConfigfsTsmProbe = { readonly ok: true; readonly provider: TsmProvider } | { readonly ok: false; readonly reason: string };

/**
 * Whether configfs-tsm can serve requests here: the root exists, an entry can be created, and its provider is one
 * ccmesh understands. Creates and removes one entry; never throws.
 */
export async function probeConfigfsTsm(root: string = PATHS.configfsTsmReport, fs: TsmFs = nodeTsmFs, entryName: () => string = defaultEntryName): Promise<ConfigfsTsmProbe> {
  try {
    if (!(await fs.isDirectory(root))) return { ok: false, reason: configfsTsmUnavailable(root).message };
    const entry = join(root, entryName());
    try {
      await fs.mkdir(entry);
    } catch (err) {
      return { ok: false, reason: mkdirError(root, entry, err).message };
    }
    try {
      const provider = await readText(fs, join(entry, 'provider'));
      return isProvider(provider) ? { ok: true, provider } : { ok: false, reason: unknownProvider(root, provider).message };
    } finally {
      await fs.rmdir(entry);
    }
  } catch (err) {
    return { ok: false, reason: `configfs-tsm at ${root}: ${describeError(err)}` };
  }
}

/** Issues evidence through configfs-tsm. */
export class ConfigfsTsmIssuer implements EvidenceIssuer {
  readonly name = 'configfs-tsm';
  readonly #root: string;
  readonly #privlevel: number | undefined;
  readonly #maxAttempts: number;
  readonly #fs: TsmFs;
  readonly #logger: Logger;
  readonly #entryName: () => string;

  constructor(config: ConfigfsTsmIssuerConfig = {}, runtime: ConfigfsTsmIssuerRuntime = {}) {
    const { privlevel, maxAttempts = DEFAULT_TSM_ATTEMPTS } = config;
    if (privlevel !== undefined && !(Number.isInteger(privlevel) && privlevel >= 0 && privlevel <= TSM_PRIVLEVEL_MAX)) {
      throw new CcmeshError(ErrorCode.CONFIG_INVALID, `configfs-tsm: privlevel must be an integer 0-${TSM_PRIVLEVEL_MAX}, got ${privlevel}`);
    }
    if (!Number.isInteger(maxAttempts) || maxAttempts < 1) throw new CcmeshError(ErrorCode.CONFIG_INVALID, `configfs-tsm: maxAttempts must be an integer >= 1, got ${maxAttempts}`);
    this.#root = config.root ?? PATHS.configfsTsmReport;
    this.#privlevel = privlevel;
    this.#maxAttempts = maxAttempts;
    this.#fs = runtime.fs ?? nodeTsmFs;
    this.#logger = runtime.logger ?? silentLogger;
    this.#entryName = runtime.entryName ?? defaultEntryName;
  }

  async issue(reportData: Uint8Array, signal?: AbortSignal): Promise<Evidence> {
    const data = checkReportData(reportData, this.name);
    signal?.throwIfAborted();
    if (!(await step(`checking ${this.#root}`, () => this.#fs.isDirectory(this.#root)))) throw configfsTsmUnavailable(this.#root);
    for (let attempt = 1; ; attempt++) {
      try {
        return await this.#attempt(data, signal);
      } catch (err) {
        if (!(err instanceof CcmeshError && err.code === ErrorCode.ATTEST_ISSUER_CONCURRENT) || attempt >= this.#maxAttempts) throw err;
        this.#logger.warn('configfs-tsm request raced another writer; retrying with a fresh entry', { attempt, maxAttempts: this.#maxAttempts, err });
      }
    }
  }

  async #attempt(reportData: Uint8Array, signal: AbortSignal | undefined): Promise<Evidence> {
    const fs = this.#fs;
    const entry = join(this.#root, this.#entryName());
    try {
      await fs.mkdir(entry);
    } catch (err) {
      throw mkdirError(this.#root, entry, err);
    }
    try {
      const provider = await readText(fs, join(entry, 'provider'));
      if (!isProvider(provider)) throw unknownProvider(this.#root, provider);
      if (this.#privlevel !== undefined && provider !== 'sev_guest') {
        throw new CcmeshError(ErrorCode.CONFIG_INVALID, `configfs-tsm: a privlevel (VMPL) was requested, but provider ${provider} has none; it applies to sev_guest only`);
      }
      const before = await readGeneration(fs, entry);
      let writes = 0n;
      signal?.throwIfAborted();
      if (this.#privlevel !== undefined) {
        const path = join(entry, 'privlevel');
        await step(`writing ${path}`, () => fs.writeFile(path, Buffer.from(`${this.#privlevel}\n`)));
        writes++;
      }
      const inblob = join(entry, 'inblob');
      await step(`writing ${inblob}`, () => fs.writeFile(inblob, reportData));
      writes++;
      signal?.throwIfAborted();
      const outblob = await readBlob(fs, join(entry, 'outblob'));
      const auxblob = await this.#readAuxblob(join(entry, 'auxblob'));
      const after = await readGeneration(fs, entry);
      // Check the race before the contents: a raced outblob answers someone else's inblob, and the caller should
      // hear "concurrent writer", not "wrong report data".
      if (after !== before + writes) {
        throw new CcmeshError(
          ErrorCode.ATTEST_ISSUER_CONCURRENT,
          `configfs-tsm: another writer changed report entry ${entry} while we used it (generation ${after}, expected ${before + writes} after our ${writes} write(s)); ` +
            `tried ${this.#maxAttempts} time(s) — is another process writing into ccmesh's entries?`,
        );
      }
      const req = { source: this.name, reportData, ...(this.#privlevel === undefined ? {} : { vmpl: this.#privlevel }) };
      if (provider === 'tdx_guest') return tdxEvidence(req, outblob);
      return snpEvidence(req, outblob, this.#certificates(auxblob));
    } finally {
      await this.#remove(entry);
    }
  }

  /** `auxblob` is optional: absent on providers without one, empty when the host supplied no certificates. */
  async #readAuxblob(path: string): Promise<Uint8Array> {
    try {
      return await readBlob(this.#fs, path);
    } catch (err) {
      if (err instanceof CcmeshError && errnoCode(err.cause) === 'ENOENT') return new Uint8Array(0);
      throw err;
    }
  }

  #certificates(auxblob: Uint8Array): SnpCertificates {
    try {
      return parseCertTable(auxblob);
    } catch (err) {
      throw new CcmeshError(ErrorCode.ATTEST_ISSUER_FAILED, `configfs-tsm: the certificate table in auxblob is malformed: ${describeError(err)}`, { cause: err });
    }
  }

  /** Removes the entry; a failure is logged, not thrown, so it never hides the request's own outcome. */
  async #remove(entry: string): Promise<void> {
    try {
      await this.#fs.rmdir(entry);
    } catch (err) {
      this.#logger.warn('configfs-tsm report entry could not be removed', { entry, err });
    }
  }
}
