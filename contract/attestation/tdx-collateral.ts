/**
 * Where the Coordinator gets TDX collateral (TCB info, QE identity, PCK and root CRLs, the TCB signing
 * certificate) for a quote: a directory the operator fills (`--tdx-collateral DIR`, re-read periodically so a
 * monthly refresh needs no restart), or a collateral source from `attestation/fetch/` (the disk cache, optionally
 * fetching from Intel PCS). Without collateral a quote's TCB status is "not_evaluated", which the evidence check
 * refuses unless the manifest explicitly allows it.
 *
 * SECURITY: nothing here is trusted for where it came from: the verifier checks every signature, CRL and date up
 * to the pinned Intel root. A provider's problems are reasons to refuse the quote, never to skip the check.
 */
import { readdir, readFile, stat } from 'node:fs/promises';
import { join } from 'node:path';
import type { CollateralSource, IntelPckCa } from '../../attestation/fetch/collateral-source.js';
import { type CollateralFile, recognizeTdxCollateral, type TdxCollateral } from '../../attestation/tdx/collateral.js';
import { parsePckChain } from '../../attestation/tdx/pck-chain.js';
import { parseTdxQuote } from '../../attestation/tdx/quote.js';
import type { Clock } from '../../lib/clock.js';
import { ConfigError, describeError } from '../../lib/errors.js';
import { type Logger, silentLogger } from '../../lib/log.js';

/** Collateral for one quote, or why there is none. */
export interface TdxCollateralLookup {
  readonly collateral?: TdxCollateral;
  /** Non-empty: the quote must be refused with these reasons. */
  readonly problems: readonly string[];
}

/** Supplies the collateral that applies to a TDX quote. */
export interface TdxCollateralProvider {
  /** Never throws: failures are `problems`. */
  collateralFor(quote: Uint8Array): Promise<TdxCollateralLookup>;
  /** Releases network resources, if any. */
  close?(): Promise<void>;
}

/** Bounds on a collateral directory (real collateral is a handful of files of a few KiB). */
const MAX_FILES = 64;
const MAX_FILE_BYTES = 1024 * 1024;

/** Reads every regular file directly in `dir` (sorted); problems name the file. */
async function readCollateralDir(dir: string): Promise<{ files: CollateralFile[]; problems: string[] }> {
  const problems: string[] = [];
  let names: string[];
  try {
    names = (await readdir(dir)).sort();
  } catch (err) {
    return { files: [], problems: [`cannot read the directory (${describeError(err)})`] };
  }
  const files: CollateralFile[] = [];
  for (const name of names) {
    if (name.startsWith('.')) continue; // editors' and rsync's temporary files
    const path = join(dir, name);
    try {
      const st = await stat(path);
      if (!st.isFile()) continue;
      if (st.size > MAX_FILE_BYTES) throw new Error(`${st.size} bytes is more than the ${MAX_FILE_BYTES}-byte limit`);
      if (files.length === MAX_FILES) throw new Error(`more than ${MAX_FILES} files in the directory`);
      files.push({ name, bytes: new Uint8Array(await readFile(path)) });
    } catch (err) {
      problems.push(`${name}: ${describeError(err)}`);
    }
  }
  if (files.length === 0 && problems.length === 0) problems.push('no collateral files in the directory');
  return { files, problems };
}

/** Reads and recognises a collateral directory; problems name the file. */
async function loadCollateralDir(dir: string): Promise<TdxCollateralLookup> {
  const read = await readCollateralDir(dir);
  if (read.problems.length > 0) return { problems: read.problems };
  const { collateral, issues } = recognizeTdxCollateral(read.files);
  return issues.length > 0 ? { problems: issues } : { collateral, problems: [] };
}

/** Options of {@link DirectoryTdxCollateral.open}. */
export interface DirectoryCollateralOptions {
  readonly clock: Clock;
  /** Re-read the directory when the last read is older than this (default 5 min). */
  readonly reloadMs?: number;
  readonly logger?: Logger;
}

/** Collateral from files the operator keeps in a directory, recognised by content and re-read periodically. */
export class DirectoryTdxCollateral implements TdxCollateralProvider {
  readonly #dir: string;
  readonly #clock: Clock;
  readonly #reloadMs: number;
  readonly #logger: Logger;
  #current: TdxCollateralLookup;
  #loadedAtMs: number;
  #reloading: Promise<void> | undefined;

  private constructor(dir: string, first: TdxCollateralLookup, opts: DirectoryCollateralOptions) {
    this.#dir = dir;
    this.#clock = opts.clock;
    this.#reloadMs = opts.reloadMs ?? 5 * 60_000;
    this.#logger = opts.logger ?? silentLogger;
    this.#current = first;
    this.#loadedAtMs = opts.clock.nowMs();
  }

  /** Reads `dir` once; throws ConfigError naming every unreadable or unrecognised file (a startup error). */
  static async open(dir: string, opts: DirectoryCollateralOptions): Promise<DirectoryTdxCollateral> {
    const first = await loadCollateralDir(dir);
    if (first.problems.length > 0) {
      throw new ConfigError(`TDX collateral in ${dir}`, first.problems.map((p) => ({ field: '--tdx-collateral', value: dir, expected: `only TDX collateral files: ${p}` })));
    }
    return new DirectoryTdxCollateral(dir, first, opts);
  }

