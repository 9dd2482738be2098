/**
 * Pre-flight checks before an implementation is measured: a request through its egress gets 200 with the full
 * body, and its mTLS ingress answers a client with a mesh cert but refuses a client with no cert or a rogue-CA cert.
 * A stack that fails any check is not measured (an open ingress would be measured doing less work).
 */
import { readFileSync } from 'node:fs';
import { connect } from 'node:tls';
import type { RunningPeer } from '../peers/peer.js';
import type { TestPki, WorkloadFiles } from './pki.js';

const REQUEST = 'GET /1k HTTP/1.1\r\nHost: bench\r\nConnection: close\r\n\r\n';

/** Sends one request over mTLS and resolves with the status line, or with `refused: <reason>`. */
function tlsGet(port: number, pki: TestPki, client: WorkloadFiles | undefined): Promise<string> {
  return new Promise((resolve) => {
    let data = '';
    const s = connect({
      host: '127.0.0.1',
      port,
      servername: pki.workloadB.dnsName,
      ca: readFileSync(pki.trustBundle),
      minVersion: 'TLSv1.3',
      ...(client ? { cert: readFileSync(client.chain), key: readFileSync(client.key) } : {}),
    });
    s.setTimeout(3000, () => s.destroy(new Error('timeout')));
    s.once('secureConnect', () => s.write(REQUEST));
    s.on('data', (d: Buffer) => (data += d.toString('latin1')));
    // on, not once: a timeout can destroy the socket with a second error after the first (a busy machine).
    s.on('error', (err) => resolve(data.startsWith('HTTP/') ? data.split('\r\n')[0]! : `refused: ${err.message}`));
    s.once('close', () => resolve(data.startsWith('HTTP/') ? data.split('\r\n')[0]! : 'refused: closed without a response'));
  });
}

async function plainGet(port: number): Promise<string | undefined> {
  try {
    const res = await fetch(`http://127.0.0.1:${port}/1k`, { signal: AbortSignal.timeout(5000) });
    const body = await res.arrayBuffer();
    return res.status === 200 && body.byteLength === 1024 ? undefined : `status ${res.status}, ${body.byteLength} bytes`;
  } catch (err) {
    return (err as Error).message;
  }
}

/** Returns every failed check (empty when the stack is sound). */
export async function checkPeer(peer: RunningPeer, pki: TestPki): Promise<string[]> {
  const problems: string[] = [];
  const viaEgress = await plainGet(peer.target.h1);
  if (viaEgress !== undefined) problems.push(`GET /1k through the path failed: ${viaEgress}`);
  if (peer.mtlsIngressH1 === undefined) return problems;
  const good = await tlsGet(peer.mtlsIngressH1, pki, pki.workloadA);
  if (!/^HTTP\/1\.1 200/.test(good)) problems.push(`mesh client cert not accepted by the ingress: ${good}`);
  const none = await tlsGet(peer.mtlsIngressH1, pki, undefined);
  if (none.startsWith('HTTP/')) problems.push(`ingress answered a client without a cert: ${none}`);
  const rogue = await tlsGet(peer.mtlsIngressH1, pki, pki.rogue);
  if (rogue.startsWith('HTTP/')) problems.push(`ingress answered a rogue-CA client cert: ${rogue}`);
  return problems;
}
