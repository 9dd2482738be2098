/** Listen failures as one line naming the flag or listener, the address and the reason in words. */
import { CcmeshError, describeError, describeSystemError, ErrorCode, systemErrorCode } from '../errors.js';

/**
 * A LISTEN_FAILED error for `name` (a flag or a listener's name) on host:port, in words. grpc-js reports bind
 * failures as text ("No address added … [listen EADDRINUSE: …]"); the errno is taken from it.
 */
export function listenFailed(name: string, host: string, port: number, err: unknown): CcmeshError {
  const code = systemErrorCode(err) ?? /\b(E[A-Z]{3,})\b/.exec(describeError(err))?.[1];
  const why = code !== undefined ? describeSystemError(Object.assign(new Error(code), { code })) : describeError(err);
  const at = host.includes(':') ? `[${host}]:${port}` : `${host}:${port}`;
  return new CcmeshError(ErrorCode.LISTEN_FAILED, `${name} ${port}: cannot listen on ${at}: ${why}`, { cause: err });
}