  async collateralFor(): Promise<TdxCollateralLookup> {
    if (this.#clock.nowMs() - this.#loadedAtMs >= this.#reloadMs) {
      this.#reloading ??= this.#reload().finally(() => {
        this.#reloading = undefined;
      });
      await this.#reloading;
    }
    return this.#current;
  }

  async #reload(): Promise<void> {
    const next = await loadCollateralDir(this.#dir);
    // A directory that turned bad (e.g. half-copied) refuses TDX evidence until fixed: failing closed beats
    // judging quotes with collateral the operator did not mean to supply.
    if (next.problems.length > 0) this.#logger.warn('TDX collateral directory unusable', { dir: this.#dir, problems: next.problems });
    this.#current = next.problems.length > 0 ? { problems: next.problems.map((p) => `TDX collateral in ${this.#dir}: ${p}`) } : next;
    this.#loadedAtMs = this.#clock.nowMs();
  }
}

/** Options of {@link SourcedTdxCollateral}. */
export interface SourcedCollateralOptions {
  readonly clock: Clock;
  /** Reuse assembled collateral for an FMSPC this long before asking the source again (default 5 min). */
  readonly memoMs?: number;
  /** Releases what the source holds (e.g. the HTTP agent under the cache). */
  readonly close?: () => Promise<void>;
}

/**
 * Collateral from a {@link CollateralSource} (the caching source in front of Intel PCS, or in front of the
 * disabled source for a cache-only setup): TCB info for the quote's FMSPC, QE identity, the CRL of the PCK's CA
 * and the root CRL. Assembled collateral is memoised per (FMSPC, CA) so repeated quotes reuse the verifier's
 * signature memo instead of re-reading and re-verifying the same documents.
 */
export class SourcedTdxCollateral implements TdxCollateralProvider {
  readonly #source: CollateralSource;
  readonly #opts: SourcedCollateralOptions;
  readonly #memo = new Map<string, { atMs: number; collateral: TdxCollateral }>();

  constructor(source: CollateralSource, opts: SourcedCollateralOptions) {
    this.#source = source;
    this.#opts = opts;
  }

  async collateralFor(quote: Uint8Array): Promise<TdxCollateralLookup> {
    let fmspc: string;
    let ca: IntelPckCa;
    try {
      const chain = parsePckChain(parseTdxQuote(quote).signatureData.pckChainPem);
      if (!chain.extensions) throw new Error(`PCK certificate: ${chain.extensionError ?? 'SGX extensions unreadable'}`);
      fmspc = Buffer.from(chain.extensions.fmspc).toString('hex');
      const role = chain.path[1].role;
      if (role !== 'PCK Platform CA' && role !== 'PCK Processor CA') throw new Error(`PCK certificate issued by an unknown CA (${role})`);
      ca = role === 'PCK Platform CA' ? 'platform' : 'processor';
    } catch (err) {
      return { problems: [`cannot tell which TDX collateral applies to this quote: ${describeError(err)}`] };
    }
    const key = `${fmspc}/${ca}`;
    const now = this.#opts.clock.nowMs();
    const memo = this.#memo.get(key);
    if (memo && now >= memo.atMs && now - memo.atMs < (this.#opts.memoMs ?? 5 * 60_000)) return { collateral: memo.collateral, problems: [] };
    const [tcb, qe, pckCrl, rootCrl] = await Promise.allSettled([
      this.#source.intelTdxTcbInfo(fmspc),
      this.#source.intelQeIdentity(),
      this.#source.intelPckCrl(ca),
      this.#source.intelRootCrl(),
    ]);
    const problems = [tcb, qe, pckCrl, rootCrl].flatMap((r) => (r.status === 'rejected' ? [describeError(r.reason)] : []));
    if (tcb.status !== 'fulfilled' || qe.status !== 'fulfilled' || pckCrl.status !== 'fulfilled' || rootCrl.status !== 'fulfilled') return { problems };
    const text = (s: string): Uint8Array => new Uint8Array(Buffer.from(s, 'utf8'));
    const { collateral, issues } = recognizeTdxCollateral([
      { name: `TCB info (FMSPC ${fmspc})`, bytes: text(tcb.value.body) },
      // Signing certificate + root; the PCK CRL's issuer chain holds the PCK CA, which is not collateral.
      { name: 'TCB info issuer chain', bytes: text(tcb.value.issuerChain) },
      { name: 'QE identity', bytes: text(qe.value.body) },
      { name: `PCK ${ca} CA CRL`, bytes: pckCrl.value.body },
      { name: 'Intel SGX Root CA CRL', bytes: rootCrl.value },
    ]);
    if (issues.length > 0) return { problems: issues };
    if (this.#memo.size >= 64) this.#memo.clear();
    this.#memo.set(key, { atMs: now, collateral });
    return { collateral, problems: [] };
  }

  async close(): Promise<void> {
    await this.#opts.close?.();
  }
}
