/**
 * Privileged tier: `ccmesh port-forward` end to end. A Coordinator (in-process, simulated TEE) issues the pod's leaf
 * and the operator certificates; the real sidecar (`ccmesh proxy`, transparent capture) runs in a "pod" network
 * namespace with ingress `web#8080#mtls+operator##db#5432#mtls` (9090 unlisted); the real CLI runs on the "host"
 * with a fake `kubectl` that relays every byte, both ways, to the pod's 127.0.0.1:15006 (through a bridge inside the
 * pod's namespace, as the kubelet does) and records them. Proves: a port-forward reaches the app; the relayed bytes
 * hold neither the request nor the answer; a port whose entry refuses operators stays closed (a workload-only entry
 * and an unlisted port); an expired operator certificate is refused; a non-owner key gets no certificate from the
 * Coordinator; a workload leaf can't use the port-forward path; over the routable path an operator certificate is
 * admitted only on the mtls+operator port. Skips with the reason when not root — fails in CI.
 */
import t from 'tap';
import { type ChildProcess, spawn } from 'node:child_process';
import { generateKeyPairSync, type KeyObject, randomBytes, X509Certificate } from 'node:crypto';
import { chmodSync, existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { connect as netConnect } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { connect as tlsConnect } from 'node:tls';
import { fileURLToPath } from 'node:url';
import { FixedClock } from '../../../lib/clock.js';
import { freePorts } from '../../../lib/net/free-ports.js';
import { signedOperatorCertRequest } from '../../../lib/protocol/operator-cert-request.js';
import { forwardServerName } from '../../../contract/operator-identity.js';
import { Harness } from '../../../coordinator/test/harness.js';
import { writeTlsDir } from '../../../proxy/test/pki.js';
import { ADDR, type Agent, NetnsPair, privilegedSkipReason } from '../../../test/support/iptables/netns-harness.js';

const BIN = fileURLToPath(new URL('../../../../bin/ccmesh', import.meta.url));
const FAKE_KUBECTL = fileURLToPath(new URL('./testdata/fake-kubectl.js', import.meta.url));
const BRIDGE = fileURLToPath(new URL('./testdata/pod-bridge.js', import.meta.url));
const CLIENT = fileURLToPath(new URL('../../../proxy/test/testdata/netns-client.js', import.meta.url));
const WEB = 8080;
const DB = 5432;
const UNLISTED = 9090;
const ADMIN = 15020;
const INGRESS = `web#${WEB}#mtls+operator##db#${DB}#mtls`;

const p256 = (): KeyObject => generateKeyPairSync('ec', { namedCurve: 'P-256' }).privateKey;
const pem = (k: KeyObject): string => k.export({ type: 'pkcs8', format: 'pem' }).toString();
const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

/** Writes `text`, half-closes, collects the answer until the peer closes (or `ms` passes). */
function plainRoundTrip(port: number, text: string, ms = 4000): Promise<string> {
  return new Promise((resolve) => {
    const s = netConnect(port, '127.0.0.1');
    let data = '';
    s.on('connect', () => s.end(text));
    s.on('data', (d: Buffer) => (data += d.toString()));
    s.on('error', () => undefined);
    s.on('close', () => resolve(data));
    setTimeout(() => s.destroy(), ms).unref();
  });
}

/** The same over TLS with a client certificate and a port-forward server name, to the relay on `port`. */
function tlsRoundTrip(port: number, remote: number, creds: { cert: string; key: string; ca: string }, text: string, ms = 4000): Promise<string> {
  return new Promise((resolve) => {
    const s = tlsConnect({ host: '127.0.0.1', port, servername: forwardServerName(remote), cert: creds.cert, key: creds.key, ca: creds.ca, checkServerIdentity: () => undefined });
    let data = '';
    s.on('secureConnect', () => s.end(text));
    s.on('data', (d: Buffer) => (data += d.toString()));
    s.on('error', () => undefined);
    s.on('close', () => resolve(data));
    setTimeout(() => s.destroy(), ms).unref();
  });
}

const reason = await privilegedSkipReason();
if (reason !== undefined && process.env.CI) {
  t.fail(`privileged tests must run in CI but cannot: ${reason}`);
} else if (reason !== undefined) {
  t.comment(`skipping port-forward namespace test: ${reason}`);
  t.pass('port-forward namespace test', { skip: reason });
} else {
  void t.test('ccmesh port-forward through an untrusted relay to a real sidecar', async (t) => {
    // The Coordinator's clock starts two hours back, so an operator certificate issued then has expired by now.
    const clock = new FixedClock(Date.now() - 2 * 3600_000);
    const { h, user, mesh } = await Harness.started(t, { clock, platformNotBefore: new Date(clock.nowMs() - 3600_000) });
    const manifest = h.manifest();
    const set = await user.call('SetManifest', await h.signedSet(user, manifest, [h.coordinatorDoc, h.podDoc]));
    const pod = await h.newPodCert(mesh);
    const expiredKey = p256();
    const expired = await user.call('IssueOperatorCert', await signedOperatorCertRequest(user, expiredKey, h.owner.privateKey));
    clock.advance(2 * 3600_000);
    t.ok(Date.parse(new X509Certificate(expired.certChain).validTo) < Date.now(), 'an operator certificate that has expired');
    const freshKey = p256();
    const fresh = await user.call('IssueOperatorCert', await signedOperatorCertRequest(user, freshKey, h.owner.privateKey));
    const ca = set.rootCa + set.meshCaBundle;
    const opCreds = { cert: fresh.certChain, key: pem(freshKey), ca };
    const expiredCreds = { cert: expired.certChain, key: pem(expiredKey), ca };
    const workloadCreds = { cert: pod.res.certChain, key: pem(pod.key.privateKey as unknown as KeyObject), ca };

    const work = mkdtempSync(join(tmpdir(), 'ccmesh-pf-'));
    t.teardown(() => rmSync(work, { recursive: true, force: true }));
    // The operator's workspace: the manifest, the workload owner key and the mesh owner it set.
    const ws = join(work, 'ws');
    mkdirSync(join(ws, 'keys'), { recursive: true });
    writeFileSync(join(ws, 'manifest.json'), manifest);
    writeFileSync(join(ws, 'keys', 'workload-owner.pem'), pem(h.owner.privateKey), { mode: 0o600 });
    writeFileSync(join(ws, 'mesh-owner'), set.meshOwner + '\n');
    const stranger = join(work, 'stranger.pem');
    writeFileSync(stranger, pem(generateKeyPairSync('ec', { namedCurve: 'P-384' }).privateKey), { mode: 0o600 });

    const pair = await NetnsPair.create({ prefix: 'pf' });
    t.teardown(() => pair.destroy());
    t.equal((await pair.podExec.run(process.execPath, [BIN, 'iptables', 'guard'])).code, 0, 'the guard first, as the initializer does');
    const app: Agent = pair.agent('pod');
    for (const port of [WEB, DB, UNLISTED]) t.match(await app.request({ op: 'listen', host: '127.0.0.1', port }), { ok: true }, `app listens on 127.0.0.1:${port}`);
    const accepts = (port: number): number => app.events.filter((e) => e.event === 'accept' && e.port === port).length;

    mkdirSync(join(work, 'tls'));
    const tlsDir = writeTlsDir({ key: workloadCreds.key, chain: pod.res.certChain, meshCaBundle: pod.res.meshCaBundle, rootCa: pod.res.rootCa }, join(work, 'tls'));
    const readyFile = join(work, 'ready');
    const children: ChildProcess[] = [];
    t.teardown(async () => {
      for (const c of children) {
        if (c.exitCode === null && c.signalCode === null) {
          // SIGTERM first: `ccmesh port-forward` then stops the kubectl it started (SIGKILL would orphan it).
          const gone = new Promise((r) => c.once('exit', r));
          c.kill('SIGTERM');
          const late = setTimeout(() => c.kill('SIGKILL'), 5000);
          await gone;
          clearTimeout(late);
        }
      }
    });
    const logs: string[] = [];
    const sidecar = spawn('ip', ['netns', 'exec', pair.pod, process.execPath, BIN, 'proxy', '--ingress', INGRESS, '--tls-dir', tlsDir,
      '--admin-port', String(ADMIN), '--ready-file', readyFile, '--ipv6', 'on', '--log-level', 'info'], { stdio: ['ignore', 'ignore', 'pipe'] });
    children.push(sidecar);
    sidecar.stderr.on('data', (d: Buffer) => logs.push(d.toString()));
    // PF_SIDECAR_LOG=FILE keeps the sidecar's log for a failing run.
    if (process.env.PF_SIDECAR_LOG) t.teardown(() => writeFileSync(process.env.PF_SIDECAR_LOG!, logs.join('')));
    const deadline = Date.now() + 20_000;
    while (!existsSync(readyFile) && sidecar.exitCode === null && Date.now() < deadline) await sleep(50);
    if (!t.ok(existsSync(readyFile), 'the sidecar is ready')) {
      t.comment(logs.join(''));
      return;
    }

    // The kubelet's end of the relay, inside the pod's namespace, and the fake kubectl that records what it relays.
    const bridgeSocket = join(work, 'bridge.sock');
    const bridge = spawn('ip', ['netns', 'exec', pair.pod, process.execPath, BRIDGE, bridgeSocket, '15006'], { stdio: ['ignore', 'pipe', 'inherit'] });
    children.push(bridge);
    await new Promise<void>((r) => bridge.stdout.once('data', () => r()));
    const kubectl = join(work, 'kubectl');
    writeFileSync(kubectl, `#!/bin/sh\nexec "${process.execPath}" "${FAKE_KUBECTL}" "$@"\n`);
    chmodSync(kubectl, 0o755);
    const coordinator = `127.0.0.1:${h.coordinator!.userPort}`;

    /** Starts `ccmesh port-forward web-0 LOCAL:remote` and waits for its "Forwarding from" line. */
    const forward = async (remote: number, capture: string): Promise<{ local: number; relay: number; stderr: () => string }> => {
      const [local] = (await freePorts(1)) as [number];
      let err = '';
      const cli = spawn(process.execPath, [BIN, 'port-forward', 'web-0', `${local}:${remote}`, '-c', coordinator, '--identity', 'web.default.svc', '--dir', ws, '--kubectl', kubectl],
        { stdio: ['ignore', 'ignore', 'pipe'], env: { ...process.env, PF_BRIDGE_SOCKET: bridgeSocket, PF_CAPTURE_FILE: capture } });
      children.push(cli);
      cli.stderr.on('data', (d: Buffer) => (err += d.toString()));
      const until = Date.now() + 30_000;
      while (!err.includes('Forwarding from') && cli.exitCode === null && Date.now() < until) await sleep(50);
      const relay = /relays 127\.0\.0\.1:(\d+)/.exec(err);
      if (!err.includes('Forwarding from') || !relay) throw new Error(`port-forward did not start: ${err}`);
      return { local, relay: Number(relay[1]), stderr: () => err };
    };

    await t.test('a port-forward reaches the app, and the relay carries no plaintext', async (t) => {
      const capture = join(work, 'capture-web');
      const pf = await forward(WEB, capture);
      t.match(pf.stderr(), /operator certificate ccmesh-operator:\/\/ccmesh\.local\/[0-9a-f]{32} valid until/, 'progress: the operator certificate');
      const payload = `PAYLOAD-${randomBytes(12).toString('hex')}`;
      const before = accepts(WEB);
      t.equal(await plainRoundTrip(pf.local, payload), `${WEB}:${payload}`, 'the app on 8080 echoed the payload through the port-forward');
      t.equal(accepts(WEB), before + 1, 'the app saw the connection (from the sidecar)');
      const relayed = readFileSync(capture);
      t.ok(relayed.length > 500, `the relay carried the connection (${relayed.length} bytes)`);
      t.equal(relayed.indexOf(payload), -1, 'the request payload is not in the relayed bytes');
      t.equal(relayed.indexOf(`${WEB}:PAYLOAD`), -1, 'nor the answer');
      t.equal(relayed.indexOf(Buffer.from(payload.slice(8), 'hex')), -1, 'nor its random part as raw bytes');
      t.same(JSON.parse(readFileSync(`${capture}.args`, 'utf8')), ['port-forward', 'pod/web-0', '0:15006'], 'kubectl was asked to forward the pod\'s mTLS port');
      t.match(pf.stderr(), /connection 1: mTLS to the pod established/, 'progress per connection');

      await t.test('an expired operator certificate is refused', async (t) => {
        const n = accepts(WEB);
        t.equal(await tlsRoundTrip(pf.relay, WEB, opCreds, 'valid'), `${WEB}:valid`, 'control: a current operator certificate on the same path');
        t.equal(await tlsRoundTrip(pf.relay, WEB, expiredCreds, 'expired'), '', 'the expired one gets nothing');
        t.equal(accepts(WEB), n + 1, 'and never reached the app');
      });
      await t.test('a workload leaf cannot use the port-forward path', async (t) => {
        const n = accepts(WEB);
        t.equal(await tlsRoundTrip(pf.relay, WEB, workloadCreds, 'workload'), '', 'refused');
        t.equal(accepts(WEB), n, 'the app saw nothing');
      });
      await t.test('an operator certificate presented for a workload-only port is refused', async (t) => {
        t.equal(await tlsRoundTrip(pf.relay, DB, opCreds, 'db'), '', 'the mtls entry 5432');
        t.equal(await tlsRoundTrip(pf.relay, UNLISTED, opCreds, 'unlisted'), '', 'the unlisted port 9090');
        t.equal(await tlsRoundTrip(pf.relay, ADMIN, opCreds, 'admin'), '', 'the sidecar\'s own admin port');
        t.equal(accepts(DB) + accepts(UNLISTED), 0, 'the app saw nothing on either');
      });
    });

    await t.test('a port whose ingress entry refuses operators stays closed to port-forward', async (t) => {
      for (const [port, what] of [[DB, 'a workload-only mtls entry'], [UNLISTED, 'an unlisted port']] as const) {
        const pf = await forward(port, join(work, `capture-${port}`));
        t.equal(await plainRoundTrip(pf.local, `to-${port}`), '', `${what} (${port}): no answer`);
        await sleep(200);
        t.match(pf.stderr(), /connection 1: (refused|ended|closed by the pod without an answer \(refused\? port \d+ must have an mtls\+operator ingress entry\))/, 'the CLI says the pod refused or closed the connection');
      }
      t.equal(accepts(DB) + accepts(UNLISTED), 0, 'the app saw no connection on 5432 or 9090');
    });

    await t.test('over the routable path, an operator is admitted only on the mtls+operator port', async (t) => {
      const attempt = async (port: number, text: string): Promise<string> => {
        const r = await pair.clientExec.run(process.execPath, [CLIENT, JSON.stringify({ host: ADDR.pod4, port, text, timeoutMs: 2000, tls: { ca, cert: opCreds.cert, key: opCreds.key } })]);
        return (JSON.parse(r.stdout) as { data: string }).data;
      };
      t.equal(await attempt(WEB, 'direct'), `${WEB}:direct`, 'a direct connection to 8080 with an operator certificate');
      t.equal(await attempt(DB, 'direct'), '', '5432 refuses it');
      t.equal(await attempt(UNLISTED, 'direct'), '', 'the unlisted port refuses it, although any workload would pass there');
      const m = await pair.podExec.run(process.execPath, [CLIENT, JSON.stringify({ host: '127.0.0.1', port: ADMIN, text: 'GET /metrics HTTP/1.0\r\n\r\n', timeoutMs: 2000 })]);
      t.match((JSON.parse(m.stdout) as { data: string }).data, /ccmesh_proxy_tls_handshake_failures_total\{direction="inbound",[^}]*reason="operator-not-allowed"[^}]*\} [1-9]/, 'refusals counted as operator-not-allowed');
    });

    await t.test('a non-owner key gets no operator certificate from the Coordinator', async (t) => {
      // Not spawnSync: the Coordinator runs in this process and must answer meanwhile.
      const cli = spawn(process.execPath, [BIN, 'port-forward', 'web-0', '1:8080', '-c', coordinator, '--identity', 'web.default.svc', '--dir', ws, '--owner-key', stranger, '--kubectl', kubectl], { stdio: ['ignore', 'ignore', 'pipe'] });
      children.push(cli);
      let stderr = '';
      cli.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
      const status = await new Promise<number | null>((r) => cli.once('exit', (code) => r(code)));
      const r = { status, stderr };
      t.not(r.status, 0, 'the CLI fails');
      t.match(r.stderr, /ownerKey is not one of the current manifest's workloadOwnerKeys/, 'with the Coordinator\'s refusal');
    });
  });
}
