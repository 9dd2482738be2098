/**
 * Creating a directory and its missing parents without `mkdir({ recursive: true })`: Node 20's recursive mkdir
 * never returns for some paths the kernel refuses in an unusual way (`/proc/x` spins at full CPU in the thread
 * pool, and the process then ignores SIGTERM), and a user can name any path. This walks up to the first existing
 * ancestor and creates each level with a plain mkdir, so every refusal is one ordinary error.
 */
import { mkdir, stat } from 'node:fs/promises';
import { dirname, resolve } from 'node:path';

/** Creates `path` and any missing parents, each with `mode` (as recursive mkdir does); an existing directory is fine. */
export async function makeDirs(path: string, mode = 0o777): Promise<void> {
  const target = resolve(path);
  const missing: string[] = [];
  let cur = target;
  for (;;) {
    const st = await stat(cur).catch((err: NodeJS.ErrnoException) => {
      if (err.code === 'ENOENT') return undefined;
      throw err;
    });
    if (st) {
      if (!st.isDirectory()) {
        const code = cur === target ? 'EEXIST' : 'ENOTDIR';
        throw Object.assign(new Error(`${code}: not a directory, mkdir '${cur}'`), { code, path: cur, syscall: 'mkdir' });
      }
      break;
    }
    missing.push(cur);
    const parent = dirname(cur);
    if (parent === cur) break;
    cur = parent;
  }
  for (const dir of missing.reverse()) {
    await mkdir(dir, mode).catch((err: NodeJS.ErrnoException) => {
      // Another process may create it between our stat and mkdir: fine if it is a directory now.
      if (err.code !== 'EEXIST') throw err;
      return stat(dir).then((st) => {
        if (!st.isDirectory()) throw err;
      });
    });
  }
}
