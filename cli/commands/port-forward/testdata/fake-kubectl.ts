/**
 * A stand-in for `kubectl port-forward` in the port-forward namespace test (the untrusted relay: API server and
 * kubelet): invoked as `fake-kubectl port-forward [-n NS] pod/NAME 0:PORT`, it listens on an ephemeral 127.0.0.1
 * port, prints kubectl's "Forwarding from 127.0.0.1:P -> PORT" line, and relays each connection byte for byte to
 * the pod bridge's unix socket ($PF_BRIDGE_SOCKET; the bridge runs inside the pod's network namespace and dials the
 * pod's 127.0.0.1:PORT, as the kubelet does). Every relayed byte, both directions, is appended to $PF_CAPTURE_FILE:
 * what the host sees. The arguments it was given go to $PF_CAPTURE_FILE.args.
 */
import { appendFileSync, writeFileSync } from 'node:fs';
import { connect, createServer } from 'node:net';

const socketPath = process.env.PF_BRIDGE_SOCKET ?? '';
const capture = process.env.PF_CAPTURE_FILE ?? '';
writeFileSync(`${capture}.args`, JSON.stringify(process.argv.slice(2)));
const target = (process.argv.slice(2).find((a) => /^0:\d+$/.test(a)) ?? '0:15006').slice(2);

const server = createServer({ allowHalfOpen: true }, (client) => {
  const pod = connect({ path: socketPath, allowHalfOpen: true });
  client.on('data', (d: Buffer) => appendFileSync(capture, d));
  pod.on('data', (d: Buffer) => appendFileSync(capture, d));
  client.pipe(pod);
  pod.pipe(client);
  client.on('error', () => pod.destroy());
  pod.on('error', () => client.destroy());
  // Half-closes travel (pipe ends the other side); a socket closes once both directions have ended.
});
server.listen(0, '127.0.0.1', () => {
  const address = server.address();
  const port = typeof address === 'object' && address !== null ? address.port : 0;
  process.stdout.write(`Forwarding from 127.0.0.1:${port} -> ${target}\nForwarding from [::1]:${port} -> ${target}\n`);
});
