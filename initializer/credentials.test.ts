/**
 * Ownership of what the initializer writes: as root it hands the TLS directory and files to the sidecar's uid (the
 * sidecar renews into that directory) and the workload secret to the app's uid; modes stay 0400 for the key and the
 * secret. Needs root to chown; CI runs as root and fails rather than skips.
 */
import t from 'tap';
import { generateKeyPairSync } from 'node:crypto';
import { lstatSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, statSync, symlinkSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { PROXY_UID } from '../lib/pod-layout.js';
import { writeCredentials } from './credentials.js';

const root = process.getuid?.() === 0;
if (!root && process.env.CI) {
  t.fail('the ownership test must run as root in CI');
} else if (!root) {
  t.pass('ownership test', { skip: 'needs root to chown' });
} else {
  void t.test('TLS files go to the sidecar uid, the secret to the app uid', async (t) => {
    const dir = mkdtempSync(join(tmpdir(), 'ccmesh-owners-'));
    t.teardown(() => rmSync(dir, { recursive: true, force: true }));
    const tls = join(dir, 'tls');
    const secret = join(dir, 'secrets', 'workload-secret');
    const { privateKey } = generateKeyPairSync('ec', { namedCurve: 'P-256' });
    const written = await writeCredentials(tls, secret, { key: privateKey, certChain: 'chain', meshCaBundle: 'bundle', rootCa: 'root', workloadSecret: new Uint8Array(64) }, { tls: PROXY_UID, secret: 4242 });
    t.equal(written.length, 5);
    for (const p of [tls, ...written.filter((w) => w.startsWith(tls))]) t.equal(statSync(p).uid, PROXY_UID, `${p} owned by the sidecar uid`);
    t.equal(statSync(join(tls, 'key.pem')).mode & 0o777, 0o400, 'key.pem stays 0400');
    t.equal(statSync(secret).uid, 4242, 'the workload secret belongs to the app uid');
    t.equal(statSync(join(dir, 'secrets')).uid, 4242, 'and its directory');
    t.equal(statSync(secret).mode & 0o777, 0o400, 'mode 0400');
    const plain = join(dir, 'plain');
    await writeCredentials(join(plain, 'tls'), join(plain, 's', 'secret'), { key: privateKey, certChain: 'c', meshCaBundle: 'b', rootCa: 'r', workloadSecret: new Uint8Array(64) });
    t.equal(statSync(join(plain, 'tls', 'key.pem')).uid, 0, 'without owners everything stays with the writer');
  });
}

void t.test('the key and the secret are written whole, 0400, never through a link the host planted', async (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'ccmesh-creds-'));
  t.teardown(() => rmSync(dir, { recursive: true, force: true }));
  const tls = join(dir, 'tls');
  const secret = join(dir, 'secrets', 'workload-secret');
  const outside = join(dir, 'outside');
  mkdirSync(outside);
  mkdirSync(tls);
  // Links planted at the names the initializer writes, pointing where the host can read.
  symlinkSync(join(outside, 'stolen-key'), join(tls, 'key.pem'));
  mkdirSync(join(dir, 'secrets'), { mode: 0o700 });
  symlinkSync(join(outside, 'stolen-secret'), secret);
  const { privateKey } = generateKeyPairSync('ec', { namedCurve: 'P-256' });
  const workloadSecret = new Uint8Array(64).fill(7);
  await writeCredentials(tls, secret, { key: privateKey, certChain: 'chain', meshCaBundle: 'bundle', rootCa: 'root', workloadSecret });
  t.same(readdirSync(outside), [], 'nothing was written through the links');
  for (const p of [join(tls, 'key.pem'), secret]) {
    const st = lstatSync(p);
    t.ok(st.isFile(), `${p} is a regular file now, not the link`);
    t.equal(st.mode & 0o777, 0o400, `${p} is 0400`);
  }
  t.equal(readFileSync(join(tls, 'key.pem'), 'utf8'), privateKey.export({ type: 'pkcs8', format: 'pem' }) as string, 'key.pem holds the key');
  t.same(new Uint8Array(readFileSync(secret)), workloadSecret, 'the secret holds the secret');
  t.same(readdirSync(tls).sort(), ['chain.pem', 'key.pem', 'mesh-ca.pem', 'root-ca.pem'], 'no temporary file left behind');
});

void t.test('a new secret directory is 0700', async (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'ccmesh-creds-'));
  t.teardown(() => rmSync(dir, { recursive: true, force: true }));
  const { privateKey } = generateKeyPairSync('ec', { namedCurve: 'P-256' });
  await writeCredentials(join(dir, 'tls'), join(dir, 'secrets', 'workload-secret'), { key: privateKey, certChain: 'c', meshCaBundle: 'b', rootCa: 'r', workloadSecret: new Uint8Array(64) });
  t.equal(statSync(join(dir, 'secrets')).mode & 0o777, 0o700, 'only its owner may even list it');
});
