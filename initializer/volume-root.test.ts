/**
 * Closing the pod volume's root: an emptyDir root is writable by every container's user, so one could rename the TLS
 * directory away and put its own at that name; once closed (0755, the sidecar's), another uid can't, the sidecar
 * still writes there, and nothing is changed through a link planted at the root's name. Needs root (chown, and a
 * child process under another uid); CI runs as root and fails rather than skips.
 */
import t from 'tap';
import { spawnSync } from 'node:child_process';
import { chmodSync, chownSync, mkdirSync, mkdtempSync, rmSync, statSync, symlinkSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { PROXY_UID } from '../lib/pod-layout.js';
import { closeVolumeRoot } from './volume-root.js';

/** Runs `fs.<call>` in a child process as `uid`; 'ok' or the error code. */
function as(uid: number, call: string): string {
  const script = `try { require('node:fs').${call}; console.log('ok'); } catch (e) { console.log(e.code); }`;
  return spawnSync(process.execPath, ['-e', script], { uid, gid: uid, encoding: 'utf8' }).stdout.trim();
}

const rename = (from: string, to: string): string => `renameSync(${JSON.stringify(from)}, ${JSON.stringify(to)})`;

const root = process.getuid?.() === 0;
if (!root && process.env.CI) {
  t.fail('the volume-root test must run as root in CI');
} else if (!root) {
  t.pass('volume-root test', { skip: 'needs root to chown and to act as another uid' });
} else {
  void t.test('a closed volume root: another uid can no longer rename the TLS directory away; the sidecar still writes', async (t) => {
    const base = mkdtempSync(join(tmpdir(), 'ccmesh-volume-root-'));
    t.teardown(() => rmSync(base, { recursive: true, force: true }));
    chmodSync(base, 0o755);
    const volume = join(base, 'ccmesh');
    mkdirSync(volume);
    chmodSync(volume, 0o2777); // an emptyDir root as the kubelet leaves it with fsGroup: setgid, writable by all
    const tls = join(volume, 'tls');
    mkdirSync(tls, { mode: 0o755 });
    chownSync(tls, PROXY_UID, PROXY_UID);
    t.equal(as(4242, rename(tls, join(volume, 'gone'))), 'ok', 'control: an open root lets any uid rename the TLS directory away');
    t.equal(as(0, rename(join(volume, 'gone'), tls)), 'ok', '(put back)');

    await closeVolumeRoot(volume, PROXY_UID);
    const st = statSync(volume);
    t.equal(st.mode & 0o7777, 0o755, 'mode 0755: no setgid or sticky bit, writable by its owner only');
    t.equal(st.uid, PROXY_UID, 'owned by the sidecar');
    t.equal(as(4242, rename(tls, join(volume, 'gone'))), 'EACCES', 'another uid can no longer rename the TLS directory away');
    t.equal(as(4242, `mkdirSync(${JSON.stringify(join(volume, 'tls2'))})`), 'EACCES', 'nor make a directory of its own there');
    t.equal(as(PROXY_UID, `writeFileSync(${JSON.stringify(join(volume, 'ready'))}, 'x')`), 'ok', 'the sidecar still writes its ready file there');
  });

  void t.test('nothing is changed through a link at the volume root\'s name', async (t) => {
    const base = mkdtempSync(join(tmpdir(), 'ccmesh-volume-root-'));
    t.teardown(() => rmSync(base, { recursive: true, force: true }));
    const target = join(base, 'elsewhere');
    mkdirSync(target);
    chmodSync(target, 0o777);
    symlinkSync(target, join(base, 'ccmesh'));
    await t.rejects(closeVolumeRoot(join(base, 'ccmesh'), PROXY_UID), { code: 'CCMESH_ERR_CREDENTIALS_DIR_UNSAFE', message: /the pod volume root .*ccmesh can't be closed to other containers \(expected a directory, not a link/ });
    t.equal(statSync(target).mode & 0o777, 0o777, 'the link\'s target keeps its mode');
    t.equal(statSync(target).uid, 0, 'and its owner');
  });
}
