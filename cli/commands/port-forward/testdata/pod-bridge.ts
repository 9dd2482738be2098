/**
 * The kubelet's half of the fake `kubectl port-forward` (port-forward namespace test): started inside the pod's
 * network namespace (`ip netns exec POD node pod-bridge.js SOCKET PORT`), it accepts on a unix socket (reachable
 * from the host's namespace through the file system) and connects each connection to the pod's 127.0.0.1:PORT.
 */
import { rmSync } from 'node:fs';
import { connect, createServer } from 'node:net';

const [socketPath = '', portText = '15006'] = process.argv.slice(2);
rmSync(socketPath, { force: true });
const server = createServer({ allowHalfOpen: true }, (host) => {
  const pod = connect({ port: Number(portText), host: '127.0.0.1', allowHalfOpen: true });
  host.pipe(pod);
  pod.pipe(host);
  host.on('error', () => pod.destroy());
  pod.on('error', () => host.destroy());
  // Half-closes travel (pipe ends the other side); a socket closes once both directions have ended.
});
server.listen(socketPath, () => process.stdout.write('listening\n'));
