/**
 * `ccmesh injector` as a command: flags parsed with every problem reported (exit 64), then a full start against
 * FakeKubeApi with the namespace taken from the service-account directory, serving over TLS, probes and metrics on
 * the admin port, and a clean exit 0 when the signal fires.
 */
import { spawn } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { request } from 'node:https';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import type { TLSSocket } from 'node:tls';
import t from 'tap';
import { FakeKubeApi, webhookConfigurationFixture } from '../../../test/support/k8s/fake-kube-api.js';
import { ADMIN_HTTP_PATHS } from '../../../lib/mesh-ports.js';
import { repoRoot } from '../../../test/fixtures.js';
import { runCli } from '../../run.js';
import { injectorCommand } from './injector.js';

void t.test('--help and flag errors', async (t) => {
  const out: string[] = [];
  t.equal(await injectorCommand(['--help'], { stdout: (s) => out.push(s), stderr: () => undefined }), 0);
  t.match(out.join(''), /--webhook-config/);
  const err: string[] = [];
  const code = await runCli(['injector', '--port', 'x', '--tee', 'sgx', '--kube-api', 'http://10.0.0.1', '--namespace', 'n', '--bogus'], { stdout: () => undefined, stderr: (s) => err.push(s) });
  t.equal(code, 64);
  const text = err.join('');
  const bad: string[] = [];
  t.equal(await runCli(['injector', '--namespace', 'n', '--coordinator', 'no-port', '--kube-api', 'https://127.0.0.1:1', '--service-account-dir', '/nonexistent'], { stdout: () => undefined, stderr: (s) => bad.push(s) }), 64, 'unreadable service-account CA is a usage error');
  t.match(bad.join(''), /ca\.crt/);
  const mem: string[] = [];
  t.equal(await runCli(['injector', '--namespace', 'n', '--proxy-memory-limit', '256m', '--kube-api', 'https://127.0.0.1:1'], { stdout: () => undefined, stderr: (s) => mem.push(s) }), 64, 'a malformed proxy memory limit is a usage error');
  t.match(mem.join(''), /--proxy-memory-limit.*256m[\s\S]*thousandths of a byte/);
  bad.length = 0;
  t.equal(await runCli(['injector', '--namespace', 'n', '--coordinator', 'no-port'], { stdout: () => undefined, stderr: (s) => bad.push(s) }), 64, 'a bad inject option fails at startup');
  t.match(bad.join(''), /invalid inject option coordinator: got "no-port"/);
  for (const re of [/--port: got "x"/, /--tee: got "sgx", expected one of auto, configfs-tsm, sev-guest, tdx-guest/, /--kube-api: got "http:\/\/10.0.0.1", expected an https:\/\/HOST:PORT URL/, /--bogus/]) t.match(text, re);
});

/** A stand-in API server holding the webhook configuration, and a service-account directory that trusts it. */
async function fakeCluster(t: { teardown(fn: () => unknown): void }, namespaceFile: string): Promise<{ api: FakeKubeApi; sa: string }> {
  const api = await FakeKubeApi.start('tok', webhookConfigurationFixture('ccmesh-injector', ['inject.ccmesh.dev']));
  t.teardown(() => api.close());
  const sa = mkdtempSync(join(tmpdir(), 'ccmesh-sa-'));
  t.teardown(() => rmSync(sa, { recursive: true, force: true }));
  writeFileSync(join(sa, 'token'), 'tok');
  writeFileSync(join(sa, 'ca.crt'), api.caPem);
  writeFileSync(join(sa, 'namespace'), namespaceFile);
  return { api, sa };
}

