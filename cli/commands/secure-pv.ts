/**
 * `ccmesh secure-pv`: the helper `inject` adds for `ccmesh.dev/secure-pv` (a privileged native sidecar). Validates its
 * flags and inputs (the workload secret, the mount directory) before the device is touched, prepares the encrypted
 * volume (initializer/secure-pv/prepare.ts), then waits for SIGTERM and unmounts and closes it.
 */
import { promises as fsp } from 'node:fs';
import { type Runner, ProcessRunner } from '../../initializer/secure-pv/cryptsetup.js';
import { readSecurePvSettings, SECURE_PV_FLAGS, SECURE_PV_USAGE } from '../../initializer/secure-pv/config.js';
import { MIN_WORKLOAD_SECRET_BYTES } from '../../initializer/secure-pv/key.js';
import { closeSecureVolume, isMountedFrom, mapperName, prepareSecureVolume } from '../../initializer/secure-pv/prepare.js';
import { ConfigError } from '../../lib/errors.js';
import { EXIT } from '../../lib/exit-codes.js';
import { readCommandFlags, wantsHelp } from '../flags.js';
import type { CliIo } from '../io.js';

/** Longest the helper waits for umount and cryptsetup close after SIGTERM. */
const CLOSE_WITHIN_MS = 60_000;

/** Runs `ccmesh secure-pv`; `runner` is injectable for tests. */
export async function securePvCommand(argv: readonly string[], io: CliIo, runner: Runner = new ProcessRunner()): Promise<number> {
  if (wantsHelp(argv)) {
    io.stdout(SECURE_PV_USAGE);
    return EXIT.ok;
  }
  const { r } = readCommandFlags('secure-pv', argv, SECURE_PV_FLAGS);
  const s = readSecurePvSettings(r);
  r.finish();
  if (s === undefined) return EXIT.usage; // unreachable: finish() threw for every undefined
  if (s.mode === 'check') return (await isMountedFrom(s.mountDir, `/dev/mapper/${mapperName(s.volume)}`).catch(() => false)) ? EXIT.ok : EXIT.internal;

  // Inputs checked before anything reads the device: a missing secret or mount point is a configuration error.
  const dir = await fsp.stat(s.mountDir).catch(() => undefined);
  if (dir === undefined || !dir.isDirectory()) throw new ConfigError('flags for "ccmesh secure-pv"', [{ field: '--mount-dir', value: s.mountDir, expected: 'an existing directory (the mount volume)' }]);
  const secret = await fsp.readFile(s.workloadSecretPath).catch((e: NodeJS.ErrnoException) => e);
  if (!(secret instanceof Buffer) || secret.length < MIN_WORKLOAD_SECRET_BYTES) {
    const got = secret instanceof Buffer ? `${secret.length} bytes` : `unreadable (${(secret as NodeJS.ErrnoException).code ?? String(secret)})`;
    throw new ConfigError('flags for "ccmesh secure-pv"', [{ field: '--workload-secret', value: s.workloadSecretPath, expected: `a readable file of at least ${MIN_WORKLOAD_SECRET_BYTES} bytes (the initializer's workload secret; it is ${got})` }]);
  }
  const log = (line: string): void => io.stderr(`${line}\n`);
  try {
    await prepareSecureVolume({ device: s.device, volume: s.volume, mountDir: s.mountDir, workloadSecret: secret, ...(s.owner !== undefined ? { rootOwner: s.owner } : {}) }, runner, log);
  } finally {
    secret.fill(0);
  }
  io.stdout(`secure volume ${s.volume} mounted at ${s.mountDir}\n`);
  if (io.signal === undefined) return EXIT.ok;
  io.drainWithin?.(CLOSE_WITHIN_MS);
  const signal = io.signal;
  await new Promise<void>((resolve) => {
    if (signal.aborted) resolve();
    else signal.addEventListener('abort', () => resolve(), { once: true });
  });
  await closeSecureVolume(s.volume, s.mountDir, runner);
  log(`secure volume ${s.volume}: unmounted ${s.mountDir} and closed`);
  return EXIT.ok;
}

export { SECURE_PV_USAGE };
