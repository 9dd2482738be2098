/**
 * `ccmesh port-forward POD-OR-ADDRESS LOCAL:REMOTE`: parse → read the workspace → attest the Coordinator and get an
 * operator certificate → (kubectl port-forward) → listen on LOCAL → per connection: mTLS to the pod's mTLS port with
 * REMOTE in the server name, the pod's certificate checked against the mesh CA and --identity → splice → until a
 * signal. Nothing in plaintext leaves this machine.
 */
import { createServer, type Server, type Socket } from 'node:net';
import { connect, type TLSSocket } from 'node:tls';
import { forwardServerName } from '../../../contract/operator-identity.js';
import { DirectoryTdxCollateral } from '../../../contract/attestation/tdx-collateral.js';
import { systemClock } from '../../../lib/clock.js';
import { describeError } from '../../../lib/errors.js';
import { EXIT } from '../../../lib/exit-codes.js';
import { formatEgressIdentity } from '../../../lib/mesh-config/egress.js';
import { buildServerIdentityCheck } from '../../../proxy/outbound/upstream-identity.js';
import type { SessionOptions } from '../../coordinator-session.js';
import { wantsHelp } from '../../flags.js';
import type { CliIo } from '../../io.js';
import { readWorkspaceKey, readWorkspaceManifest, readWorkspaceMeshOwner, workspacePaths } from '../../workspace.js';
import { obtainOperatorCredentials, OperatorCredentialKeeper, tlsOptionsOf } from './credentials.js';
import { parsePortForwardArgs, PORT_FORWARD_USAGE } from './flags.js';
import { type KubectlForward, startKubectlForward } from './kubectl.js';

/** Handshake bound for each forwarded connection. */
const HANDSHAKE_TIMEOUT_MS = 10_000;

/** Runs `ccmesh port-forward`. */
export async function portForwardCommand(argv: readonly string[], io: CliIo): Promise<number> {
  if (wantsHelp(argv)) {
    io.stdout(PORT_FORWARD_USAGE);
    return EXIT.ok;
  }
  const cfg = parsePortForwardArgs(argv);
  const { manifest } = await readWorkspaceManifest(cfg.dir, io.stderr);
  const owner = await readWorkspaceMeshOwner(cfg.dir, manifest);
  const ownerKeyPath = cfg.ownerKeyPath ?? workspacePaths(cfg.dir).ownerKey;
  const ownerKey = await readWorkspaceKey(ownerKeyPath, 'workload owner key (--owner-key)');
  const session: SessionOptions = cfg.tdxCollateralDir === undefined
    ? { io, waitMs: cfg.waitMs }
    : { io, waitMs: cfg.waitMs, tdxCollateral: await DirectoryTdxCollateral.open(cfg.tdxCollateralDir, { clock: systemClock }) };
  const src = { coordinator: cfg.coordinator, manifest, meshOwner: owner.pin, ownerKey, session };
  const initial = await obtainOperatorCredentials(src);
  io.stderr(`attested the Coordinator at ${cfg.coordinator}; operator certificate ${initial.operatorId} valid until ${new Date(initial.notAfterMs).toISOString()}\n`);
  const keeper = new OperatorCredentialKeeper(initial, src, io.stderr);

  let kubectl: KubectlForward | undefined;
  let server: Server | undefined;
  try {
    let host: string;
    let port: number;
    if (cfg.target.kind === 'pod') {
      kubectl = await startKubectlForward(cfg.kubectl, cfg.target.name, cfg.target.namespace, cfg.mtlsPort);
      host = '127.0.0.1';
      port = kubectl.port;
      io.stderr(`kubectl port-forward pod/${cfg.target.name} relays 127.0.0.1:${port} to the pod's mTLS port ${cfg.mtlsPort} (it sees only TLS)\n`);
    } else {
      host = cfg.target.host;
      port = cfg.mtlsPort;
    }
    const check = buildServerIdentityCheck(cfg.identity);
    const servername = forwardServerName(cfg.remotePort);
    let n = 0;
    server = createServer({ allowHalfOpen: true, noDelay: true }, (local: Socket) => {
      const id = ++n;
      local.on('error', () => undefined);
      const tls: TLSSocket = connect({
        ...tlsOptionsOf(keeper.current),
        host,
        port,
        servername,
        checkServerIdentity: check,
      });
      let secure = false;
      let failed = false;
      let received = 0;
      const timer = setTimeout(() => tls.destroy(new Error(`no TLS handshake within ${HANDSHAKE_TIMEOUT_MS / 1000} s`)), HANDSHAKE_TIMEOUT_MS);
      tls.once('secureConnect', () => {
        clearTimeout(timer);
        secure = true;
        tls.setNoDelay(true);
        io.stderr(`connection ${id}: mTLS to the pod established (its certificate verified: ${formatEgressIdentity(cfg.identity)})\n`);
        local.pipe(tls);
        tls.pipe(local);
      });
      tls.on('data', (d: Buffer) => (received += d.length));
      tls.on('error', (err) => {
        clearTimeout(timer);
        failed = true;
        io.stderr(`connection ${id}: ${secure ? 'ended' : 'refused'}: ${describeError(err)}\n`);
        local.destroy();
      });
      tls.once('close', () => {
        clearTimeout(timer);
        // The sidecar checks the operator certificate after the TLS 1.3 handshake has completed on this side, so a
        // refusal shows up as a connection closed without an answer.
        if (!failed) io.stderr(received > 0 ? `connection ${id}: closed (${received} bytes from the pod)\n` : `connection ${id}: closed by the pod without an answer (refused? port ${cfg.remotePort} must have an mtls+operator ingress entry)\n`);
        if (!local.destroyed) local.end();
      });
      local.once('close', () => tls.destroy());
    });
    await new Promise<void>((resolve, reject) => {
      server!.once('error', reject);
      server!.listen(cfg.localPort, cfg.listenHost, () => resolve());
    });
    const where = cfg.target.kind === 'pod' ? `pod/${cfg.target.name}` : cfg.target.host;
    io.stderr(`Forwarding from ${cfg.listenHost}:${cfg.localPort} -> ${where}:${cfg.remotePort} over mTLS (pod identity ${formatEgressIdentity(cfg.identity)})\n`);
    const stopped = new Promise<void>((resolve) => {
      if (io.signal?.aborted) return resolve();
      io.signal?.addEventListener('abort', () => resolve(), { once: true });
    });
    const kubectlEnded = kubectl?.exited.then((last) => `kubectl port-forward ended${last ? `: ${last}` : ''}`);
    const why = await Promise.race([stopped.then(() => undefined), ...(kubectlEnded ? [kubectlEnded] : [])]);
    if (why !== undefined) {
      io.stderr(`ccmesh port-forward: ${why}\n`);
      return EXIT.internal;
    }
    io.stderr('stopping\n');
    return EXIT.ok;
  } finally {
    keeper.stop();
    kubectl?.stop();
    if (server) await new Promise<void>((r) => server!.close(() => r()));
  }
}
