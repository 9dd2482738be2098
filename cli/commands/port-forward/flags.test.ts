/**
 * `ccmesh port-forward` argument parsing (table-driven) and the kubectl launcher's failures: every bad flag or argument
 * is named with its value and what was expected (ConfigError, exit 64); a missing kubectl says so and what to do.
 */
import t from 'tap';
import { ConfigError, CcmeshError, ErrorCode } from '../../../lib/errors.js';
import { parsePortForwardArgs } from './flags.js';
import { startKubectlForward } from './kubectl.js';

const base = ['-c', '127.0.0.1:1313', '--identity', 'web.default.svc'];

void t.test('valid arguments', (t) => {
  const pod = parsePortForwardArgs(['pod/web-0', '8080:80', ...base, '-n', 'shop']);
  t.same(pod.target, { kind: 'pod', name: 'web-0', namespace: 'shop' }, 'pod/NAME with a namespace');
  t.equal(pod.localPort, 8080);
  t.equal(pod.remotePort, 80);
  t.equal(pod.listenHost, '127.0.0.1', 'listens on loopback by default');
  t.equal(pod.mtlsPort, 15006, 'the pod\'s mTLS port by default');
  t.same(pod.identity, { kind: 'dns', value: 'web.default.svc' });
  const direct = parsePortForwardArgs(['10.1.2.3', '5432:5432', ...base, '--mtls-port', '16006']);
  t.same(direct.target, { kind: 'address', host: '10.1.2.3' }, 'an IP address is a direct connection');
  t.equal(direct.mtlsPort, 16006);
  t.same(parsePortForwardArgs(['[fd00::1]', '1:2', ...base]).target, { kind: 'address', host: 'fd00::1' }, 'bracketed IPv6');
  t.same(parsePortForwardArgs(['web-0', '1:2', '-c', 'c:1', '--identity', '*']).identity, { kind: 'any' }, '* = any workload of the mesh');
  t.end();
});

void t.test('bad arguments: every problem named at once, as a ConfigError (exit 64)', (t) => {
  const rows: [string[], RegExp[]][] = [
    [[], [/POD-OR-ADDRESS/, /LOCAL:REMOTE/, /--coordinator/, /--identity/]],
    [['web-0', '8080', ...base], [/LOCAL:REMOTE.*"8080".*two port numbers/]],
    [['web-0', '0:80', ...base], [/LOCAL:REMOTE.*"0:80"/]],
    [['web-0', '80:70000', ...base], [/LOCAL:REMOTE.*"80:70000"/]],
    [['Web_0', '80:80', ...base], [/POD-OR-ADDRESS.*"Web_0".*pod name/]],
    [['web-0', '80:80', 'extra', ...base], [/argument.*"extra".*exactly two arguments/]],
    [['web-0', '80:80', '-c', 'c:1', '--identity', 'not a name'], [/--identity.*"not a name"/]],
    [['10.0.0.1', '80:80', ...base, '-n', 'shop'], [/--namespace.*"shop".*no --namespace with an IP address/]],
    [['web-0', '80:80', ...base, '--mtls-port', '0'], [/--mtls-port.*"0"/]],
    [['web-0', '80:80', ...base, '--address', 'example.com'], [/--address.*"example.com"/]],
    [['web-0', '80:80', ...base, '--bogus'], [/bogus/]],
  ];
  for (const [argv, says] of rows) {
    const err = (() => {
      try {
        parsePortForwardArgs(argv);
        return undefined;
      } catch (e) {
        return e;
      }
    })();
    t.ok(err instanceof ConfigError, `${JSON.stringify(argv)}: a ConfigError`);
    for (const re of says) t.match((err as Error).message, re, `${JSON.stringify(argv)}: ${re.source}`);
  }
  t.end();
});

void t.test('kubectl absent: a clear error naming what to do', async (t) => {
  const err = await startKubectlForward('/nonexistent/ccmesh-pf-kubectl', 'web-0', undefined, 15006).then(() => undefined, (e: unknown) => e);
  t.ok(err instanceof CcmeshError && err.code === ErrorCode.PORT_FORWARD_KUBECTL, 'PORT_FORWARD_KUBECTL');
  t.match((err as Error).message, /kubectl was not found \(\/nonexistent\/ccmesh-pf-kubectl\): install kubectl, pass --kubectl PATH, or give the pod's IP address/);
  const early = await startKubectlForward('/bin/false', 'web-0', 'shop', 15006).then(() => undefined, (e: unknown) => e);
  t.match((early as Error).message, /\/bin\/false port-forward -n shop pod\/web-0 0:15006 exited \(1\) before forwarding/, 'a kubectl that exits early: its command line and exit code');
});
