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
