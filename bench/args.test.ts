/** The benchmark's flags. */
import t from 'tap';
import { parseBenchArgs } from './args.js';

const peers = ['direct', 'haproxy', 'nginx', 'ccmesh'];

void t.test('defaults, --quick, --only and --peers', (t) => {
  t.same(parseBenchArgs([], peers).args.only, ['proxy', 'attestation', 'coordinator', 'replicas']);
  const { args, problems } = parseBenchArgs(['--quick', '--only', 'proxy', '--peers', 'direct,haproxy'], peers);
  t.same(problems, []);
  t.equal(args.quick, true);
  t.same(args.only, ['proxy']);
  t.same(args.peers, ['direct', 'haproxy']);
  t.end();
});

void t.test('every problem is reported at once', (t) => {
  const { problems } = parseBenchArgs(['--only', 'proxies', '--peers', 'envoy', '--fast', '--out'], peers);
  t.equal(problems.length, 4);
  t.match(problems.join('\n'), /--only: unknown proxies/);
  t.match(problems.join('\n'), /--peers: unknown envoy/);
  t.match(problems.join('\n'), /unknown argument "--fast"/);
  t.match(problems.join('\n'), /--out: expected a directory/);
  t.end();
});

void t.test('--scenarios, --node, --node-flags and --profile', (t) => {
  const { args, problems } = parseBenchArgs(['--scenarios', 'h1-1k-64', '--node', '/opt/node22/bin/node', '--node-flags', '--max-semi-space-size=2 --optimize-for-size', '--profile', '/tmp/p'], peers, ['h1-1k-64', 'h1-1m-16']);
  t.same(problems, []);
  t.same(args.scenarios, ['h1-1k-64']);
  t.same(args.launch, { node: '/opt/node22/bin/node', nodeFlags: ['--max-semi-space-size=2', '--optimize-for-size'], profileDir: '/tmp/p' });
  t.same(parseBenchArgs([], peers).args.launch, { nodeFlags: [] });
  const bad = parseBenchArgs(['--scenarios', 'h9', '--node-flags', 'semi=2', '--node'], peers, ['h1-1k-64']).problems;
  t.match(bad.join('\n'), /--scenarios: unknown h9; expected h1-1k-64/);
  t.match(bad.join('\n'), /--node-flags: "semi=2" is not a flag/);
  t.match(bad.join('\n'), /--node: expected a node binary/);
  t.end();
});
