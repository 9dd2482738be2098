/**
 * Ownership of what the initializer writes: as root it hands the TLS directory and files to the sidecar's uid (the
 * sidecar renews into that directory) and the workload secret to the app's uid; modes stay 0400 for the key and the
 * secret. Needs root to chown; CI runs as root and fails rather than skips.
 */
import t from 'tap';
import { generateKeyPairSync } from 'node:crypto';
import { mkdtempSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { PROXY_UID } from '../../lib/well-known.js';
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
