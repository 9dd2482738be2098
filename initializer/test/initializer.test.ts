/**
 * The initializer against a real in-process Coordinator on the simulated TEE: the guard goes in before anything
 * else, credentials and the workload secret land with the right modes, the pod volume's root is closed last, a pod
 * outside the manifest keeps retrying and writes nothing, and a config volume that differs from the manifest's pins
 * stops it with no secret written.
 */
import t from 'tap';
import { createHash, X509Certificate } from 'node:crypto';
import { chmodSync, existsSync, mkdirSync, readdirSync, readFileSync, statSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { SimulatedSnpIssuer } from '../../attestation/simulated/snp-issuer.js';
import { Harness, sha256hex } from '../../coordinator/test/harness.js';
import { CcmeshError } from '../../lib/errors.js';
import { createLogger } from '../../lib/log.js';
import { runInitializer } from '../unit.js';

const quiet = createLogger({ component: 'initializer', level: 'error', sink: () => undefined });

void t.test('initializer end to end against a Coordinator', async (t) => {
  const h = await Harness.create();
  t.teardown(() => h.close());
  await h.start();
  const user = await h.user();
  t.teardown(() => user.close());

  // Pin one config file for the web policy.
  const cfgDir = join(h.dir, 'config-mount');
  mkdirSync(cfgDir);
  writeFileSync(join(cfgDir, 'app.yaml'), 'port: 8080\n');
  const doc = JSON.parse(Buffer.from(h.manifest()).toString()) as Record<string, unknown>;
  doc.configDigests = { [sha256hex(h.podDoc)]: { [cfgDir]: { 'app.yaml': createHash('sha256').update('port: 8080\n').digest('hex') } } };
  const manifest = new Uint8Array(Buffer.from(JSON.stringify(doc)));
  const set = await user.call('SetManifest', await h.signedSet(user, manifest, [h.coordinatorDoc, h.podDoc]));

  const mesh = `127.0.0.1:${h.coordinator!.meshPort}`;
  const events: string[] = [];
  // The pod's ccmesh volume, world-writable like an emptyDir's root.
  const volumeRoot = join(h.dir, 'pod');
  mkdirSync(volumeRoot);
  chmodSync(volumeRoot, 0o777);
  const tlsDir = join(volumeRoot, 'tls');
  const secretPath = join(volumeRoot, 'secrets', 'workload-secret');
  const written = await runInitializer(
    { coordinator: mesh, tlsDir, secretPath, volumeRoot, meshDisabled: false, maxBackoffMs: 1000 },
    {
      issuer: () => Promise.resolve(new SimulatedSnpIssuer(h.platform, { hostData: Buffer.from(sha256hex(h.podDoc), 'hex') })),
      installGuard: () => {
        events.push(`guard (files before: ${existsSync(tlsDir) ? readdirSync(tlsDir).length : 0})`);
        return Promise.resolve();
      },
      logger: quiet,
    },
  );
  t.same(events, ['guard (files before: 0)'], 'the guard goes in first, before any file exists');
  t.equal(written.length, 5);
  t.equal(statSync(join(tlsDir, 'key.pem')).mode & 0o777, 0o400);
  t.equal(statSync(secretPath).mode & 0o777, 0o400);
  t.equal(readFileSync(secretPath).length, 64);
  t.equal(readFileSync(join(tlsDir, 'root-ca.pem'), 'utf8'), set.rootCa);
  const leaf = new X509Certificate(readFileSync(join(tlsDir, 'chain.pem')));
  t.match(leaf.subjectAltName ?? '', /spiffe:\/\/ccmesh\.local\/apps\/v1\/Deployment\/default\/web/);
  t.equal(statSync(volumeRoot).mode & 0o7777, 0o755, 'the volume root is closed last: 0755, writable by its owner only');

  // A config file changed by the host: refused, nothing written.
  writeFileSync(join(cfgDir, 'app.yaml'), 'port: 6666\n');
  const tlsDir2 = join(h.dir, 'pod2', 'tls');
  const err = await runInitializer(
    { coordinator: mesh, tlsDir: tlsDir2, secretPath: join(h.dir, 'pod2', 'secret'), meshDisabled: false, maxBackoffMs: 1000 },
    { issuer: () => Promise.resolve(new SimulatedSnpIssuer(h.platform, { hostData: Buffer.from(sha256hex(h.podDoc), 'hex') })), installGuard: undefined, logger: quiet },
  ).then(() => undefined, (e: unknown) => e);
  t.ok(err instanceof CcmeshError && err.code === 'CCMESH_ERR_CONFIG_DIGEST_MISMATCH', 'config mismatch refused');
  t.match((err as Error).message, /app\.yaml: mismatch/);
  t.notOk(existsSync(tlsDir2), 'no credential written');
  t.notOk(existsSync(join(h.dir, 'pod2', 'secret')), 'no secret written');

  // A pod whose policy is not in the manifest keeps retrying, logging why, and writes nothing.
  const lines: string[] = [];
  const stop = new AbortController();
  let attempts = 0;
  const refused = await runInitializer(
    { coordinator: mesh, tlsDir: join(h.dir, 'pod3'), secretPath: join(h.dir, 'pod3', 's'), meshDisabled: false, maxBackoffMs: 1000 },
    {
      issuer: () => Promise.resolve(new SimulatedSnpIssuer(h.platform, { hostData: Buffer.alloc(32, 0x42) })),
      installGuard: undefined,
      logger: createLogger({ component: 'initializer', level: 'warn', sink: (l) => lines.push(l) }),
      signal: stop.signal,
      sleep: () => {
        if (++attempts >= 3) stop.abort();
        return Promise.resolve();
      },
    },
  ).then(() => undefined, (e: unknown) => e);
  t.ok(refused instanceof CcmeshError, 'gave up only when stopped');
  const failures = lines.filter((l) => l.includes('attestation attempt failed'));
  t.equal(failures.length, 3, 'each failed attempt is logged');
  t.match(failures[0]!, /not in the manifest/);
  t.notOk(existsSync(join(h.dir, 'pod3', 'key.pem')));
});
