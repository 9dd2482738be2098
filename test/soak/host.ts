/**
 * The process under soak (forked by `soak.test.ts`): a real in-process Coordinator (simulated TEE) with its first
 * manifest set, two pods' credentials from NewMeshCert, the loopback apps, and two sidecars — "web" with the egress
 * listeners, "api" with the inbound mTLS listeners — both renewing through the Coordinator and polling its trust
 * bundle every second. Everything the load touches lives in this one process, so its fd count and RSS (read from
 * /proc by the parent) are what the soak bounds.
 *
 * IPC (process.send): out `{ kind: 'ready', ports }` once listening; in `{ cmd: 'update' }` → the owner sets a new
 * manifest (a new mesh CA) → out `{ kind: 'updated', ca }`; in `{ cmd: 'status' }` → out `{ kind: 'status', … }` (both
 * sidecars' leaf issuer and serial); in `{ cmd: 'stop' }` → drain everything and exit 0.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { X509Certificate } from 'node:crypto';
import { Harness } from '../../coordinator/test/harness.js';
import { systemClock } from '../../lib/clock.js';
import { createLogger } from '../../lib/log.js';
import { PinnedClient } from '../../lib/protocol/client.js';
import { MeshApi } from '../../lib/protocol/services.js';
import type { MeshApiMethods } from '../../lib/protocol/messages.js';
import { startProxy, type RunningProxy } from '../../proxy/unit.js';
import { writeTlsDir } from '../../proxy/test/pki.js';
import { TestApp, testConfig } from '../../proxy/test/support.js';

/** What the parent sends. */
export type SoakCommand = { readonly cmd: 'update' | 'status' | 'gc' | 'stop' };
/** One sidecar's leaf as the status reports it. */
export interface LeafStatus { readonly issuer: string; readonly serial: string }
/** What the host sends. */
export type SoakEvent =
  | { readonly kind: 'ready'; readonly ports: { readonly hash: number; readonly echo: number } }
  | { readonly kind: 'updated'; readonly ca: string }
  | { readonly kind: 'collected' }
  | { readonly kind: 'status'; readonly web: LeafStatus; readonly api: LeafStatus; readonly bundle: readonly string[] }
  | { readonly kind: 'error'; readonly message: string };

const EGRESS_IP = '127.0.0.9';
const SANS = ['web', 'web.default.svc'];
const send = (e: SoakEvent): void => void process.send?.(e);
const logger = createLogger({ component: 'soak', level: 'warn', sink: (l) => process.stderr.write(l + '\n') });
const leafOf = (p: RunningProxy): LeafStatus => ({ issuer: p.store.current.leaf.issuer, serial: p.store.current.leaf.serialNumber });

async function main(): Promise<void> {
  const cleanups: (() => unknown)[] = [];
  const t = { teardown: (fn: () => unknown): void => void cleanups.unshift(fn) };
  const { h, user, mesh } = await Harness.started(t);
  const policies = [h.coordinatorDoc, h.podDoc];
  await user.call('SetManifest', await h.signedSet(user, h.manifest([], SANS), policies));
  const tlsDir = async (client: PinnedClient<MeshApiMethods>): Promise<string> => {
    const pod = await h.newPodCert(client);
    const dir = mkdtempSync(join(tmpdir(), 'ccmesh-soak-'));
    cleanups.push(() => rmSync(dir, { recursive: true, force: true }));
    const key = (pod.key.privateKey as unknown as { export(o: object): string }).export({ type: 'pkcs8', format: 'pem' }).toString();
    return writeTlsDir({ key, chain: pod.res.certChain, meshCaBundle: pod.res.meshCaBundle, rootCa: pod.res.rootCa }, dir);
  };
  const webDir = await tlsDir(mesh);
  const apiDir = await tlsDir(mesh);
  const hashApp = new TestApp('hash');
  const echoApp = new TestApp('echo');
  const [hashPort, echoPort] = [await hashApp.listen(), await echoApp.listen()];
  const coordinator = { host: '127.0.0.1', port: h.coordinator!.meshPort };
  const address = `127.0.0.1:${coordinator.port}`;
  const runtime = { clock: systemClock, logger, connectCoordinator: () => PinnedClient.connect(address, MeshApi) };
  const api = await startProxy(testConfig({
    tlsDir: apiDir, coordinator, trustRefreshMs: 1000, drainMs: 5000,
    inbound: [
      { name: 'hash', appPort: hashPort, listenPort: 0, mode: { kind: 'mtls', allow: ['web.default.svc'] } },
      { name: 'echo', appPort: echoPort, listenPort: 0, mode: { kind: 'mtls', allow: ['web.default.svc'] } },
    ],
  }), runtime);
  const web = await startProxy(testConfig({
    tlsDir: webDir, coordinator, trustRefreshMs: 1000, drainMs: 5000,
    egress: (['hash', 'echo'] as const).map((name) => ({
      name, listen: { host: EGRESS_IP, port: 0 }, remote: { host: '127.0.0.1', port: api.ports.get(name)! },
      identity: { kind: 'dns' as const, value: 'web.default.svc' }, identitySource: 'field' as const,
    })),
  }), runtime);
  cleanups.unshift(async () => {
    await Promise.all([web.drain(), api.drain()]);
    await Promise.all([hashApp.close(), echoApp.close()]);
  });

  let version = 1;
  process.on('message', (m: SoakCommand) => {
    void (async () => {
      if (m.cmd === 'update') {
        version++;
        const res = await user.call('SetManifest', await h.signedSet(user, h.manifest([], [...SANS, `web-v${version}`]), policies));
        send({ kind: 'updated', ca: new X509Certificate(res.meshCaBundle).subject });
      } else if (m.cmd === 'gc') {
        // A full collection before an RSS reading, so growth means retained memory, not a collection not yet run.
        (globalThis as { gc?: () => void }).gc?.();
        send({ kind: 'collected' });
      } else if (m.cmd === 'status') {
        send({ kind: 'status', web: leafOf(web), api: leafOf(api), bundle: api.store.current.bundle.map((c) => c.subject) });
      } else {
        for (const fn of cleanups) await fn();
        process.disconnect(); // nothing is left open: the process ends with exit code 0

      }
    })().catch((err: unknown) => send({ kind: 'error', message: String(err) }));
  });
  send({ kind: 'ready', ports: { hash: web.ports.get('hash')!, echo: web.ports.get('echo')! } });
}

main().catch((err: unknown) => {
  send({ kind: 'error', message: err instanceof Error ? err.stack ?? err.message : String(err) });
  process.exitCode = 1;
  process.disconnect();
});
