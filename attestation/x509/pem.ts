/** Reading certificates from PEM bundles or DER files, as Node {@link X509Certificate}s. */
import { X509Certificate } from 'node:crypto';

const PEM_RE = /-----BEGIN ([A-Z0-9 ]+)-----([\s\S]*?)-----END \1-----/g;

/** One PEM block: its label and DER bytes. */
export interface PemBlock {
  readonly label: string;
  readonly der: Uint8Array;
}

/** Upper bound on blocks read from one bundle; a longer bundle is refused, not parsed. */
export const MAX_PEM_BLOCKS = 32;

/** Extracts every PEM block from `text` (other text between blocks is ignored). */
export function readPemBlocks(text: string): PemBlock[] {
  const out: PemBlock[] = [];
  for (const m of text.matchAll(PEM_RE)) {
    if (out.length >= MAX_PEM_BLOCKS) throw new Error(`more than ${MAX_PEM_BLOCKS} PEM blocks`);
    const body = (m[2] ?? '').replace(/[\r\n\t ]/g, '');
    if (!/^[A-Za-z0-9+/]*={0,2}$/.test(body)) throw new Error(`PEM block "${m[1]}" is not valid base64`);
    out.push({ label: m[1] ?? '', der: new Uint8Array(Buffer.from(body, 'base64')) });
  }
  return out;
}

/** True when `bytes` look like PEM text rather than DER. */
export function looksLikePem(bytes: Uint8Array): boolean {
  return Buffer.from(bytes.subarray(0, Math.min(bytes.length, 4096))).toString('latin1').includes('-----BEGIN ');
}

/** Parses one certificate from DER or PEM bytes. Throws with a message naming `what` on failure. */
export function parseCertificate(bytes: Uint8Array, what: string): X509Certificate {
  const certs = parseCertificates(bytes, what);
  if (certs.length !== 1) throw new Error(`${what}: expected exactly one certificate, found ${certs.length}`);
  return certs[0]!;
}

/** Parses every certificate in a PEM bundle, or the single certificate of a DER file. */
export function parseCertificates(bytes: Uint8Array, what: string): X509Certificate[] {
  try {
    if (looksLikePem(bytes)) {
      const blocks = readPemBlocks(Buffer.from(bytes).toString('latin1')).filter((b) => b.label === 'CERTIFICATE');
      if (blocks.length === 0) throw new Error('no CERTIFICATE block');
      return blocks.map((b) => new X509Certificate(Buffer.from(b.der)));
    }
    return [new X509Certificate(Buffer.from(bytes))];
  } catch (err) {
    throw new Error(`${what}: not a readable X.509 certificate (${err instanceof Error ? err.message : String(err)})`, { cause: err });
  }
}

/** The certificate's DER bytes as a Uint8Array. */
export function certDer(cert: X509Certificate): Uint8Array {
  return new Uint8Array(cert.raw);
}
