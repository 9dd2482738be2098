/**
 * `ccmesh initializer --config-volume NAME=MOUNT [--config-copy-dir DIR]`, table-driven: accepted values become copy
 * specs (`<DIR>/NAME`, default /ccmesh-config/NAME); every malformed or repeated value is reported at once, naming
 * the flag and the value. MOUNT must be spelled exactly as the manifest's configDigests key it (normal, absolute).
 */
import t from 'tap';
import { ConfigError } from '../lib/errors.js';
import { CONFIG_VOLUME_FLAGS, readConfigVolumeFlags } from './config-volume-flags.js';
import { readCommandFlags } from '../cli/flags.js';

function read(argv: string[]): { copies?: ReturnType<typeof readConfigVolumeFlags>; error?: string } {
  const { tok, r } = readCommandFlags('initializer', argv, CONFIG_VOLUME_FLAGS);
  const copies = readConfigVolumeFlags(r, tok);
  try {
    r.finish();
    return { copies };
  } catch (err) {
    if (err instanceof ConfigError) return { error: err.message };
    throw err;
  }
}

void t.test('accepted: each volume once, its copy under the copy dir', async (t) => {
  t.same(read([]).copies, [], 'none by default');
  t.same(read(['--config-volume', 'settings=/etc/api', '--config-volume=tls-files=/run/secrets/a=b']).copies, [
    { volume: 'settings', mountPath: '/etc/api', dest: '/ccmesh-config/settings' },
    { volume: 'tls-files', mountPath: '/run/secrets/a=b', dest: '/ccmesh-config/tls-files' },
  ]);
  t.same(read(['--config-volume', 'settings=/etc/api', '--config-copy-dir', '/tmp/pod/copies']).copies, [{ volume: 'settings', mountPath: '/etc/api', dest: '/tmp/pod/copies/settings' }]);
});

const REFUSED: readonly (readonly [string, string[], RegExp])[] = [
  ['no "="', ['--config-volume', 'settings'], /--config-volume.*"settings".*NAME=MOUNT/s],
  ['an upper-case name', ['--config-volume', 'Settings=/etc/api'], /a lowercase DNS label/],
  ['a name with a slash (it names a directory)', ['--config-volume', '../tls=/etc/api'], /a lowercase DNS label/],
  ['a relative mount', ['--config-volume', 'settings=etc/api'], /MOUNT an absolute path/],
  ['a trailing slash (configDigests keys have none)', ['--config-volume', 'settings=/etc/api/'], /MOUNT a normal absolute path/],
  ['a ".." segment', ['--config-volume', 'settings=/etc/../api'], /MOUNT a normal absolute path/],
  ['a volume twice', ['--config-volume', 'settings=/etc/a', '--config-volume', 'settings=/etc/b'], /each volume and each mount path once/],
  ['a mount twice', ['--config-volume', 'a=/etc/a', '--config-volume', 'b=/etc/a'], /each volume and each mount path once/],
  ['an empty copy dir', ['--config-copy-dir=', '--config-volume', 'a=/etc/a'], /--config-copy-dir/],
];

for (const [name, argv, says] of REFUSED) {
  void t.test(`refused: ${name}`, async (t) => {
    const r = read(argv);
    t.equal(r.copies, undefined, 'no copies');
    t.match(r.error ?? '', says);
  });
}

void t.test('every problem at once', async (t) => {
  const r = read(['--config-volume', 'A=/x', '--config-volume', 'b=y']);
  t.match(r.error ?? '', /"A=\/x"[\s\S]*"b=y"/);
});
