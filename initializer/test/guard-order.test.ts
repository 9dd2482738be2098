/**
 * Fail-closed ordering of the initializer, with the real unit against a real in-process Coordinator on the simulated
 * TEE: the inbound guard is in place (its install has completed) before the first byte goes to the Coordinator and
 * before evidence is produced; a guard that fails to install stops the initializer with that error, before any contact
 * with the Coordinator; and a config mismatch is final, not retried.
 *
 * The Coordinator is reached through a TCP relay that records, for every connection, whether the guard had finished
 * installing when the connection was opened: the observation is made on the wire, not inside the code under test.
 */
import t from 'tap';
import { createHash } from 'node:crypto';
import { existsSync, mkdirSync, writeFileSync } from 'node:fs';
import { connect, createServer, type Server, type Socket } from 'node:net';
import { join } from 'node:path';
import type { EvidenceIssuer } from '../../attestation/issuers/evidence.js';
import { SimulatedSnpIssuer } from '../../attestation/simulated/snp-issuer.js';
import { Harness, sha256hex } from '../../coordinator/test/harness.js';
import { CcmeshError, ErrorCode } from '../../lib/errors.js';
import { createLogger } from '../../lib/log.js';
import { runInitializer } from '../unit.js';

const quiet = createLogger({ component: 'initializer', level: 'error', sink: () => undefined });

