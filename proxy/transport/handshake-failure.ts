/** Maps TLS and socket errors to the closed set of handshake-failure reasons used as metric labels. */
import type { HandshakeFailure } from '../metrics.js';

const NOT_TLS = new Set(['ERR_SSL_HTTP_REQUEST', 'ERR_SSL_WRONG_VERSION_NUMBER', 'ERR_SSL_PACKET_LENGTH_TOO_LONG', 'ERR_SSL_UNSUPPORTED_PROTOCOL', 'ERR_SSL_RECORD_LAYER_FAILURE']);
const UNTRUSTED = new Set([
  'UNABLE_TO_VERIFY_LEAF_SIGNATURE', 'SELF_SIGNED_CERT_IN_CHAIN', 'DEPTH_ZERO_SELF_SIGNED_CERT', 'UNABLE_TO_GET_ISSUER_CERT_LOCALLY',
  'UNABLE_TO_GET_ISSUER_CERT', 'CERT_HAS_EXPIRED', 'CERT_NOT_YET_VALID', 'CERT_SIGNATURE_FAILURE', 'CERT_UNTRUSTED', 'CERT_REJECTED',
]);
const CONNECT = new Set(['ECONNREFUSED', 'ENOTFOUND', 'EAI_AGAIN', 'EHOSTUNREACH', 'ENETUNREACH', 'ETIMEDOUT', 'EADDRNOTAVAIL']);

/** Error code set by the egress identity check when the server lacks the expected SAN. */
export const SAN_MISMATCH_CODE = 'ERR_CCMESH_SAN_MISMATCH';

/** Classifies an error raised before a handshake completed. */
export function classifyHandshakeError(err: unknown): HandshakeFailure {
  const code = String((err as { code?: unknown } | undefined)?.code ?? '');
  if (code === 'ERR_TLS_HANDSHAKE_TIMEOUT') return 'handshake-timeout';
  if (NOT_TLS.has(code)) return 'not-tls';
  if (code === SAN_MISMATCH_CODE || code === 'ERR_TLS_CERT_ALTNAME_INVALID') return 'server-san-mismatch';
  if (UNTRUSTED.has(code)) return 'server-untrusted';
  if (CONNECT.has(code)) return 'upstream-connect';
  return 'handshake-error';
}
