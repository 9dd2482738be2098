import t from 'tap';
import fc from 'fast-check';
import { X509Certificate } from 'node:crypto';
import { children, decodeOid, decodeSmallUint, decodeTime, DerError, readOne, readTlv, Tag } from './der.js';

void t.test('decodes OIDs, integers and times', (t) => {
  t.equal(decodeOid(readOne(Uint8Array.from([0x06, 0x09, 0x2b, 0x06, 0x01, 0x04, 0x01, 0x9c, 0x78, 0x01, 0x02]))), '1.3.6.1.4.1.3704.1.2');
  t.equal(decodeOid(readOne(Uint8Array.from([0x06, 0x03, 0x55, 0x1d, 0x13]))), '2.5.29.19');
  t.equal(decodeSmallUint(readOne(Uint8Array.from([0x02, 0x02, 0x00, 0xd9]))), 217);
  t.throws(() => decodeSmallUint(readOne(Uint8Array.from([0x02, 0x01, 0xff]))), DerError);
  t.throws(() => decodeSmallUint(readOne(Uint8Array.from([0x02, 0x02, 0x00, 0x01]))), /non-minimal/);
  // The largest exact value, and the first seven-octet values a double can't hold (2^53 + 1 would read as 2^53).
  t.equal(decodeSmallUint(readOne(Uint8Array.from([0x02, 0x07, 0x1f, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff]))), Number.MAX_SAFE_INTEGER);
  t.throws(() => decodeSmallUint(readOne(Uint8Array.from([0x02, 0x07, 0x20, 0x00, 0x00, 0x00, 0x00, 0x00, 0x01]))), /too large \(above 2\^53 - 1\)/);
  t.throws(() => decodeSmallUint(readOne(Uint8Array.from([0x02, 0x07, 0x7f, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff]))), /too large/);
  const utc = readOne(Uint8Array.from([0x17, 0x0d, ...Buffer.from('230701010000Z')]));
  t.equal(decodeTime(utc).toISOString(), '2023-07-01T01:00:00.000Z');
  t.end();
});

void t.test('refuses malformed lengths instead of reading past the end', (t) => {
  t.throws(() => readTlv(Uint8Array.from([0x30, 0x05, 0x01])), /runs past the end/);
  t.throws(() => readTlv(Uint8Array.from([0x30, 0x80])), /indefinite/);
  t.throws(() => readTlv(Uint8Array.from([0x30, 0x81, 0x05])), /non-minimal/);
  t.throws(() => readTlv(Uint8Array.from([0x30, 0x85, 1, 1, 1, 1, 1])), /too large/);
  t.throws(() => readOne(Uint8Array.from([0x05, 0x00, 0x00])), /trailing/);
  t.throws(() => readTlv(new Uint8Array(0)), /end of data/);
  t.end();
});

void t.test('walks a real certificate', (t) => {
  // A throwaway self-signed P-256 certificate made with `openssl req -x509` for this test.
  const der = Buffer.from(
    'MIIBgDCCASegAwIBAgIUdAclN0sBizjW8WSEmGVASCbmbrEwCgYIKoZIzj0EAwIwFjEUMBIGA1UEAwwLY2NtZXNoLXRlc3QwHhcNMjYxMTI2MTQzMDU2WhcNMzYxMTIzMTQzMDU2WjAWMRQwEgYDVQQDDAtjY21lc2gtdGVzdDBZMBMGByqGSM49AgEGCCqGSM49AwEHA0IABJrVEkao4hL8ubRgns7ufhQm4TTjNBuUG1HcvVv0iM07/N9v746X2RUBVyjBx4JyY1Jh+4kDKBTVYFvZlZqIAkejUzBRMB0GA1UdDgQWBBQdgqmXYoB5KlvEaY8T5Jk9quZQgTAfBgNVHSMEGDAWgBQdgqmXYoB5KlvEaY8T5Jk9quZQgTAPBgNVHRMBAf8EBTADAQH/MAoGCCqGSM49BAMCA0cAMEQCIF95QQsv3syKreVov2jZGu1JMeqhafxqqIbf0rjSk0PCAiA7l9jNtllwiBijSTb+YIK9QL1AvtfErOQoygUJd7FRiw==',
    'base64',
  );
  let parsedByNode = true;
  try {
    new X509Certificate(der);
  } catch {
    parsedByNode = false;
  }
  const top = readOne(new Uint8Array(der), Tag.SEQUENCE);
  const parts = children(top);
  t.equal(parts.length, 3, 'tbsCertificate, signatureAlgorithm, signatureValue');
  t.equal(decodeOid(children(parts[1]!)[0]!), '1.2.840.10045.4.3.2');
  t.equal(parsedByNode, true, 'the sample is a certificate Node can read too');
  t.end();
});

void t.test('property: arbitrary bytes give a node or a DerError, never anything else', (t) => {
  fc.assert(
    fc.property(fc.uint8Array({ maxLength: 64 }), (bytes) => {
      try {
        const { node, next } = readTlv(bytes);
        return next <= bytes.length && node.raw.length === next;
      } catch (err) {
        return err instanceof DerError;
      }
    }),
    { numRuns: 2000 },
  );
  t.end();
});