void t.test('starts, patches the caBundle, serves, reports ready, stops on the signal', async (t) => {
  const { api, sa } = await fakeCluster(t, 'mesh-ops\n');
  const lines: string[] = [];
  const ac = new AbortController();
  const done = injectorCommand(
    ['--port', '0', '--metrics-port', '0', '--listen-host', '127.0.0.1', '--kube-api', api.url, '--service-account-dir', sa, '--image', 'registry.example/ccmesh:test', '--shutdown-delay', '200ms'],
    { stdout: () => undefined, stderr: (s) => lines.push(...s.trimEnd().split('\n')), signal: ac.signal },
  );
  const log = (msg: string): Record<string, unknown> | undefined => lines.map((l) => JSON.parse(l) as Record<string, unknown>).find((l) => l.msg === msg);
  for (let i = 0; i < 250 && !log('injector ready'); i++) await sleep(20);
  t.ok(log('injector ready'), 'ready logged');
  const port = log('webhook listening')!.port as number;
  const adminPort = log('admin listening')!.port as number;

  const bundle = (api.config!.webhooks as { clientConfig: { caBundle: string } }[])[0]!.clientConfig.caBundle;
  const ca = Buffer.from(bundle, 'base64').toString();
  const svc = 'ccmesh-injector.mesh-ops.svc';
  const san = await new Promise<string | undefined>((resolve, reject) => {
    const req = request({ host: '127.0.0.1', port, path: '/readyz', servername: svc, ca, agent: false }, (res) => {
      res.resume();
      resolve(res.statusCode === 200 ? (res.socket as TLSSocket).getPeerCertificate().subjectaltname : `HTTP ${res.statusCode}`);
    });
    req.on('error', reject);
    req.end();
  });
  t.match(san, /DNS:ccmesh-injector\.mesh-ops\.svc, DNS:ccmesh-injector\.mesh-ops\.svc\.cluster\.local/, 'namespace from the service-account directory');

  const ready = await fetch(`http://127.0.0.1:${adminPort}${ADMIN_HTTP_PATHS.readinessProbe}`);
  t.equal(ready.status, 200);
  const metrics = await (await fetch(`http://127.0.0.1:${adminPort}${ADMIN_HTTP_PATHS.metrics}`)).text();
  t.match(metrics, /ccmesh_injector_requests_total\{result="injected",component="injector"\} 0/);
  t.match(metrics, /ccmesh_injector_ready\{component="injector"\} 1/);
  t.match(metrics, /ccmesh_injector_ca_bundle_patches_total\{result="ok",component="injector"\} 1/);

  ac.abort();
  t.equal(await done, 0, 'exit 0 after the signal');
  t.equal(log('injector draining: still serving while the Service stops routing here')?.delayMs, 200, '--shutdown-delay reaches the injector');
  t.ok(log('injector stopped'));
  await t.rejects(fetch(`http://127.0.0.1:${adminPort}${ADMIN_HTTP_PATHS.livenessProbe}`), 'admin port closed');
});

void t.test('bin/ccmesh injector in a process: in-cluster env, ready, SIGTERM → exit 0', async (t) => {
  const { api, sa } = await fakeCluster(t, 'ccmesh-system');
  const apiPort = new URL(api.url).port;
  const child = spawn(process.execPath, [join(repoRoot, 'bin', 'ccmesh'), 'injector', '--port', '0', '--metrics-port', '0', '--listen-host', '127.0.0.1', '--service-account-dir', sa, '--shutdown-delay', '100ms'], {
    env: { ...process.env, KUBERNETES_SERVICE_HOST: '127.0.0.1', KUBERNETES_SERVICE_PORT: apiPort },
    stdio: ['ignore', 'ignore', 'pipe'],
  });
  t.teardown(() => {
    if (child.exitCode === null) child.kill('SIGKILL');
  });
  let stderr = '';
  child.stderr.on('data', (c: Buffer) => (stderr += c.toString()));
  const exited = new Promise<number | null>((resolve) => child.once('exit', (code) => resolve(code)));
  for (let i = 0; i < 500 && !stderr.includes('"injector ready"'); i++) await sleep(20);
  t.match(stderr, /"msg":"injector ready"/, 'ready (API reached through KUBERNETES_SERVICE_HOST/_PORT)');
  t.equal(api.requests.filter((r) => r.method === 'PATCH').length, 1);
  child.kill('SIGTERM');
  t.equal(await exited, 0);
  t.match(stderr, /"msg":"injector stopped"/);
});
