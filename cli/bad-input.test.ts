/**
 * Every subcommand with bad input, as a user would type it (issue #20 §2): missing and unknown flags, missing,
 * empty, garbage and huge files, wrong types, paths that are files or can't exist, busy and equal ports. Each row
 * runs the real binary and asserts the exit code, that the complaint is short and has no stack trace, that
 * nothing was written where it shouldn't be, and that the process ended on its own.
 *
 * Rows run as separate processes, a few at a time, so the table stays well under a minute on a busy 2-core machine.
 */
import { type ChildProcess, spawn } from 'node:child_process';
import { mkdirSync, mkdtempSync, readdirSync, rmSync, statSync, truncateSync, writeFileSync, copyFileSync } from 'node:fs';
import { createServer, type Server } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { randomBytes } from 'node:crypto';
import t from 'tap';
import { initSimulatedPlatform } from '../attestation/simulated/platform.js';
import { freePorts } from '../lib/net/free-ports.js';
import { CCMESH_BIN } from '../test/cli-process.js';
import { runCli } from './run.js';
import { repoRoot } from '../test/fixtures.js';

/** One row of the table. */
interface Row {
  readonly name: string;
  /** argv after "ccmesh"; `F/` at the start of an argument is replaced by the fixture directory. */
  readonly args: readonly string[];
  readonly code: number;
  /** Must match the complaint (stderr without log lines), or stdout when `stdout` is set. */
  readonly says: RegExp;
  /** Match `says` on stdout (help output) instead of stderr. */
  readonly stdout?: boolean;
  /** The complaint is exactly one line (path, address and refusal errors); config errors list one line per problem. */
  readonly oneLine?: boolean;
  /** Text written to the process's standard input. */
  readonly stdin?: string;
  /** Longest time the process may take to end by itself (default {@link DEFAULT_WITHIN_MS}). */
  readonly withinMs?: number;
  /**
   * Run as a separate process: rows that start listeners, touch signals or stdin, or could hang. The others run
   * in this process through the same router (`runCli`), which keeps the table's CPU time small.
   */
  readonly spawn?: boolean;
}

// Process start-up is CPU-bound: more parallel children than cores only slows each one down.
const CONCURRENCY = 2;
/** A hang, not slowness, is what the limit catches: a start-up on a machine at load 20 takes tens of seconds. */
const DEFAULT_WITHIN_MS = 90_000;
const MAX_COMPLAINT_BYTES = 4096;

interface Outcome {
  readonly code: number | null;
  readonly signal: NodeJS.Signals | null;
  readonly stdout: string;
  readonly stderr: string;
  readonly stdoutBytes: number;
  readonly stderrBytes: number;
  readonly timedOut: boolean;
  readonly ms: number;
}

function run(args: readonly string[], cwd: string, stdin: string | undefined, withinMs: number): Promise<Outcome> {
  return new Promise((resolve) => {
    const child: ChildProcess = spawn(process.execPath, [CCMESH_BIN, ...args], { cwd, stdio: [stdin === undefined ? 'ignore' : 'pipe', 'pipe', 'pipe'] });
    const out = { stdout: '', stderr: '', stdoutBytes: 0, stderrBytes: 0 };
    // Count every byte (a flood must show) but keep only the start.
    child.stdout!.on('data', (d: Buffer) => {
      out.stdoutBytes += d.length;
      if (out.stdout.length < 65536) out.stdout += d.toString();
    });
    child.stderr!.on('data', (d: Buffer) => {
      out.stderrBytes += d.length;
      if (out.stderr.length < 65536) out.stderr += d.toString();
    });
    if (stdin !== undefined) child.stdin!.end(stdin);
    let timedOut = false;
    const started = Date.now();
    const timer = setTimeout(() => {
      timedOut = true;
      child.kill('SIGKILL');
    }, withinMs);
    child.on('close', (code, signal) => {
      clearTimeout(timer);
      resolve({ code, signal, ...out, timedOut, ms: Date.now() - started });
    });
  });
}

