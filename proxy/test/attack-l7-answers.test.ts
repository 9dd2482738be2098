/**
 * Attacks on the L7 path through the app's answers: a mesh peer (a genuine leaf, `web`) makes the app behind an
 * `mtls+http` port answer something an HTTP/1.1 client takes but HTTP/2 refuses to carry, e.g. a field HTTP/2 allows
 * once (`Content-Type`, `Date`, `Location`, …) given twice. The inbound sidecar must answer that one request with an
 * error and keep serving; it must never crash on it (an unhandled rejection ends the Node process: every connection
 * of the pod would go with it).
 */
import t from 'tap';
import type { OutgoingHttpHeaders } from 'node:http2';
import { startL7Rig } from './l7-rig.js';
import { h2Request, rawTunnel } from './tunnel-client.js';

const send = h2Request;

void t.test('attack: an app answer HTTP/2 cannot carry (a single-value field twice) does not crash the sidecar', async (t) => {
  const rig = await startL7Rig(t);
  const rejections: unknown[] = [];
  const onRejection = (err: unknown): void => {
    rejections.push(err);
  };
  // Caught here so that the test reports it (without it, the process — the sidecar in production — dies).
  process.on('unhandledRejection', onRejection);
  t.teardown(() => process.off('unhandledRejection', onRejection));
  const session = await rawTunnel(rig.mesh, rig.in('web'), rig.files.web);
  t.teardown(() => session.destroy());
  const req = (path: string): OutgoingHttpHeaders => ({ ':method': 'GET', ':scheme': 'http', ':authority': `127.0.0.1:${rig.in('web')}`, ':path': path });
  const dup = await send(session, req('/dup'));
  t.equal(dup.status, 502, 'the answer HTTP/2 cannot carry is a 502');
  // Let any rejection of that request surface before checking.
  await new Promise((r) => setImmediate(r));
  t.same(rejections.map((e) => (e as { code?: string }).code ?? String(e)), [], 'no unhandled rejection in the sidecar');
  const after = await send(session, req('/'));
  t.equal(after.status, 200, 'the sidecar keeps serving the same pooled connection');
  t.equal(after.body, 'hello');
});
