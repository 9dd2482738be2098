/**
 * Security mutation runner: removes one defence at a time (the catalogue in `catalogue/`) and runs the tests that
 * claim to guard it. A mutant survives when every one of its tests still passes; the run fails when any mutant
 * survives, when an entry no longer matches the source (stale), or when a test already fails without mutation.
 *
 * How: the built tree (`npm run build` first) is copied into scratch directories (node_modules linked), one per job.
 * For each mutant the source file is edited in memory, transpiled with TypeScript's single-file transpiler and written
 * over the file's compiled JavaScript in that scratch copy; the tests then run as plain `node dist/….test.js` (the
 * way tap runs them), and the compiled file is put back. The repository itself is never modified.
 *
 *   node dist/test/mutation/main.js [--only ID,…] [--changed REV] [--jobs N] [--list] [--json FILE]
 *
 * `--changed REV` keeps the mutants whose source or test files differ from REV (`git diff --name-only REV`).
 */
import { execFileSync, spawn } from 'node:child_process';
import { chmodSync, cpSync, existsSync, mkdtempSync, readFileSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import ts from 'typescript';
import { repoRoot } from '../fixtures.js';
import { CATALOGUE } from './catalogue/index.js';
import type { MutantResult, SecurityMutation } from './types.js';

/** How long one test file may run before the mutant counts as killed by a hang. */
const TEST_TIMEOUT_MS = 180_000;

/** The compiled path of a source file under dist/. */
export function compiledPath(source: string): string {
  return join('dist', source.replace(/\.ts$/, '.js'));
}

/** Applies one mutation to source text; throws naming the entry when `find` does not occur exactly once. */
export function applyMutation(m: SecurityMutation, source: string): string {
  const first = source.indexOf(m.find);
  if (first < 0) throw new Error(`${m.id}: the text to mutate no longer occurs in ${m.file}`);
  if (source.indexOf(m.find, first + 1) >= 0) throw new Error(`${m.id}: the text to mutate occurs more than once in ${m.file}`);
  if (m.find === m.replace) throw new Error(`${m.id}: find and replace are the same text`);
  return source.slice(0, first) + m.replace + source.slice(first + m.find.length);
}

let compilerOptions: ts.CompilerOptions | undefined;
function options(): ts.CompilerOptions {
  if (compilerOptions) return compilerOptions;
  const file = join(repoRoot, 'tsconfig.json');
  const parsed = ts.parseJsonConfigFileContent(ts.readConfigFile(file, (p) => readFileSync(p, 'utf8')).config, ts.sys, repoRoot);
  // The package is ESM ("type": "module"): emit ES modules as tsc does for it, without project-wide settings.
  const { rootDir: _rootDir, outDir: _outDir, tsBuildInfoFile: _info, ...rest } = parsed.options;
  compilerOptions = { ...rest, module: ts.ModuleKind.ESNext, moduleResolution: ts.ModuleResolutionKind.Bundler, sourceMap: false, inlineSourceMap: false, declaration: false, incremental: false };
  return compilerOptions;
}

/** JavaScript for mutated TypeScript source (no type check: a mutant only needs to run). */
export function transpile(source: string, fileName: string): string {
  const out = ts.transpileModule(source, { compilerOptions: options(), fileName, reportDiagnostics: true });
  const errors = (out.diagnostics ?? []).filter((d) => d.category === ts.DiagnosticCategory.Error);
  if (errors.length > 0) throw new Error(`${fileName}: mutated source does not parse: ${ts.flattenDiagnosticMessageText(errors[0]!.messageText, '\n')}`);
  return out.outputText;
}

/** A scratch copy of the built repository. */
function makeScratch(): string {
  const dir = mkdtempSync(join(tmpdir(), 'ccmesh-mutants-'));
  // Readable by other uids, as the repository is: some tests run the built code as another uid (lib/process).
  chmodSync(dir, 0o755);
  const files = execFileSync('git', ['ls-files', '-co', '--exclude-standard'], { cwd: repoRoot, encoding: 'utf8', maxBuffer: 64 * 1024 * 1024 })
    .split('\n')
    .filter((f) => f && f !== 'node_modules' && !f.startsWith('node_modules/') && existsSync(join(repoRoot, f)));
  for (const f of files) cpSync(join(repoRoot, f), join(dir, f), { recursive: true });
  cpSync(join(repoRoot, 'dist'), join(dir, 'dist'), { recursive: true });
  symlinkSync(join(repoRoot, 'node_modules'), join(dir, 'node_modules'), 'dir');
  return dir;
}

interface TestRun {
  readonly ok: boolean;
  readonly summary: string;
}

/** Runs one compiled test file inside `root`; ok when it exits 0 within `timeoutMs`. */
function runTest(root: string, test: string, timeoutMs: number): Promise<TestRun> {
  return new Promise((resolve) => {
    const child = spawn(process.execPath, [compiledPath(test)], { cwd: root, stdio: ['ignore', 'pipe', 'pipe'], env: { ...process.env, TAP_TIMEOUT: '0' } });
    // The first failing line is the innermost failed assertion (tap prints a subtest's children before its own line).
    let out = '';
    let firstFailure: string | undefined;
    const keep = (d: Buffer): void => {
      out = (out + d.toString()).slice(-16_384);
      firstFailure ??= out.split('\n').slice(0, -1).find((l) => /^\s*not ok /.test(l))?.trim();
    };
    child.stdout.on('data', keep);
    child.stderr.on('data', keep);
    const timer = setTimeout(() => child.kill('SIGKILL'), timeoutMs);
    child.once('exit', (code, signal) => {
      clearTimeout(timer);
      resolve({ ok: code === 0, summary: code === 0 ? 'passed' : (firstFailure ?? (signal ? `killed by ${signal} (timeout)` : `exit ${code}`)) });
    });
  });
}

function hasRoot(): boolean {
  return process.getuid?.() === 0;
}

/** Limits for one run of the runner. */
export interface RunLimits {
  /** Wall-clock time (ms since the epoch) after which no mutant starts (one started runs to its end); the rest are `deferred`. */
  readonly startBy?: number;
  /** How long one test file may run before the mutant counts as killed by a hang (default 180 s). */
  readonly testTimeoutMs?: number;
}

/**
 * Runs every mutant of `list` over `jobs` scratch copies; `progress` gets one line per finished mutant.
 * A mutant's tests first run unmutated (once per test, shared by the mutants naming it), just before the mutant
 * itself, so a run cut short by `limits.startBy` spends its time on mutants it finishes.
 */
export async function runMutants(list: readonly SecurityMutation[], jobs: number, progress: (line: string) => void, limits: RunLimits = {}): Promise<MutantResult[]> {
  const timeoutMs = limits.testTimeoutMs ?? TEST_TIMEOUT_MS;
  const late = (): boolean => limits.startBy !== undefined && Date.now() >= limits.startBy;
  const results = new Map<string, MutantResult>();
  const runnable: SecurityMutation[] = [];
  const sources = new Map<string, string>();
  for (const m of list) {
    try {
      const src = sources.get(m.file) ?? readFileSync(join(repoRoot, m.file), 'utf8');
      sources.set(m.file, src);
      transpile(applyMutation(m, src), m.file);
      const missing = m.tests.find((t) => !existsSync(join(repoRoot, compiledPath(t))));
      if (missing) throw new Error(`${m.id}: test ${missing} is not built (run npm run build)`);
      if (m.privileged && !hasRoot()) {
        results.set(m.id, { id: m.id, status: 'skipped', detail: 'needs root and network namespaces', seconds: 0 });
        continue;
      }
      runnable.push(m);
    } catch (err) {
      results.set(m.id, { id: m.id, status: 'stale', detail: err instanceof Error ? err.message : String(err), seconds: 0 });
    }
  }
  for (const r of results.values()) progress(line(r));
  if (runnable.length === 0) return list.map((m) => results.get(m.id)!);

  const scratches = Array.from({ length: Math.max(1, Math.min(jobs, runnable.length)) }, makeScratch);
  // Baseline: every test must pass unmutated, or killing a mutant with it proves nothing.
  const baseline = new Map<string, Promise<TestRun>>();
  const deferred = (m: SecurityMutation): MutantResult => ({ id: m.id, status: 'deferred', detail: 'the time budget of this run was spent; npm run mutants runs it', seconds: 0 });
  const baselineThenMutant = async (m: SecurityMutation, root: string): Promise<MutantResult> => {
    for (const t of m.tests) {
      if (!baseline.has(t)) baseline.set(t, runTest(root, t, timeoutMs));
      const b = await baseline.get(t)!;
      if (!b.ok) return { id: m.id, status: 'baseline-failed', detail: `${t} fails without the mutation: ${b.summary}`, seconds: 0 };
    }
    return runOne(m, root, sources.get(m.file)!, timeoutMs);
  };
  try {
    await pool(runnable, scratches, async (m, root) => {
      const r = late() ? deferred(m) : await baselineThenMutant(m, root);
      results.set(m.id, r);
      progress(line(r));
    });
  } finally {
    for (const s of scratches) rmSync(s, { recursive: true, force: true });
  }
  return list.map((m) => results.get(m.id)!);
}

async function runOne(m: SecurityMutation, root: string, source: string, timeoutMs: number): Promise<MutantResult> {
  const started = Date.now();
  const target = join(root, compiledPath(m.file));
  const original = readFileSync(target);
  writeFileSync(target, transpile(applyMutation(m, source), m.file));
  try {
    for (const t of m.tests) {
      const r = await runTest(root, t, timeoutMs);
      if (!r.ok) return { id: m.id, status: 'killed', detail: `${t}: ${r.summary}`, seconds: (Date.now() - started) / 1000 };
    }
    return { id: m.id, status: 'survived', detail: `all of ${m.tests.join(', ')} pass without the check`, seconds: (Date.now() - started) / 1000 };
  } finally {
    writeFileSync(target, original);
  }
}

/** Runs `work` over `items`, one item at a time per scratch copy. */
async function pool<T>(items: readonly T[], roots: readonly string[], work: (item: T, root: string) => Promise<void>): Promise<void> {
  let next = 0;
  await Promise.all(
    roots.map(async (root) => {
      while (next < items.length) await work(items[next++]!, root);
    }),
  );
}

function line(r: MutantResult): string {
  const mark = { killed: 'killed  ', survived: 'SURVIVED', stale: 'STALE   ', skipped: 'skipped ', 'baseline-failed': 'BASELINE', deferred: 'deferred' }[r.status];
  return `${mark} ${r.id} (${r.seconds.toFixed(1)} s) — ${r.detail}`;
}

/** Killed over all mutants that ran or should have run (skipped and deferred ones excluded), as a percentage. */
export function score(results: readonly MutantResult[]): { killed: number; counted: number; percent: number } {
  const counted = results.filter((r) => r.status !== 'skipped' && r.status !== 'deferred');
  const killed = counted.filter((r) => r.status === 'killed').length;
  return { killed, counted: counted.length, percent: counted.length === 0 ? 100 : (100 * killed) / counted.length };
}

/** Mutants whose source file or one of whose tests changed since `rev` (committed or not). */
export function changedSince(rev: string, list: readonly SecurityMutation[]): SecurityMutation[] {
  const names = (args: string[]): string[] => execFileSync('git', args, { cwd: repoRoot, encoding: 'utf8' }).split('\n').filter(Boolean);
  const changed = new Set([...names(['diff', '--name-only', rev]), ...names(['ls-files', '-o', '--exclude-standard'])]);
  return list.filter((m) => changed.has(m.file) || m.tests.some((t) => changed.has(t)));
}

interface Args {
  only?: string[];
  changed?: string;
  jobs: number;
  list: boolean;
  json?: string;
}

function parseArgs(argv: readonly string[]): Args {
  const args: Args = { jobs: 2, list: false };
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i]!;
    const value = (): string => {
      const v = argv[++i];
      if (v === undefined) throw new UsageError(`${a} needs a value`);
      return v;
    };
    if (a === '--only') args.only = value().split(',').filter(Boolean);
    else if (a === '--changed') args.changed = value();
    else if (a === '--jobs') {
      const v = value();
      args.jobs = Number(v);
      if (!Number.isInteger(args.jobs) || args.jobs < 1 || args.jobs > 16) throw new UsageError(`--jobs: expected an integer 1-16, got "${v}"`);
    } else if (a === '--list') args.list = true;
    else if (a === '--json') args.json = value();
    else throw new UsageError(`unknown argument "${a}" (expected --only, --changed, --jobs, --list, --json)`);
  }
  return args;
}

