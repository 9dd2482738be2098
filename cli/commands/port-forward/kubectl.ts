/**
 * `kubectl port-forward` to a pod's mTLS port, spawned by `ccmesh port-forward` when it is given a pod name. kubectl
 * listens on an ephemeral 127.0.0.1 port and relays to the pod through the API server and kubelet — the untrusted
 * path — which is why only TLS records ever travel through it. The local port is read from kubectl's
 * "Forwarding from 127.0.0.1:PORT -> …" line.
 */
import { type ChildProcess, spawn } from 'node:child_process';
import { CcmeshError, ErrorCode } from '../../../lib/errors.js';

/** A running `kubectl port-forward`. */
export interface KubectlForward {
  /** The 127.0.0.1 port kubectl listens on. */
  readonly port: number;
  /** Resolves when kubectl exits (with its last stderr line). */
  readonly exited: Promise<string>;
  stop(): void;
}

const FORWARDING_RE = /Forwarding from 127\.0\.0\.1:(\d+) ->/;

/** Starts `kubectl port-forward [-n NS] pod/NAME 0:MTLSPORT`; throws PORT_FORWARD_KUBECTL when kubectl is absent or fails. */
export function startKubectlForward(kubectl: string, pod: string, namespace: string | undefined, mtlsPort: number, timeoutMs = 30_000): Promise<KubectlForward> {
  const args = ['port-forward', ...(namespace !== undefined ? ['-n', namespace] : []), `pod/${pod}`, `0:${mtlsPort}`];
  let child: ChildProcess;
  try {
    child = spawn(kubectl, args, { stdio: ['ignore', 'pipe', 'pipe'] });
  } catch (err) {
    throw new CcmeshError(ErrorCode.PORT_FORWARD_KUBECTL, `cannot start ${kubectl}: ${err instanceof Error ? err.message : String(err)}`, { cause: err });
  }
  let lastErr = '';
  child.stderr!.on('data', (d: Buffer) => {
    const lines = d.toString().trim().split('\n');
    lastErr = lines[lines.length - 1] ?? lastErr;
  });
  const exited = new Promise<string>((resolve) => child.once('close', () => resolve(lastErr)));
  return new Promise<KubectlForward>((resolve, reject) => {
    let out = '';
    const fail = (err: CcmeshError): void => {
      clearTimeout(timer);
      child.kill('SIGTERM');
      reject(err);
    };
    const timer = setTimeout(() => fail(new CcmeshError(ErrorCode.PORT_FORWARD_KUBECTL, `${kubectl} ${args.join(' ')} did not report a local port within ${timeoutMs / 1000} s${lastErr ? ` (${lastErr})` : ''}`)), timeoutMs);
    child.once('error', (err: NodeJS.ErrnoException) => {
      fail(new CcmeshError(
        ErrorCode.PORT_FORWARD_KUBECTL,
        err.code === 'ENOENT'
          ? `kubectl was not found (${kubectl}): install kubectl, pass --kubectl PATH, or give the pod's IP address to connect directly`
          : `cannot start ${kubectl}: ${err.message}`,
        { cause: err },
      ));
    });
    child.once('exit', (code) => fail(new CcmeshError(ErrorCode.PORT_FORWARD_KUBECTL, `${kubectl} ${args.join(' ')} exited (${String(code)}) before forwarding${lastErr ? `: ${lastErr}` : ''}`)));
    child.stdout!.on('data', (d: Buffer) => {
      out += d.toString();
      const m = FORWARDING_RE.exec(out);
      if (!m) return;
      clearTimeout(timer);
      child.removeAllListeners('exit');
      child.stdout!.removeAllListeners('data');
      child.stdout!.resume();
      resolve({ port: Number(m[1]), exited, stop: () => child.kill('SIGTERM') });
    });
  });
}
