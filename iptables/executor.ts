/**
 * How iptables, ip6tables and iproute2 are run: behind an {@link Executor} so `--dry-run`, golden tests and network
 * namespaces are the same code path as production. The real executor uses execFile (no shell: arguments are never
 * re-parsed), with a time limit and an output cap, and turns a missing binary into exit code 127 like a shell would.
 */
import { execFile } from 'node:child_process';

/** What one command returned. */
export interface ExecResult {
  readonly code: number;
  readonly stdout: string;
  readonly stderr: string;
}

/** Runs a command with optional stdin. Never throws for a non-zero exit; that is data. */
export interface Executor {
  run(cmd: string, args: readonly string[], stdin?: string): Promise<ExecResult>;
}

/** Limits of {@link ProcessExecutor}. */
export interface ProcessExecutorOptions {
  readonly timeoutMs?: number;
  readonly maxOutputBytes?: number;
}

/** Runs commands as child processes. */
export class ProcessExecutor implements Executor {
  readonly #timeoutMs: number;
  readonly #maxBuffer: number;

  constructor(opts: ProcessExecutorOptions = {}) {
    this.#timeoutMs = opts.timeoutMs ?? 10_000;
    this.#maxBuffer = opts.maxOutputBytes ?? 16 * 1024 * 1024;
  }

  run(cmd: string, args: readonly string[], stdin?: string): Promise<ExecResult> {
    return new Promise((resolve) => {
      const child = execFile(cmd, args, { timeout: this.#timeoutMs, maxBuffer: this.#maxBuffer, encoding: 'utf8', killSignal: 'SIGKILL' }, (err, stdout, stderr) => {
        if (!err) {
          resolve({ code: 0, stdout, stderr });
          return;
        }
        const e = err as NodeJS.ErrnoException & { code?: string | number; killed?: boolean };
        if (e.code === 'ENOENT') resolve({ code: 127, stdout: '', stderr: `${cmd}: command not found` });
        else if (typeof e.code === 'number') resolve({ code: e.code, stdout, stderr });
        else resolve({ code: 1, stdout, stderr: `${stderr}${stderr.endsWith('\n') || stderr === '' ? '' : '\n'}${cmd}: ${e.killed ? `killed after ${this.#timeoutMs} ms` : e.message}` });
      });
      // A child that exits before reading stdin makes the write fail with EPIPE; the exit code already says why.
      child.stdin?.on('error', () => undefined);
      child.stdin?.end(stdin ?? '');
    });
  }
}

/** One recorded call of {@link DryRunExecutor}. */
export interface RecordedCall {
  readonly cmd: string;
  readonly args: readonly string[];
  readonly stdin?: string;
}

/** Answers a call in a dry run; undefined means "succeeded with no output". */
export type DryRunResponder = (call: RecordedCall) => ExecResult | undefined;

/**
 * Records every call instead of running it. Reads can be answered by `respond` (e.g. canned iptables-save text);
 * unanswered calls succeed with empty output, which reads as "nothing of ours is installed".
 */
export class DryRunExecutor implements Executor {
  readonly calls: RecordedCall[] = [];
  readonly #respond: DryRunResponder;

  constructor(respond: DryRunResponder = () => undefined) {
    this.#respond = respond;
  }

  run(cmd: string, args: readonly string[], stdin?: string): Promise<ExecResult> {
    const call: RecordedCall = stdin === undefined ? { cmd, args: [...args] } : { cmd, args: [...args], stdin };
    this.calls.push(call);
    return Promise.resolve(this.#respond(call) ?? { code: 0, stdout: '', stderr: '' });
  }

  /** The calls as shell-like lines with their stdin, for golden files and `--dry-run` output. */
  transcript(): string {
    return this.calls.map((c) => `$ ${[c.cmd, ...c.args].join(' ')}\n${c.stdin ?? ''}`).join('');
  }
}

/** An executor that runs every command inside network namespace `ns` (`ip netns exec NS …`). */
export function netnsExecutor(inner: Executor, ns: string): Executor {
  return { run: (cmd, args, stdin) => inner.run('ip', ['netns', 'exec', ns, cmd, ...args], stdin) };
}
