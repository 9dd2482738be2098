/**
 * Running Kata's `genpolicy`, which reads a YAML file, computes each pod's agent policy and writes it back into
 * the file as the `io.katacontainers.config.agent.policy` annotation. Behind an interface so tests can substitute
 * a fake; the process implementation looks the binary up on the inherited PATH.
 */
import { execFile } from 'node:child_process';
import { CcmeshError, ErrorCode } from '../../lib/errors.js';

/** What generate needs from genpolicy. */
export interface PolicyGenerator {
  /**
   * Adds policy annotations to the pod resources of the YAML file at `path`, in place. Returns false when the
   * generator is not installed (nothing was done); throws when it is installed and fails.
   */
  annotate(path: string): Promise<boolean>;
}

/** A generator that is never installed (`--no-genpolicy`). */
export const NO_POLICY_GENERATOR: PolicyGenerator = { annotate: () => Promise.resolve(false) };

/** Runs `<binary> [...extraArgs] -y FILE` with a timeout; ENOENT means "not installed". */
export class ProcessPolicyGenerator implements PolicyGenerator {
  constructor(
    private readonly binary = 'genpolicy',
    private readonly extraArgs: readonly string[] = [],
    private readonly timeoutMs = 300_000,
  ) {}

  annotate(path: string): Promise<boolean> {
    return new Promise((resolve, reject) => {
      execFile(this.binary, [...this.extraArgs, '-y', path], { timeout: this.timeoutMs, maxBuffer: 16 * 1024 * 1024 }, (err, _stdout, stderr) => {
        if (!err) return resolve(true);
        if ((err as NodeJS.ErrnoException).code === 'ENOENT') return resolve(false);
        reject(new CcmeshError(ErrorCode.K8S_POLICY_INVALID, `${this.binary} -y ${path} failed (${err.message.split('\n')[0]}): ${stderr.trim().slice(-2000)}`, { cause: err }));
      });
    });
  }
}