/** One row through the router in this process: the same code path as the binary, minus process start-up. */
async function runInProcess(args: readonly string[]): Promise<Outcome> {
  const out = { stdout: '', stderr: '' };
  const started = Date.now();
  const code = await runCli(args, { stdout: (s) => void (out.stdout += s), stderr: (s) => void (out.stderr += s) });
  return { code, signal: null, ...out, stdoutBytes: Buffer.byteLength(out.stdout), stderrBytes: Buffer.byteLength(out.stderr), timedOut: false, ms: Date.now() - started };
}

/** stderr without the JSON log lines of long-running commands and grpc-js's own bind-failure log line. */
function complaint(stderr: string): string[] {
  return stderr.split('\n').filter((l) => l !== '' && !l.startsWith('{') && !/^E No address added out of total/.test(l));
}

function listing(dir: string): string[] {
  const out: string[] = [];
  const walk = (d: string, rel: string): void => {
    for (const e of readdirSync(d, { withFileTypes: true })) {
      out.push(rel + e.name);
      if (e.isDirectory()) walk(join(d, e.name), `${rel}${e.name}/`);
    }
  };
  walk(dir, '');
  return out.sort();
}

void t.test('bad input: one short complaint, the right exit code, nothing half-done, the process gone', async (t) => {
  const root = mkdtempSync(join(tmpdir(), 'ccmesh-bad-input-'));
  t.teardown(() => rmSync(root, { recursive: true, force: true }));
  const F = join(root, 'fixtures');
  mkdirSync(F);
  writeFileSync(join(F, 'afile'), 'x\n');
  writeFileSync(join(F, 'empty'), '');
  writeFileSync(join(F, 'garbage'), randomBytes(4096));
  writeFileSync(join(F, 'huge'), '');
  truncateSync(join(F, 'huge'), 9 * 1024 * 1024);
  writeFileSync(join(F, 'bad.yaml'), 'a: [1\n');
  copyFileSync(join(repoRoot, 'examples', 'backend.yaml'), join(F, 'app.yaml'));
  mkdirSync(join(F, 'sa'));
  writeFileSync(join(F, 'sa', 'namespace'), 'ccmesh-test\n');
  await initSimulatedPlatform(join(F, 'sim'), { rsaBits: 2048 });
  // A workspace for generate (owner keys are made once here; generate only reads them).
  const init = await run(['manifest', 'init', '--dir', join(F, 'ws'), '--allow-unmeasured'], F, undefined, 60_000);
  t.equal(init.code, 0, `workspace fixture: ${init.stderr}`);
  const fixturesBefore = listing(F);

  // A port something else holds, and free ones for rows that must not collide.
  const busy: Server = createServer();
  await new Promise<void>((resolve) => busy.listen(0, '127.0.0.1', resolve));
  t.teardown(() => busy.close());
  const busyPort = String((busy.address() as { port: number }).port);
  const [p1, p2, p3, p4] = (await freePorts(4)).map(String);
  const sim = ['--tee', 'simulated', '--sim-dir', 'F/sim'];
  const coord = (...extra: string[]): string[] => ['coordinator', ...sim, ...(extra.includes('--store') ? [] : ['--store', 'memory']), '--listen-host', '127.0.0.1', ...extra];
  const reportData = ['--report-data', '00'.repeat(64)];

  const rows: Row[] = [
    // The router: usage, groups, help, typos.
    { name: 'no command', args: [], code: 64, says: /^ccmesh .* service mesh runtime/, spawn: true },
    { name: 'unknown command, a near one suggested', args: ['cordinator'], code: 64, says: /unknown command "cordinator" \(did you mean "ccmesh coordinator"\?\)/, oneLine: true, spawn: true },
    { name: 'unknown subcommand in a group', args: ['attest', 'verfy'], code: 64, says: /did you mean "ccmesh attest verify"/, oneLine: true },
    { name: 'group without a subcommand', args: ['attest'], code: 64, says: /ccmesh attest: a subcommand is needed/ },
    { name: 'group help', args: ['attest', '--help'], code: 0, says: /ccmesh attest verify[\s\S]*ccmesh attest issue/, stdout: true },
    { name: 'help COMMAND', args: ['help', 'coordinator'], code: 0, says: /^Usage:\n {2}ccmesh coordinator/, stdout: true },
    // port-forward
    { name: 'port-forward: bad LOCAL:REMOTE and no identity', args: ['port-forward', 'web-0', '8080', '-c', '127.0.0.1:1313'], code: 64, says: /LOCAL:REMOTE: got "8080", expected two port numbers[\s\S]*--identity: got nothing/ },
    { name: 'port-forward help', args: ['port-forward', '--help'], code: 0, says: /^Usage:\n {2}ccmesh port-forward POD-OR-ADDRESS LOCAL:REMOTE/, stdout: true },
    // attest verify
    { name: 'verify: missing flags, a typo suggested', args: ['attest', 'verify', '--formt', 'snp'], code: 64, says: /--formt: got nothing, expected a known flag \(did you mean --format\?\)/ },
    { name: 'verify: a stray argument is not "--(positional)"', args: ['attest', 'verify', 'x.bin'], code: 64, says: /^ {2}argument: got "x.bin"/m },
    { name: 'verify: a one-letter flag it lacks', args: ['attest', 'verify', '-c', 'x'], code: 64, says: /^ {2}-c: got nothing, expected one of the known flags/m },
    { name: 'verify: missing evidence file', args: ['attest', 'verify', '--format', 'tdx', '--evidence', 'F/nope'], code: 64, says: /--evidence .*nope: cannot read \(no such file or directory \(ENOENT\)\)/, oneLine: true },
    { name: 'verify: a directory as evidence', args: ['attest', 'verify', '--format', 'tdx', '--evidence', 'F/sim'], code: 64, says: /--evidence .*sim: cannot read/, oneLine: true },
    { name: 'verify: huge evidence is refused unread', args: ['attest', 'verify', '--format', 'tdx', '--evidence', 'F/huge'], code: 64, says: /larger than the 8388608-byte limit/, oneLine: true },
    { name: 'verify: empty evidence is rejected', args: ['attest', 'verify', '--format', 'tdx', '--evidence', 'F/empty'], code: 3, says: /REJECTED/, stdout: true },
    { name: 'verify: garbage evidence is rejected', args: ['attest', 'verify', '--format', 'tdx', '--evidence', 'F/garbage'], code: 3, says: /REJECTED/, stdout: true },
    { name: 'verify: wrong type of --at', args: ['attest', 'verify', '--format', 'tdx', '--evidence', 'F/empty', '--at', 'yesterday'], code: 64, says: /--at: got "yesterday"/ },
    // attest issue / simulate init
    { name: 'issue: --out in a missing directory', args: ['attest', 'issue', ...reportData, ...sim, '--out', '/nonexistent-dir/x'], code: 64, says: /--out \/nonexistent-dir\/x: cannot write there: no such file or directory \(ENOENT\)/, oneLine: true, spawn: true },
    { name: 'issue: --out is a directory', args: ['attest', 'issue', ...reportData, ...sim, '--out', 'F/sim'], code: 64, says: /--out .*sim: cannot write there/, oneLine: true },
    { name: 'issue: --sim-dir holds no platform', args: ['attest', 'issue', ...reportData, '--tee', 'simulated', '--sim-dir', 'F/sa', '--out', 'W/x'], code: 64, says: /cannot read platform\.json/, oneLine: true },
    { name: 'simulate init: --out is a file', args: ['attest', 'simulate', 'init', '--out', 'F/afile'], code: 64, says: /--out .*afile: cannot write there: already exists and is not a directory/, oneLine: true },
    { name: 'simulate init: --out under /proc (used to spin forever)', args: ['attest', 'simulate', 'init', '--out', '/proc/ccmesh-x'], code: 64, says: /--out \/proc\/ccmesh-x: cannot write there/, oneLine: true, spawn: true },
    { name: 'simulate init: --out already a platform', args: ['attest', 'simulate', 'init', '--out', 'F/sim'], code: 64, says: /already holds a simulated platform/, oneLine: true },
    // manifest init
    { name: 'manifest init: --dir is a file', args: ['manifest', 'init', '--dir', 'F/afile', '--allow-unmeasured'], code: 64, says: /--dir .*afile: cannot write there: a part of the path is not a directory/, oneLine: true },
    { name: 'manifest init: garbage --simulated-root, nothing written', args: ['manifest', 'init', '--dir', 'W/ws', '--allow-unmeasured', '--simulated-root', 'F/garbage'], code: 64, says: /--simulated-root .*garbage: expected one PEM certificate/, oneLine: true },
    { name: 'manifest init: huge --simulated-root', args: ['manifest', 'init', '--dir', 'W/ws', '--allow-unmeasured', '--simulated-root', 'F/huge'], code: 64, says: /--simulated-root .*huge: cannot read \(\d+ bytes is larger/, oneLine: true },
    { name: 'manifest init: wrong type of measurement', args: ['manifest', 'init', '--dir', 'W/ws', '--snp-measurement', 'abc'], code: 64, says: /--snp-measurement: got "abc", expected 48 bytes of hex/ },
    // coordinator
    { name: 'coordinator: --store file: a file', args: coord('--store', 'file:F/afile'), code: 64, says: /--store file:.*afile: cannot write there: already exists and is not a directory/, oneLine: true, spawn: true },
    { name: 'coordinator: --store under /proc (used to spin and ignore SIGTERM)', args: coord('--store', 'file:/proc/ccmesh-x'), code: 64, says: /--store file:\/proc\/ccmesh-x: cannot write there/, oneLine: true, spawn: true },
    { name: 'coordinator: --listen-host not an address', args: ['coordinator', ...sim, '--store', 'memory', '--listen-host', '999.1.1.1'], code: 64, says: /--listen-host: got "999\.1\.1\.1", expected an IPv4 or IPv6 address/, spawn: true },
    { name: 'coordinator: equal ports', args: coord('--user-port', p1!, '--mesh-port', p1!, '--metrics-port', p2!), code: 64, says: /--mesh-port: got "\d+", expected a port other than --user-port's/, spawn: true },
    { name: 'coordinator: busy mesh port, nothing left listening', args: coord('--user-port', p3!, '--mesh-port', busyPort, '--metrics-port', p4!), code: 64, says: new RegExp(`--mesh-port ${busyPort}: cannot listen on 127\\.0\\.0\\.1:${busyPort}: the address is already in use`), oneLine: true, spawn: true },
    { name: 'coordinator: busy metrics port', args: coord('--user-port', p3!, '--mesh-port', p4!, '--metrics-port', busyPort), code: 64, says: /--metrics-port \d+: cannot listen .* already in use/, oneLine: true, spawn: true },
    { name: 'coordinator: wrong type of port', args: coord('--user-port', 'http'), code: 64, says: /--user-port: got "http", expected a port number/ },
    { name: 'coordinator: huge --etcd-ca', args: ['coordinator', '--store', 'etcd:https://127.0.0.1:2379', '--etcd-ca', 'F/huge', ...sim], code: 64, says: /--etcd-ca: .*larger than/, spawn: true },
    // injector
    { name: 'injector: --port equal to --metrics-port', args: ['injector', '--service-account-dir', 'F/sa', '--port', p1!, '--metrics-port', p1!], code: 64, says: /--metrics-port: got "\d+", expected a port other than --port's/, spawn: true },
    { name: 'injector: busy --metrics-port', args: ['injector', '--service-account-dir', 'F/sa', '--listen-host', '127.0.0.1', '--port', p2!, '--metrics-port', busyPort], code: 64, says: /--metrics-port \d+: cannot listen .* already in use/, oneLine: true, spawn: true },
    { name: 'injector: --listen-host not an address', args: ['injector', '--service-account-dir', 'F/sa', '--listen-host', '1.2.3.999'], code: 64, says: /--listen-host: got "1\.2\.3\.999"/ },
    // generate
    { name: 'generate: no workspace', args: ['generate', '--no-genpolicy', '--workspace', 'F/sa', 'F/app.yaml'], code: 64, says: /cannot read the manifest .*manifest\.json/, oneLine: true },
    { name: 'generate: -o is a file, nothing reported as written', args: ['generate', '--no-genpolicy', '--workspace', 'F/ws', '-o', 'F/afile', 'F/app.yaml'], code: 64, says: /--output .*afile: not a directory/, oneLine: true, spawn: true },
    { name: 'generate: -o under /proc', args: ['generate', '--no-genpolicy', '--workspace', 'F/ws', '-o', '/proc/ccmesh-x', 'F/app.yaml'], code: 64, says: /--output \/proc\/ccmesh-x: cannot write there/, oneLine: true },
    { name: 'generate: no file', args: ['generate'], code: 64, says: /FILE\|DIR: got nothing, expected at least one YAML file/ },
    { name: 'generate: missing file', args: ['generate', '--no-genpolicy', '--workspace', 'F/ws', 'F/nope.yaml'], code: 64, says: /cannot read .*nope\.yaml/, oneLine: true },
    { name: 'generate: huge file', args: ['generate', '--no-genpolicy', '--workspace', 'F/ws', 'F/huge'], code: 64, says: /FILE .*huge: cannot read \(\d+ bytes is larger/, oneLine: true },
    { name: 'generate: garbage YAML', args: ['generate', '--no-genpolicy', '--workspace', 'F/ws', '-o', 'W/out', 'F/bad.yaml'], code: 64, says: /bad\.yaml: document 1 is not valid YAML: [^\n]+ at line 2, column 1$/, oneLine: true },
    { name: 'generate: "-" with files', args: ['generate', '-', 'F/app.yaml'], code: 64, says: /FILE\|DIR: got "-", expected either "-"/ },
    { name: 'generate: garbage on stdin', args: ['generate', '--no-genpolicy', '--workspace', 'F/ws', '-'], stdin: 'a: [1\n', code: 64, says: /stdin\.yaml: document 1 is not valid YAML/, oneLine: true, spawn: true },
    // install
    { name: 'install: huge --values, nothing echoed', args: ['install', '--print', '--values', 'F/huge'], code: 64, says: /--values .*huge: cannot read \(\d+ bytes is larger/, oneLine: true, spawn: true },
    { name: 'install: missing --values', args: ['install', '--print', '--values', 'F/nope.yaml'], code: 64, says: /--values .*nope\.yaml: cannot read \(no such file/, oneLine: true },
    { name: 'install: garbage --values', args: ['install', '--print', '--values', 'F/bad.yaml'], code: 64, says: /--values .*bad\.yaml: not valid YAML/, oneLine: true },
    // session commands, initializer, proxy, iptables
    { name: 'set: a typo suggested', args: ['set', '--coordinatr', 'x:1'], code: 64, says: /--coordinatr: got nothing, expected a known flag \(did you mean --coordinator\?\)/ },
    { name: 'set: no workspace', args: ['set', '-c', '127.0.0.1:1', '--dir', 'F/nope', '--wait', '1s'], code: 64, says: /cannot read the .*manifest/, oneLine: true },
    { name: 'verify: -c missing', args: ['verify'], code: 64, says: /--coordinator: got nothing/ },
    { name: 'recover: wrong type of --wait', args: ['recover', '-c', 'h:1', '--wait', 'soon'], code: 64, says: /--wait: got "soon"/ },
    // check
    { name: 'check: a typo suggested', args: ['check', '--kubeconfg'], code: 64, says: /--kubeconfg: got nothing, expected a known flag \(did you mean --kubeconfig\?\)/ },
    { name: 'check: wrong --min-validity and --timeout', args: ['check', '--min-validity', 'soon', '--timeout', '0ms'], code: 64, says: /--min-validity: got "soon", expected a duration such as 7d[\s\S]*--timeout: got "0ms"/ },
    { name: 'check: bad --coordinator', args: ['check', '--coordinator', 'nohost'], code: 64, says: /--coordinator: got "nohost", expected HOST:PORT/ },
    { name: 'check: missing --kubeconfig', args: ['check', '--kubeconfig', 'F/nope.yaml'], code: 64, says: /--kubeconfig .*nope\.yaml: cannot read \(no such file/, oneLine: true },
    { name: 'check: huge --kubeconfig, nothing echoed', args: ['check', '--kubeconfig', 'F/huge'], code: 64, says: /--kubeconfig .*huge: cannot read \(\d+ bytes is larger/, oneLine: true },
    { name: 'check: --kubeconfig not YAML', args: ['check', '--kubeconfig', 'F/bad.yaml'], code: 64, says: /kubeconfig .*bad\.yaml: not YAML/, oneLine: true },
    { name: 'check: --kubeconfig without a context', args: ['check', '--kubeconfig', 'F/afile'], code: 64, says: /kubeconfig .*afile: \(document\): got "string", expected a kubeconfig mapping/, oneLine: true },
    { name: 'initializer: bad --coordinator before any guard', args: ['initializer', '--coordinator', '999.1.1.1', ...sim, '--no-guard'], code: 64, says: /--coordinator: got "999\.1\.1\.1", expected the Coordinator mesh API address HOST:PORT/, spawn: true },
    { name: 'proxy: unknown flag', args: ['proxy', '--bogus'], code: 64, says: /--bogus: got nothing/ },
    { name: 'iptables: unknown action, a near one suggested', args: ['iptables', 'aply'], code: 64, says: /^ccmesh iptables: unknown action "aply" \(did you mean "ccmesh iptables apply"\?\)/ },
  ];

  const work = join(root, 'work');
  mkdirSync(work);
  const results = new Map<string, Outcome>();
  const queue = rows.map((row, i) => ({ row, cwd: join(work, String(i)) }));
  const worker = async (): Promise<void> => {
    for (let next = queue.shift(); next !== undefined; next = queue.shift()) {
      mkdirSync(next.cwd);
      const cwd = next.cwd;
      const args = next.row.args.map((a) => a.replace(/^(file:)?F\//, `$1${F}/`).replace(/^W\//, `${cwd}/`));
      results.set(next.row.name, next.row.spawn === true ? await run(args, cwd, next.row.stdin, next.row.withinMs ?? DEFAULT_WITHIN_MS) : await runInProcess(args));
    }
  };
  await Promise.all(Array.from({ length: CONCURRENCY }, worker));

  rows.forEach((row, i) => {
    const r = results.get(row.name)!;
    void t.test(row.name, async (t) => {
      t.notOk(r.timedOut, `ended by itself within ${(row.withinMs ?? DEFAULT_WITHIN_MS) / 1000} s (took ${r.ms} ms)`);
      t.equal(r.code, row.code, `exit code (stderr: ${r.stderr.slice(0, 500)})`);
      t.notMatch(r.stderr, /^\s+at .+:\d+:\d+\)?$/m, 'no stack trace');
      t.notMatch(r.stderr, /internal error/, 'not an "internal error"');
      t.notMatch(r.stderr, /--\(positional\)|--c:|--o:/, 'no internal flag spellings');
      const lines = complaint(r.stderr);
      if (row.stdout === true) {
        t.match(r.stdout, row.says);
      } else {
        t.match(lines.join('\n'), row.says);
        t.ok(r.stderrBytes <= MAX_COMPLAINT_BYTES, `complaint is short (${r.stderrBytes} bytes)`);
        if (row.code !== 0) t.equal(r.stdoutBytes, 0, 'nothing on stdout when refusing');
      }
      if (row.oneLine === true) t.equal(lines.length, 1, `one line: ${JSON.stringify(lines)}`);
      if (row.code === 64 && row.oneLine !== true) t.match(lines.join('\n'), /\(run "ccmesh .* --help" for usage\)$|^Usage:$/m, 'usage, or where to find it, on stderr');
      const left = listing(join(work, String(i)));
      t.same(left, [], 'nothing written into the working directory');
    });
  });
  t.same(listing(F), fixturesBefore, 'nothing written beside the fixtures');
  t.equal(statSync(join(F, 'afile')).isFile(), true);
});
