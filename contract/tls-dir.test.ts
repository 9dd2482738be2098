/**
 * The TLS directory's one owner: what the initializer writes and what the sidecar writes on renewal or trust refresh
 * have the same names and modes, read back as written, and leave no temporary file behind.
 */
import t from 'tap';
import { chmodSync, chownSync, mkdirSync, mkdtempSync, readdirSync, rmSync, statSync, symlinkSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { readTlsFiles, TLS_FILE_MODES, tlsFilePaths, writeTlsBundle, writeTlsFiles } from './tls-dir.js';

void t.test('written files read back as written, with one set of modes whoever writes them', async (t) => {
  const dir = join(mkdtempSync(join(tmpdir(), 'ccmesh-tlsdir-')), 'tls');
  t.teardown(() => rmSync(join(dir, '..'), { recursive: true, force: true }));
  const first = { key: 'key-1', chain: 'chain-1', meshCaBundle: 'bundle-1', rootCa: 'root' };
  await writeTlsFiles(dir, first);
  t.same(await readTlsFiles(dir), first, 'the first credentials read back');
  const renewed = { ...first, key: 'key-2', chain: 'chain-2' };
  await writeTlsFiles(dir, renewed); // a renewal over existing files
  await writeTlsBundle(dir, 'bundle-2'); // then a trust refresh
  t.same(await readTlsFiles(dir), { ...renewed, meshCaBundle: 'bundle-2' }, 'a renewal and a new bundle replace what they should');
  const paths = tlsFilePaths(dir);
  for (const f of ['key', 'chain', 'meshCaBundle', 'rootCa'] as const) t.equal(statSync(paths[f]).mode & 0o777, TLS_FILE_MODES[f], `${f}: mode ${TLS_FILE_MODES[f].toString(8)}`);
  t.equal(TLS_FILE_MODES.key, 0o400, 'the key is readable by its owner only');
  t.same(readdirSync(dir).sort(), ['chain.pem', 'key.pem', 'mesh-ca.pem', 'root-ca.pem'], 'no temporary file left behind');
});

void t.test('a TLS directory another container made or swapped in is refused, not written into', async (t) => {
  const base = mkdtempSync(join(tmpdir(), 'ccmesh-tlsdir-'));
  t.teardown(() => rmSync(base, { recursive: true, force: true }));
  const files = { key: 'key', chain: 'chain', meshCaBundle: 'bundle', rootCa: 'root' };
  // A link at the directory's name: nothing is written where it points.
  const elsewhere = join(base, 'elsewhere');
  mkdirSync(elsewhere);
  symlinkSync(elsewhere, join(base, 'linked'));
  await t.rejects(writeTlsFiles(join(base, 'linked'), files), { code: 'CCMESH_ERR_CREDENTIALS_DIR_UNSAFE', message: /is not a directory \(a link or a file stands at its name\)/ });
  t.same(readdirSync(elsewhere), [], 'nothing written through the link');
  // A directory others may write to (a neighbour could replace key, chain and root in it).
  mkdirSync(join(base, 'open'));
  chmodSync(join(base, 'open'), 0o777);
  await t.rejects(writeTlsFiles(join(base, 'open'), files), { code: 'CCMESH_ERR_CREDENTIALS_DIR_UNSAFE', message: /is writable by group or others \(mode 777\)/ });
  t.same(readdirSync(join(base, 'open')), [], 'nothing written into it');
  // A directory of another uid (root only: chown).
  if (process.getuid?.() === 0) {
    mkdirSync(join(base, 'theirs'), { mode: 0o755 });
    chownSync(join(base, 'theirs'), 4242, 4242);
    await t.rejects(writeTlsFiles(join(base, 'theirs'), files, { owner: 1337 }), { code: 'CCMESH_ERR_CREDENTIALS_DIR_UNSAFE', message: /belongs to uid 4242/ });
    await t.rejects(writeTlsFiles(join(base, 'theirs'), files), { code: 'CCMESH_ERR_CREDENTIALS_DIR_UNSAFE', message: /belongs to uid 4242/ }, 'also for a writer that hands it to nobody (a sidecar renewing)');
    chownSync(join(base, 'theirs'), 1337, 1337);
    await t.resolves(writeTlsFiles(join(base, 'theirs'), files, { owner: 1337 }), 'control: the sidecar\'s own directory (an initializer re-run) is written');
    await t.resolves(writeTlsFiles(join(base, 'theirs'), files), 'control: and a root sidecar renews into it');
  } else if (process.env.CI) {
    t.fail('the other-uid case needs root; CI runs as root');
  }
});
