/**
 * Forwarding an admitted inbound connection: open the plaintext leg to 127.0.0.1:APP_PORT only now (after the
 * handshake and the identity check), then splice. The app never sees a connection the mesh refused.
 */
import { connect, type NetConnectOpts, type Socket } from 'node:net';
import type { TLSSocket } from 'node:tls';
import { ignoreSocketError } from '../transport/listen.js';
import { HIGH_WATER_MARK, type DataPathOptions } from '../transport/options.js';
import { splice } from '../transport/splice.js';
import type { ConnectionTracker } from '../transport/tracker.js';
import { endConnection, type ConnectionMetrics } from '../metrics.js';

/** Everything one inbound listener's forwarder needs; built once per listener. */
export interface InboundForwarder {
  readonly tracker: ConnectionTracker;
  readonly options: DataPathOptions;
}

/**
 * Connects to 127.0.0.1:appPort and splices `client` with it. IPv6 clients are forwarded over IPv4 loopback too:
 * an app bound to 0.0.0.0 or a dual-stack `::` receives them, and the explicit and transparent paths behave alike.
 */
export function forwardToApp(f: InboundForwarder, appPort: number, client: TLSSocket, m: ConnectionMetrics): void {
  // highWaterMark reaches the Duplex constructor through net.Socket's options; @types/node does not list it.
  const opts: NetConnectOpts & { highWaterMark: number } = { host: '127.0.0.1', port: appPort, allowHalfOpen: true, noDelay: true, highWaterMark: HIGH_WATER_MARK };
  const app: Socket = connect(opts);
  app.on('error', ignoreSocketError);
  f.tracker.add(app);
  let connected = false;
  const abort = (): void => {
    if (!connected) app.destroy();
  };
  // The client may leave while the app connect is pending.
  client.once('close', abort);
  app.once('close', () => {
    if (!connected) {
      client.destroy();
      endConnection(m, 'upstream-error');
    }
  });
  app.once('connect', () => {
    connected = true;
    client.off('close', abort);
    splice(client, app, f.options.idleTimeoutMs, (failed) => {
      endConnection(m, failed ? 'error' : 'ok');
      m.peer.received.inc(app.bytesWritten);
      m.peer.sent.inc(app.bytesRead);
    });
  });
}
