/**
 * Makes the calling process non-dumpable (`prctl(PR_SET_DUMPABLE, 0)`, through koffi: Node has no API for it). A
 * non-dumpable process writes no core file, and its /proc/<pid> entries (mem, environ, fd, maps …) belong to root:
 * another process of the same uid can no longer ptrace it or read its memory — in a pod that shares its process
 * namespace, a container that happens to run as the sidecar's uid could otherwise read the mesh key out of it.
 * The flag is per process and reset by execve, so every ccmesh process that holds keys sets it itself at start
 * (the sidecar's workers too). Linux only.
 */
import type { Logger } from '../log.js';

// <linux/prctl.h>
const PR_SET_DUMPABLE = 4;
const PR_GET_DUMPABLE = 3;

interface PrctlBinding {
  readonly prctl: (option: number, arg2: number) => number;
  readonly errno: () => number;
}

let binding: Promise<PrctlBinding> | undefined;

async function load(): Promise<PrctlBinding> {
  const koffi = (await import('koffi')).default;
  const fn = koffi.load(null).func('int prctl(int option, unsigned long arg2, unsigned long arg3, unsigned long arg4, unsigned long arg5)');
  return { prctl: (option, arg2) => fn(option, arg2, 0, 0, 0) as number, errno: () => koffi.errno() };
}

/** What {@link forbidDumps} did: `set`, or why not (the caller logs it; it is hardening, not a start condition). */
export type DumpableResult = { readonly ok: true } | { readonly ok: false; readonly reason: string };

/** Sets PR_SET_DUMPABLE to 0 and reads it back. Never throws. */
export async function forbidDumps(): Promise<DumpableResult> {
  if (process.platform !== 'linux') return { ok: false, reason: `not Linux (${process.platform})` };
  try {
    binding ??= load();
    const b = await binding;
    // Synchronous calls: errno is per thread and read right after.
    if (b.prctl(PR_SET_DUMPABLE, 0) !== 0) return { ok: false, reason: `prctl(PR_SET_DUMPABLE, 0) failed with errno ${b.errno()}` };
    const now = b.prctl(PR_GET_DUMPABLE, 0);
    return now === 0 ? { ok: true } : { ok: false, reason: `PR_GET_DUMPABLE reads ${now} after setting 0` };
  } catch (err) {
    return { ok: false, reason: `prctl unavailable: ${err instanceof Error ? err.message : String(err)}` };
  }
}

/** {@link forbidDumps}, with a warning on `logger` when it could not be done. */
export async function forbidDumpsOrWarn(logger: Logger): Promise<void> {
  const r = await forbidDumps();
  if (!r.ok) logger.warn('SECURITY: could not make the process non-dumpable; same-uid processes may read its memory', { reason: r.reason });
}
