/**
 * The TLS directory's one owner: what the initializer writes and what the sidecar writes on renewal or trust refresh
 * have the same names and modes, read back as written, and leave no temporary file behind.
 */
import t from 'tap';
import { mkdtempSync, readdirSync, rmSync, statSync } from 'node:fs';
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