/** A TCP relay to `target` that calls `onConnection` when a client connects (before forwarding anything). */
async function relay(target: number, onConnection: () => void): Promise<{ port: number; close: () => Promise<void> }> {
  const open = new Set<Socket>();
  const server: Server = createServer((client) => {
    onConnection();
    const upstream = connect({ host: '127.0.0.1', port: target });
    for (const s of [client, upstream]) {
      open.add(s);
      s.once('close', () => open.delete(s));
      s.on('error', () => {
        client.destroy();
        upstream.destroy();
      });
    }
    client.pipe(upstream).pipe(client);
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return {
    port: (server.address() as { port: number }).port,
    close: () => new Promise<void>((resolve) => {
      for (const s of open) s.destroy();
      server.close(() => resolve());
    }),
  };
}

void t.test('the guard is in place before the Coordinator is contacted or evidence is produced', async (t) => {
  const { h, user } = await Harness.started(t);
  await user.call('SetManifest', await h.signedSet(user, h.manifest(), [h.coordinatorDoc, h.podDoc]));
  const events: string[] = [];
  let guardInstalled = false;
  const r = await relay(h.coordinator!.meshPort, () => events.push(`connect to the Coordinator (guard installed: ${guardInstalled})`));
  t.teardown(r.close);
  const tlsDir = join(h.dir, 'pod', 'tls');
  const sim = new SimulatedSnpIssuer(h.platform, { hostData: Buffer.from(sha256hex(h.podDoc), 'hex') });
  const issuer: EvidenceIssuer = {
    name: sim.name,
    issue: (reportData) => {
      events.push(`evidence (guard installed: ${guardInstalled})`);
      return sim.issue(reportData);
    },
  };
  const written = await runInitializer(
    { coordinator: `127.0.0.1:${r.port}`, tlsDir, secretPath: join(h.dir, 'pod', 'secret'), meshDisabled: false, maxBackoffMs: 1000 },
    {
      issuer: () => Promise.resolve(issuer),
      // The guard takes a while (iptables-restore, twice): installed only when its promise settles.
      installGuard: async () => {
        events.push('guard install started');
        await new Promise((resolve) => setTimeout(resolve, 50));
        guardInstalled = true;
        events.push('guard installed');
      },
      installRouting: () => {
        events.push(`routing (guard installed: ${guardInstalled})`);
        return Promise.resolve();
      },
      logger: quiet,
    },
  );
  t.equal(written.length, 5, 'control: the initializer obtained its identity through the relay');
  t.same(events.slice(0, 3), ['guard install started', 'guard installed', 'routing (guard installed: true)'], 'the guard install completes first, then the policy routing goes in');
  const contacts = events.filter((e) => e.startsWith('connect'));
  t.ok(contacts.length >= 1, 'the Coordinator was contacted through the relay');
  t.same(contacts, contacts.map(() => 'connect to the Coordinator (guard installed: true)'), 'every connection to the Coordinator was opened with the guard in place');
  t.same(events.filter((e) => e.startsWith('evidence')), ['evidence (guard installed: true)'], 'evidence was produced once, with the guard in place');
});

void t.test('a guard that fails to install stops the initializer with that error, before the Coordinator is contacted', async (t) => {
  const { h, user } = await Harness.started(t);
  await user.call('SetManifest', await h.signedSet(user, h.manifest(), [h.coordinatorDoc, h.podDoc]));
  let contacts = 0;
  const r = await relay(h.coordinator!.meshPort, () => contacts++);
  t.teardown(r.close);
  let issuerBuilt = false;
  let retried = false;
  const guardFailure = new CcmeshError(ErrorCode.IPTABLES_APPLY, 'iptables-restore: exit 4 (guard test)');
  const dir = join(h.dir, 'pod');
  const outcome = await runInitializer(
    { coordinator: `127.0.0.1:${r.port}`, tlsDir: join(dir, 'tls'), secretPath: join(dir, 'secret'), meshDisabled: false, maxBackoffMs: 1000 },
    {
      issuer: () => {
        issuerBuilt = true;
        return Promise.resolve(new SimulatedSnpIssuer(h.platform, { hostData: Buffer.from(sha256hex(h.podDoc), 'hex') }));
      },
      installGuard: () => Promise.reject(guardFailure),
      logger: quiet,
      sleep: () => {
        retried = true;
        return Promise.resolve();
      },
    },
  ).then((w) => w, (err: unknown) => err);
  t.equal(outcome, guardFailure, 'the initializer rejects with the guard\'s own error');
  t.equal(contacts, 0, 'the Coordinator was never contacted');
  t.notOk(issuerBuilt, 'no evidence issuer was even built');
  t.notOk(retried, 'nothing was attempted');
  t.notOk(existsSync(dir), 'nothing written');
});

void t.test('policy routing that fails to install stops the initializer, guard in place, before the Coordinator is contacted', async (t) => {
  const { h, user } = await Harness.started(t);
  await user.call('SetManifest', await h.signedSet(user, h.manifest(), [h.coordinatorDoc, h.podDoc]));
  let contacts = 0;
  const r = await relay(h.coordinator!.meshPort, () => contacts++);
  t.teardown(r.close);
  let guard = false;
  const failure = new CcmeshError(ErrorCode.IPTABLES_APPLY, 'ip rule add: exit 2 (routing test)');
  const dir = join(h.dir, 'pod');
  const outcome = await runInitializer(
    { coordinator: `127.0.0.1:${r.port}`, tlsDir: join(dir, 'tls'), secretPath: join(dir, 'secret'), meshDisabled: false, maxBackoffMs: 1000 },
    {
      issuer: () => Promise.resolve(new SimulatedSnpIssuer(h.platform, { hostData: Buffer.from(sha256hex(h.podDoc), 'hex') })),
      installGuard: () => {
        guard = true;
        return Promise.resolve();
      },
      installRouting: () => Promise.reject(failure),
      logger: quiet,
    },
  ).then((w) => w, (err: unknown) => err);
  t.equal(outcome, failure, 'the initializer rejects with the routing step\'s own error');
  t.ok(guard, 'the guard went in first');
  t.equal(contacts, 0, 'the Coordinator was never contacted');
  t.notOk(existsSync(dir), 'nothing written');
});

void t.test('a config digest mismatch is final: not retried, nothing written', async (t) => {
  const { h, user } = await Harness.started(t);
  const mount = join(h.dir, 'config-mount');
  mkdirSync(mount);
  writeFileSync(join(mount, 'app.yaml'), 'port: 6666\n');
  const doc = JSON.parse(Buffer.from(h.manifest()).toString()) as Record<string, unknown>;
  doc.configDigests = { [sha256hex(h.podDoc)]: { [mount]: { 'app.yaml': createHash('sha256').update('port: 8080\n').digest('hex') } } };
  await user.call('SetManifest', await h.signedSet(user, new Uint8Array(Buffer.from(JSON.stringify(doc))), [h.coordinatorDoc, h.podDoc]));
  const stop = new AbortController();
  let retries = 0;
  const dir = join(h.dir, 'pod');
  const outcome = await runInitializer(
    { coordinator: `127.0.0.1:${h.coordinator!.meshPort}`, tlsDir: join(dir, 'tls'), secretPath: join(dir, 'secret'), meshDisabled: false, maxBackoffMs: 1000 },
    {
      issuer: () => Promise.resolve(new SimulatedSnpIssuer(h.platform, { hostData: Buffer.from(sha256hex(h.podDoc), 'hex') })),
      installGuard: undefined,
      logger: quiet,
      signal: stop.signal,
      // A retry would come here: stop at once so a retrying initializer ends too (with another error).
      sleep: () => {
        retries++;
        stop.abort();
        return Promise.resolve();
      },
    },
  ).then((w) => w, (err: unknown) => err);
  t.equal(retries, 0, 'no second attempt');
  t.ok(outcome instanceof CcmeshError && outcome.code === ErrorCode.CONFIG_DIGEST_MISMATCH, `refused as a config digest mismatch (${String(outcome)})`);
  t.match((outcome as Error).message, /app\.yaml: mismatch/);
  t.notOk(existsSync(dir), 'no credential, no secret');
});