class UsageError extends Error {}

/** The `npm run mutants` command; returns the exit code. */
export async function mutantsMain(argv: readonly string[]): Promise<number> {
  let args: Args;
  try {
    args = parseArgs(argv);
  } catch (err) {
    if (!(err instanceof UsageError)) throw err;
    process.stderr.write(`mutants: ${err.message}\n`);
    return 64;
  }
  let list: readonly SecurityMutation[] = CATALOGUE;
  if (args.only) {
    const unknown = args.only.filter((id) => !CATALOGUE.some((m) => m.id === id));
    if (unknown.length > 0) {
      process.stderr.write(`mutants: --only: no mutant named ${unknown.join(', ')}\n`);
      return 64;
    }
    list = CATALOGUE.filter((m) => args.only!.includes(m.id));
  }
  if (args.changed) list = changedSince(args.changed, list);
  if (args.list) {
    for (const m of list) process.stdout.write(`${m.id}\t${m.file}\t${m.tests.join(',')}\n`);
    return 0;
  }
  process.stdout.write(`mutants: ${list.length} security mutations, ${args.jobs} jobs\n`);
  const started = Date.now();
  const results = await runMutants(list, args.jobs, (l) => process.stdout.write(`${l}\n`));
  const s = score(results);
  const bad = results.filter((r) => r.status === 'survived' || r.status === 'stale' || r.status === 'baseline-failed');
  const skipped = results.filter((r) => r.status === 'skipped').length;
  process.stdout.write(
    `mutants: ${s.killed} of ${s.counted} killed (${s.percent.toFixed(1)} %), ${skipped} skipped, ${((Date.now() - started) / 1000).toFixed(0)} s\n`,
  );
  if (args.json) writeFileSync(args.json, `${JSON.stringify({ score: s, results }, null, 2)}\n`);
  if (skipped > 0 && process.env.CI) {
    process.stdout.write('mutants: CI is set and privileged mutants were skipped: failing\n');
    return 1;
  }
  return bad.length === 0 ? 0 : 1;
}
