/** The load tools' parsers on output recorded from real runs (bench/testdata), and on broken output. */
import { readFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import t from 'tap';
import { parseH2loadOutput } from './h2load-output.js';
import { loadArgv, reduceLoadOutput } from './load.js';
import { parseProcStat, parseVmRssBytes } from './proc-stat.js';
import { SCENARIOS } from './scenarios.js';
import { parseWrkOutput, renderWrkScript } from './wrk-output.js';

const testdata = resolve(fileURLToPath(import.meta.url), '..', '..', '..', '..', 'bench', 'testdata');
const read = (f: string): string => readFileSync(join(testdata, f), 'utf8');
const scenario = (id: string) => SCENARIOS.find((s) => s.id === id)!;

void t.test('wrk: the done() JSON line of recorded runs', (t) => {
  const cases = [
    { file: 'wrk-keepalive.txt', requests: 225741, p99: 210 },
    { file: 'wrk-close.txt', requests: 45634, p99: 631 },
    { file: 'wrk-fixed-rate.txt', requests: 3865, p99: 244 },
  ];
  for (const c of cases) {
    const r = parseWrkOutput(read(c.file));
    t.equal(r.requests, c.requests, `${c.file} requests`);
    t.equal(r.latencyUs.p99, c.p99, `${c.file} p99`);
    t.ok(r.latencyUs.p50 <= r.latencyUs.p99 && r.latencyUs.p99 <= r.latencyUs.p999, `${c.file} percentiles ordered`);
    t.equal(r.errors.status, 0, `${c.file} no non-2xx`);
  }
  t.end();
});

void t.test('wrk: missing or malformed JSON is an error, not zeros', (t) => {
  t.throws(() => parseWrkOutput('Running 2s test\n  1 threads and 16 connections\n'), /no WRK_JSON line/);
  t.throws(() => parseWrkOutput('WRK_JSON {"requests":"many"}\n'), /"requests" is not a number/);
  t.end();
});

void t.test('wrk: the script carries the scenario options', (t) => {
  t.match(renderWrkScript({ connectionClose: true }), /wrk\.headers\["Connection"\] = "close"/);
  t.match(renderWrkScript({ delayMs: 8 }), /delay = function\(\) return 8 end/);
  t.notMatch(renderWrkScript({}), /delay|Connection/);
  t.end();
});

void t.test('h2load: the recorded h2c run', (t) => {
  const r = parseH2loadOutput(read('h2load-h2c.txt'));
  t.equal(r.reqPerSec, 71483.5);
  t.equal(r.succeeded, 142967);
  t.equal(r.failed, 0);
  t.equal(r.latencyUs.mean, 2230);
  t.equal(r.latencyUs.max, 8010);
  t.equal(r.latencyUs.min, 45);
  t.throws(() => parseH2loadOutput('starting benchmark...\n'), /no "finished in" line/);
  t.end();
});

void t.test('load: tool output reduced to one shape', (t) => {
  const w = reduceLoadOutput(scenario('h1-1k-16'), read('wrk-keepalive.txt'));
  t.equal(Math.round(w.reqPerSec), Math.round(225741 / 2.100271));
  t.equal(w.errors, 0);
  t.equal(w.latencyUs.p99, 210);
  const h = reduceLoadOutput(scenario('h2-1k-16x10'), read('h2load-h2c.txt'));
  t.equal(h.requests, 142967);
  t.equal(h.latencyUs.p99, undefined, 'h2load has no percentiles');
  const [cmd, args] = loadArgv(scenario('h2-1k-16x10'), 8080, 2, '');
  t.equal(cmd, 'h2load');
  t.same(args, ['-t1', '-c16', '-m10', '-D', '2', 'http://127.0.0.1:8080/1k']);
  t.end();
});

void t.test('/proc parsing', (t) => {
  const stat = '1234 (nginx: worker (x)) S 1200 1234 1234 0 -1 4194560 300 0 0 0 150 37 0 0 20 0 1 0 100 1000 200';
  t.same(parseProcStat(stat), { ppid: 1200, utimeTicks: 150, stimeTicks: 37 });
  t.equal(parseVmRssBytes('Name:\tnginx\nVmRSS:\t   20480 kB\nThreads:\t1\n'), 20480 * 1024);
  t.equal(parseVmRssBytes('Name:\tzombie\n'), 0);
  t.end();
});
