/**
 * Attacker review (#21 probe rewrite; needs wip/k8s2's proxy/admin/app-probe.ts and the async probe handlers of
 * lib/http/admin-server.ts): the admin port is plaintext and reachable by the host and by neighbouring pods. An app
 * probe answers asynchronously, and Node's HTTP server applies backpressure to pipelined requests only by the size of
 * responses already written: a response still waiting for the app holds no bytes, so a client that pipelines
 * `GET /app-health/…` requests on one connection makes the sidecar keep a request and a response object for every
 * one of them until the probe ends (up to its timeoutSeconds, at most 60 s). Measured: one connection pipelining for
 * 4 s against a hanging app → 180 000 pending requests, +227 MiB RSS (the same flood of `/live` → +34 MiB, answers
 * written at once, then paused). Over a 60 s probe timeout that is gigabytes: the sidecar (the pod's whole data path)
 * is OOM-killed.
 *
 * Fixed in lib/http/admin-server.ts: one waiting probe answer per connection; a further call on the same connection is
 * answered 503 at once ("probe busy"), which is written (queued behind the waiting one) and so brings Node's
 * backpressure back. kubelet makes one request per connection and is unaffected.
 */
import { createServer, type Server } from 'node:http';
import { connect, type AddressInfo } from 'node:net';
import t from 'tap';
import { Registry } from 'prom-client';
import { APP_PROBE_ANSWERS } from './app-probe.js';
import { startAdminServer } from './server.js';

/** Most app-probe answers one connection may keep waiting at once (the fix allows 1; any small bound passes). */
const MAX_WAITING = 256;
/** Requests pipelined on one connection: far more than any bound. */
const PIPELINED = 20_000;

void t.test('attack: pipelined app-probe calls are not held in memory without bound while the probe waits', { timeout: 30_000 }, async (t) => {
  // An app that accepts and never answers (wedged: exactly when a liveness probe matters).
  const app: Server = createServer(() => undefined);
  await new Promise<void>((r) => app.listen(0, '127.0.0.1', r));
  t.teardown(() => new Promise<void>((r) => {
    app.closeAllConnections();
    app.close(() => r());
  }));
  const appPort = (app.address() as AddressInfo).port;
  const probe = { container: 'web', kind: 'liveness' as const, check: { type: 'http' as const, port: appPort, path: '/healthz', scheme: 'HTTP' as const, headers: [] }, timeoutSeconds: 1 };
  const adm = await startAdminServer('127.0.0.1', 0, { notReadyReason: () => undefined }, new Registry(), [probe]);
  t.teardown(() => adm.close());

  const one = 'GET /app-health/web/liveness HTTP/1.1\r\nHost: x\r\n\r\n';
  const socket = connect(adm.port, '127.0.0.1');
  t.teardown(() => socket.destroy());
  await new Promise<void>((r, j) => {
    socket.once('connect', r);
    socket.once('error', j);
  });
  let text = '';
  socket.setEncoding('latin1');
  socket.on('data', (d: string) => (text += d));
  socket.on('error', () => undefined);
  socket.write(one.repeat(PIPELINED));
  // The first probe times out after 1 s; every request parsed by then and still waiting is answered "timeout" at once.
  // The leading run of "timeout" answers is how many waited together for that one probe.
  // Read until the run has ended (another answer follows it) or every request was answered, or 15 s.
  let answers: string[] = [];
  let firstOther = -1;
  for (const until = Date.now() + 15_000; Date.now() < until; await new Promise((r) => setTimeout(r, 200))) {
    // Whole answers only (chunked: they end with the last chunk); the last one may still be arriving.
    answers = text.split('HTTP/1.1 ').slice(1).filter((a) => a.endsWith('\r\n0\r\n\r\n'));
    firstOther = answers.findIndex((a) => !a.includes(APP_PROBE_ANSWERS.timeout.body));
    if (firstOther >= 0 || answers.length >= PIPELINED) break;
  }
  const waited = firstOther < 0 ? answers.length : firstOther;
  t.ok(waited >= 1, `control: the hanging app made the probe time out (${answers.length} answers in all)`);
  t.ok(waited <= MAX_WAITING, `at most ${MAX_WAITING} answers waited for the probe at once (${waited} of ${PIPELINED} pipelined requests were held until it ended)`);
});
