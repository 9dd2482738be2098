/**
 * Config pins hold for the pod's life, against a real in-process Coordinator on the simulated TEE: the initializer
 * with `configCopies` (what `inject` pins as `--config-volume`) verifies the host-synced ConfigMap mount and writes
 * the verified bytes into the copy the app reads; a change the host makes to the source AFTER the initializer
 * finished — the kubelet's own `..data` swap, and an in-place rewrite — never reaches the copy. A copied volume the
 * manifest does not pin stops the initializer before any credential is written.
 */
import t from 'tap';
import { createHash } from 'node:crypto';
import { existsSync, mkdirSync, readdirSync, readFileSync, renameSync, symlinkSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { SimulatedSnpIssuer } from '../../attestation/simulated/snp-issuer.js';
import { Harness, sha256hex } from '../../coordinator/test/harness.js';
import { CcmeshError, ErrorCode } from '../../lib/errors.js';
import { createLogger } from '../../lib/log.js';
import { runInitializer } from '../unit.js';

const sha = (s: string): string => createHash('sha256').update(s).digest('hex');

void t.test('initializer: a config change made after it finished does not change what the app reads', async (t) => {
  const h = await Harness.create();
  t.teardown(() => h.close());
  await h.start();
  const user = await h.user();
  t.teardown(() => user.close());

  // The host-synced ConfigMap mount, in the kubelet's ..data layout.
  const mount = join(h.dir, 'etc-web');
  const ts1 = join(mount, '..2026_11_26_00_00_00.1');
  mkdirSync(join(ts1, 'conf.d'), { recursive: true });
  writeFileSync(join(ts1, 'app.yaml'), 'port: 8080\n');
  writeFileSync(join(ts1, 'conf.d', 'site.conf'), 'listen 80\n');
  symlinkSync('..2026_11_26_00_00_00.1', join(mount, '..data'));
  symlinkSync('..data/app.yaml', join(mount, 'app.yaml'));
  symlinkSync('..data/conf.d', join(mount, 'conf.d'));

  const doc = JSON.parse(Buffer.from(h.manifest()).toString()) as Record<string, unknown>;
  doc.configDigests = { [sha256hex(h.podDoc)]: { [mount]: { 'app.yaml': sha('port: 8080\n'), 'conf.d/site.conf': sha('listen 80\n') } } };
  await user.call('SetManifest', await h.signedSet(user, new Uint8Array(Buffer.from(JSON.stringify(doc))), [h.coordinatorDoc, h.podDoc]));

  const mesh = `127.0.0.1:${h.coordinator!.meshPort}`;
  const issuer = (): Promise<SimulatedSnpIssuer> => Promise.resolve(new SimulatedSnpIssuer(h.platform, { hostData: Buffer.from(sha256hex(h.podDoc), 'hex') }));
  const lines: string[] = [];
  const logger = createLogger({ component: 'initializer', level: 'info', sink: (l) => lines.push(l) });
  const copy = join(h.dir, 'pod', 'ccmesh-config', 'settings');
  await runInitializer(
    { coordinator: mesh, tlsDir: join(h.dir, 'pod', 'tls'), secretPath: join(h.dir, 'pod', 'secret'), meshDisabled: false, maxBackoffMs: 1000, configCopies: [{ volume: 'settings', mountPath: mount, dest: copy }] },
    { issuer, installGuard: undefined, logger },
  );
  t.ok(existsSync(join(h.dir, 'pod', 'secret')), 'the initializer finished (secret written)');
  t.match(lines.join('\n'), /"configCopies":\[\{"volume":"settings"/, 'it logs the copy');
  const appReads = (): Record<string, string> => ({ 'app.yaml': readFileSync(join(copy, 'app.yaml'), 'utf8'), 'conf.d/site.conf': readFileSync(join(copy, 'conf.d', 'site.conf'), 'utf8') });
  t.same(appReads(), { 'app.yaml': 'port: 8080\n', 'conf.d/site.conf': 'listen 80\n' }, 'the app reads the verified content');

  // After the initializer finished: the kubelet-style update (new dir, ..data swapped), then an in-place rewrite.
  const ts2 = join(mount, '..2026_12_01_00_00_00.2');
  mkdirSync(join(ts2, 'conf.d'), { recursive: true });
  writeFileSync(join(ts2, 'app.yaml'), 'port: 6666\ndebug: true\n');
  writeFileSync(join(ts2, 'conf.d', 'site.conf'), 'listen 0.0.0.0:6666\n');
  symlinkSync('..2026_12_01_00_00_00.2', join(mount, '..data_tmp'));
  renameSync(join(mount, '..data_tmp'), join(mount, '..data'));
  writeFileSync(join(ts1, 'app.yaml'), 'port: 7777\n');
  t.equal(readFileSync(join(mount, 'app.yaml'), 'utf8'), 'port: 6666\ndebug: true\n', 'control: the host-synced volume now holds the host\'s content');
  t.same(appReads(), { 'app.yaml': 'port: 8080\n', 'conf.d/site.conf': 'listen 80\n' }, 'the app still reads exactly the verified content');
  t.same(readdirSync(copy).sort(), ['app.yaml', 'conf.d'], 'and nothing else');

  // A volume the pod reads only through a copy, but the manifest pins nothing for: no copy, no credential.
  const other = join(h.dir, 'etc-other');
  mkdirSync(other);
  writeFileSync(join(other, 'x'), 'unpinned');
  const err = await runInitializer(
    { coordinator: mesh, tlsDir: join(h.dir, 'pod2', 'tls'), secretPath: join(h.dir, 'pod2', 'secret'), meshDisabled: false, maxBackoffMs: 1000,
      configCopies: [{ volume: 'settings', mountPath: mount, dest: join(h.dir, 'pod2', 'copy', 'settings') }, { volume: 'other', mountPath: other, dest: join(h.dir, 'pod2', 'copy', 'other') }] },
    { issuer, installGuard: undefined, logger },
  ).then(() => undefined, (e: unknown) => e);
  t.ok(err instanceof CcmeshError && err.code === ErrorCode.CONFIG_DIGEST_MISMATCH, 'refused as not pinned, not retried');
  t.match((err as Error).message, /etc-other: unpinned \(volume "other"/);
  t.notOk(existsSync(join(h.dir, 'pod2')), 'nothing written: no copy, no key, no secret');
});
