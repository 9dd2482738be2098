/** Comparing certificates given as PEM text, as the CLI and the sidecar do with roots they hold and roots they are sent. */
import { X509Certificate } from 'node:crypto';

/** True when both PEM texts hold the same (first) certificate; false when either is unreadable. */
export function samePemCertificate(a: string, b: string): boolean {
  try {
    return new X509Certificate(a).fingerprint256 === new X509Certificate(b).fingerprint256;
  } catch {
    return false;
  }
}
