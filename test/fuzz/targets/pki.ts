/** Fuzz targets of the DER reader, certificates, extensions, CRLs, PEM and public keys from outside. */
import { bitStringBytes, children, decodeBoolean, decodeOid, decodeSmallUint, decodeString, decodeTime, DerError, integerBytes, MAX_DER_DEPTH, readOne, Tag, type DerNode } from '../../../lib/asn1/der.js';
import { encodeTlv } from '../../../lib/asn1/der-writer.js';
import { parsePublicKey, readSpkiDetails, safeKeyDetails } from '../../../lib/pki/key-details.js';
import { certificateExtensions } from '../../../attestation/snp/vek.js';
import { parseCrl } from '../../../attestation/x509/crl.js';
import { parseCertificates, readPemBlocks } from '../../../attestation/x509/pem.js';
import { decodePolicyHashValue, readPolicyHashExtension } from '../../../contract/policy-hash-extension.js';
import { CcmeshError } from '../../../lib/errors.js';
import { normaliseSan } from '../../../contract/manifest/san.js';
import { buildSanAllowList, sansAllowed } from '../../../proxy/inbound/identity.js';
import { parseSubjectAltNames } from '../../../proxy/transport/subject-alt-names.js';
import { FuzzViolation, NEVER_THROWS, refusedWith, type FuzzTarget } from '../target.js';

let sanAllowList: ReturnType<typeof buildSanAllowList>;

/** Reads every node of a DER tree, decoding primitives by tag; checks each node re-encodes to its exact bytes. */
function walk(node: DerNode, depth: number): void {
  if (depth > MAX_DER_DEPTH) throw new DerError('deeper than MAX_DER_DEPTH');
  if (!Buffer.from(encodeTlv(node.tag, node.value)).equals(node.raw)) throw new FuzzViolation(`node with tag 0x${node.tag.toString(16)} does not re-encode to its own bytes`);
  if ((node.tag & 0x20) !== 0) {
    for (const c of children(node)) walk(c, depth + 1);
    return;
  }
  const tolerate = (f: () => unknown): void => {
    try {
      f();
    } catch (err) {
      if (!(err instanceof DerError)) throw err;
    }
  };
  switch (node.tag) {
    case Tag.OID: tolerate(() => decodeOid(node)); break;
    case Tag.INTEGER: tolerate(() => decodeSmallUint(node)); tolerate(() => integerBytes(node)); break;
    case Tag.BOOLEAN: tolerate(() => decodeBoolean(node)); break;
    case Tag.BIT_STRING: tolerate(() => bitStringBytes(node)); break;
    case Tag.UTC_TIME: case Tag.GENERALIZED_TIME: tolerate(() => decodeTime(node)); break;
    case Tag.IA5_STRING: case Tag.PRINTABLE_STRING: case Tag.UTF8_STRING: tolerate(() => decodeString(node)); break;
    default:
  }
}

export const PKI_TARGETS: readonly FuzzTarget[] = [
  {
    name: 'der',
    what: 'the DER reader: every node of a certificate tree, each primitive decoded, each node re-encoded exactly',
    kind: 'bytes',
    run: (b) => walk(readOne(b as Uint8Array), 0),
    refusal: refusedWith(DerError),
  },
  {
    name: 'spki',
    what: 'public keys from outside (SPKI DER): ccmesh\'s reading, then Node\'s own details must agree (and not abort)',
    kind: 'bytes',
    run: (b) => {
      const { key, details } = parsePublicKey(b as Uint8Array);
      // Safe only because parsePublicKey accepted the key: a bad EC point reaching this line aborts the child.
      const node = key.asymmetricKeyDetails;
      const same = details.type === key.asymmetricKeyType
        && (details.type !== 'ec' || details.namedCurve === node?.namedCurve)
        && (details.type !== 'rsa' && details.type !== 'rsa-pss' ? true : details.modulusLength === node?.modulusLength);
      if (!same) throw new FuzzViolation(`ccmesh read ${JSON.stringify(details)}, Node ${key.asymmetricKeyType ?? '?'} ${JSON.stringify(node, (_k, v: unknown) => (typeof v === 'bigint' ? String(v) : v))}`);
      const again = safeKeyDetails(key);
      if (JSON.stringify(again) !== JSON.stringify(details)) throw new FuzzViolation('safeKeyDetails disagrees with readSpkiDetails');
      readSpkiDetails(key.export({ type: 'spki', format: 'der' }));
    },
    refusal: refusedWith(CcmeshError),
  },
  {
    name: 'x509-extensions',
    what: 'certificate extension readers: the VEK extension list and the policy-hash extension of a leaf',
    kind: 'bytes',
    run: (b) => {
      const reading = readPolicyHashExtension(b as Uint8Array); // never throws: malformed is a reading
      if (reading.status === 'present' && !/^[0-9a-f]{64}$/.test(reading.policyHash)) throw new FuzzViolation(`policy hash ${reading.policyHash}`);
      certificateExtensions(b as Uint8Array);
    },
    refusal: refusedWith(DerError),
  },
  {
    name: 'policy-hash-value',
    what: 'the policy-hash extension value (OCTET STRING of 32 bytes)',
    kind: 'bytes',
    run: (b) => decodePolicyHashValue(b as Uint8Array),
    refusal: refusedWith(DerError),
  },
  {
    name: 'subject-alt-names',
    what: 'a peer certificate\'s SAN text as Node gives it (quoted values decoded), the inbound allow-list check, SAN normalising',
    kind: 'bytes',
    run: (b) => {
      const text = Buffer.from(b as Uint8Array).toString('utf8');
      for (const [kind, value] of parseSubjectAltNames(text)) {
        if (typeof kind !== 'string' || typeof value !== 'string') throw new FuzzViolation('a SAN pair that is not two strings');
        normaliseSan(value);
      }
      sanAllowList ??= buildSanAllowList(['web', '*.web.default.svc', 'spiffe://ccmesh.local/apps/v1/Deployment/default/web', '10.0.0.1']);
      if (sanAllowList) sansAllowed(text, sanAllowList);
    },
    refusal: NEVER_THROWS,
  },
  {
    name: 'pem',
    what: 'PEM readers: blocks of any label, then certificates (chains of evidence, CA bundles)',
    kind: 'bytes',
    run: (b) => {
      readPemBlocks(Buffer.from(b as Uint8Array).toString('latin1'));
      parseCertificates(b as Uint8Array, 'fuzz');
    },
  },
  {
    name: 'crl',
    what: 'CRL parser (DER or PEM): issuer, times, revoked serials, signature',
    kind: 'bytes',
    run: (b) => parseCrl(b as Uint8Array),
  },
];

