/** The ccmesh version, read once from package.json (the single source of truth). */
import { readFileSync } from 'node:fs';

function readVersion(): string {
  try {
    const pkg = JSON.parse(readFileSync(new URL('../../package.json', import.meta.url), 'utf8')) as { version?: unknown };
    return typeof pkg.version === 'string' ? pkg.version : 'unknown';
  } catch {
    // Running from an unusual layout (e.g. a bundled copy) must not stop the CLI from starting.
    return 'unknown';
  }
}

/** Semver of this build. */
export const VERSION = readVersion();
