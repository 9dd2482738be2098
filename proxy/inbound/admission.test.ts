import t from 'tap';
import { EventEmitter } from 'node:events';
import type { Socket } from 'node:net';
import { HandshakeAdmission, sourceKey } from './admission.js';

/** The part of a socket admission reads: its remote address and its 'close' event. */
function fakeSocket(remoteAddress: string | undefined): Socket & { close(): void } {
  const e = new EventEmitter() as EventEmitter & { remoteAddress: string | undefined; close(): void };
  e.remoteAddress = remoteAddress;
  e.close = () => e.emit('close');
  return e as unknown as Socket & { close(): void };
}

void t.test('source keys', (t) => {
  t.equal(sourceKey('198.18.0.7'), '198.18.0.7', 'IPv4: the address');
  t.equal(sourceKey('::ffff:198.18.0.7'), '198.18.0.7', 'IPv4-mapped IPv6 (dual-stack listener): the IPv4 address');
  t.equal(sourceKey('fd00:cce::1'), sourceKey('fd00:0cce:0:0:0:0:0:0001'), 'IPv6: the canonical address');
  t.not(sourceKey('fd00:cce::2'), sourceKey('fd00:cce::1'), 'another address of the same /64 is another source (pods of a node share one)');
  t.equal(sourceKey(undefined), undefined);
  t.end();
});

void t.test('pending handshakes are bounded per source and in total', (t) => {
  const a = new HandshakeAdmission({ maxHandshakes: 5, maxUnauthenticatedPerSource: 2 });
  const s1 = fakeSocket('10.0.0.1');
  const s2 = fakeSocket('10.0.0.1');
  const s3 = fakeSocket('10.0.0.1');
  t.equal(a.admit(s1), undefined, 'first from a source: admitted');
  t.equal(a.admit(s2), undefined, 'second: admitted');
  t.equal(a.admit(s3), 'too-many-from-source', 'third from the same source while two are pending: refused');
  t.equal(a.admit(fakeSocket('::ffff:10.0.0.1')), 'too-many-from-source', 'the same source through a dual-stack socket: refused too');
  t.equal(a.pending, 2);
  a.release(s1);
  a.release(s1);
  t.equal(a.pending, 1, 'release is idempotent');
  t.equal(a.admit(s3), undefined, 'a slot freed by a completed handshake is reusable');
  s2.close();
  t.equal(a.pending, 1, 'a socket that closes mid-handshake frees its slot');
  t.equal(a.sources, 1);
  for (const ip of ['10.0.0.2', '10.0.0.3', '10.0.0.4', '10.0.0.5', '10.0.0.6']) t.equal(a.admit(fakeSocket(ip)), ip === '10.0.0.6' ? 'too-many-handshakes' : undefined, `${ip}: ${ip === '10.0.0.6' ? 'over the total: refused' : 'admitted'}`);
  t.equal(a.admit(fakeSocket(undefined)), 'too-many-from-source', 'a socket without a remote address is refused');
  t.end();
});

void t.test('a connection without a mesh identity keeps its per-source slot after the handshake', (t) => {
  const a = new HandshakeAdmission({ maxHandshakes: 10, maxUnauthenticatedPerSource: 2 });
  const tls1 = fakeSocket('10.0.0.9');
  const tls2 = fakeSocket('10.0.0.9');
  const mtls = fakeSocket('10.0.0.9');
  t.equal(a.admit(tls1), undefined);
  t.equal(a.admit(tls2), undefined);
  a.handshakeDone(tls1, false);
  a.handshakeDone(tls2, false);
  t.equal(a.pending, 0, 'their handshake slots are free');
  t.equal(a.admit(mtls), 'too-many-from-source', 'but two established tls-port connections still count for their source');
  tls1.close();
  t.equal(a.admit(mtls), undefined, 'a closed one frees the slot');
  a.handshakeDone(mtls, true);
  t.equal(a.admit(fakeSocket('10.0.0.9')), undefined, 'an mTLS connection admitted by the gate frees its per-source slot');
  t.end();
});
