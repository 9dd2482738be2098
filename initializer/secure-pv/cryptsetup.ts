/**
 * The commands an encrypted persistent volume needs — cryptsetup (Debian cryptsetup-bin), mkfs.ext4, mount, umount —
 * behind a {@link Runner}, run without a shell. The keyslot passphrase only ever travels on the child's stdin
 * (`--key-file=-` with an exact `--keyfile-size`): never in argv (visible in /proc to every process of the pod) and
 * never in a file.
 */
import { spawn } from 'node:child_process';

/** What one command returned; a non-zero exit is data, not an exception. */
export interface RunResult {
  readonly code: number;
  readonly stdout: string;
  readonly stderr: string;
}

/** Runs a command with optional binary stdin. */
export interface Runner {
  run(cmd: string, args: readonly string[], stdin?: Uint8Array): Promise<RunResult>;
}

/** Longest a command may take: a format with integrity wipes the whole device (minutes for large volumes). */
const DEFAULT_TIMEOUT_MS = 6 * 60 * 60 * 1000;

/** Runs commands as child processes (no shell), output capped at 1 MiB each. */
export class ProcessRunner implements Runner {
  readonly #timeoutMs: number;

  constructor(timeoutMs: number = DEFAULT_TIMEOUT_MS) {
    this.#timeoutMs = timeoutMs;
  }

  run(cmd: string, args: readonly string[], stdin?: Uint8Array): Promise<RunResult> {
    return new Promise((resolve) => {
      const child = spawn(cmd, args, { stdio: ['pipe', 'pipe', 'pipe'], timeout: this.#timeoutMs, killSignal: 'SIGKILL' });
      const out: Buffer[] = [];
      const err: Buffer[] = [];
      let outLen = 0;
      let errLen = 0;
      const cap = 1024 * 1024;
      child.stdout.on('data', (b: Buffer) => { if (outLen < cap) { out.push(b); outLen += b.length; } });
      child.stderr.on('data', (b: Buffer) => { if (errLen < cap) { err.push(b); errLen += b.length; } });
      let spawnError: NodeJS.ErrnoException | undefined;
      child.on('error', (e: NodeJS.ErrnoException) => { spawnError = e; });
      child.on('close', (code, signal) => {
        const stdout = Buffer.concat(out).toString('utf8');
        const stderr = Buffer.concat(err).toString('utf8');
        if (spawnError?.code === 'ENOENT') resolve({ code: 127, stdout, stderr: `${cmd}: command not found` });
        else if (code === null) resolve({ code: 1, stdout, stderr: `${stderr}${cmd}: ${signal === null ? String(spawnError?.message) : `killed by ${signal}`}` });
        else resolve({ code, stdout, stderr });
      });
      // A child that exits before reading stdin makes the write fail with EPIPE; the exit code already says why.
      child.stdin.on('error', () => undefined);
      child.stdin.end(stdin === undefined ? undefined : Buffer.from(stdin));
    });
  }
}

/** cryptsetup's exit code for "no key available with this passphrase" (cryptsetup(8), RETURN CODES). */
export const CRYPTSETUP_WRONG_KEY = 2;

/** The keyslot passphrase arguments: read exactly `keyBytes` bytes from stdin. */
function keyArgs(keyBytes: number): string[] {
  return ['--key-file=-', '--keyfile-size', String(keyBytes)];
}

/**
 * `cryptsetup luksFormat` of a blank device: LUKS2, AES-XTS with HMAC-SHA256 integrity (dm-integrity keeps a tag per
 * sector, so a block the host changes reads as an I/O error, not as other data), the whole device wiped so every
 * sector carries a valid tag. The passphrase is 256 random bits (key.ts), so the keyslot uses PBKDF2 at its minimum
 * iteration count instead of a memory-hard KDF that would only cost the pod memory and start time.
 */
export function formatArgs(device: string, label: string, keyBytes: number): string[] {
  return ['luksFormat', '--batch-mode', '--type', 'luks2', '--cipher', 'aes-xts-plain64', '--key-size', '512',
    '--integrity', 'hmac-sha256', '--pbkdf', 'pbkdf2', '--pbkdf-force-iterations', '1000', '--hash', 'sha256',
    '--label', label, ...keyArgs(keyBytes), device];
}

/** Checks the passphrase against the keyslots without creating a mapping (exit 0: opens; 2: wrong key). */
export function testKeyArgs(device: string, keyBytes: number): string[] {
  return ['open', '--type', 'luks2', '--test-passphrase', ...keyArgs(keyBytes), device];
}

/** Opens the device as /dev/mapper/<name>. */
export function openArgs(device: string, name: string, keyBytes: number): string[] {
  return ['open', '--type', 'luks2', ...keyArgs(keyBytes), device, name];
}

/** The LUKS2 JSON metadata (read-only). */
export function dumpArgs(device: string): string[] {
  return ['luksDump', '--dump-json-metadata', device];
}
