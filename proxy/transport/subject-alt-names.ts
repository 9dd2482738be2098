/** Reading the SAN text Node gives for a certificate (`PeerCertificate.subjectaltname`, `X509Certificate.subjectAltName`). */

/**
 * Node's `subjectaltname` text (`DNS:a, URI:spiffe://…, IP Address:1.2.3.4`) → [kind, value] pairs. Node writes a
 * value holding a separator or quote as a JSON string; it is decoded here, so a quoted value can never be split into
 * a fragment that looks like a separate name.
 */
export function parseSubjectAltNames(text: string): [string, string][] {
  const out: [string, string][] = [];
  const re = /([^:,]+):("(?:[^"\\]|\\.)*"|[^,]*)(?:, |$)/y;
  while (re.lastIndex < text.length) {
    const start = re.lastIndex;
    const m = re.exec(text);
    if (!m || re.lastIndex === start) break;
    let value = m[2]!;
    if (value.startsWith('"')) {
      try {
        value = JSON.parse(value) as string;
      } catch {
        break;
      }
    }
    out.push([m[1]!, value]);
  }
  return out;
}
