/**
 * The leaf certificate profile as hand-written DER. Leaf issuance is on the NewMeshCert hot path, and building the
 * same fixed structure through a schema library cost ~2 ms a leaf; this module emits it directly.
 *
 * Profile (identical to what the @peculiar/x509 path produced, field for field and byte for byte apart from serial,
 * times, keys and signature): v3, 16-byte positive serial, ecdsa-with-SHA256, issuer = the CA's subject Name bytes,
 * validity per RFC 5280 time rules, empty subject, the pod's SPKI, and extensions in this order:
 * basicConstraints (critical, cA FALSE), keyUsage (critical, digitalSignature), extKeyUsage (serverAuth,
 * clientAuth), subjectAltName (critical: DNS / IP names, then the SPIFFE URI), authorityKeyIdentifier (keyIdentifier
 * only) and the policy-hash extension.
 */
import {
  encodeBitString, encodeBoolean, encodeContextPrimitive, encodeExplicit, encodeIa5String, encodeImplicit, encodeInteger, encodeOctetString,
  encodeOid, encodeSequence, encodeTime,
} from '../../lib/asn1/der-writer.js';
import { CCMESH_POLICY_HASH_OID, POLICY_HASH_BYTES } from '../../contract/policy-hash-extension.js';
import { ipSanBytes, type SubjectAltName } from './subject-alt-names.js';

/** Fields of one leaf's TBSCertificate; everything else is fixed by the profile. */
export interface LeafTbsFields {
  /** Unsigned big-endian serial (see randomSerialBytes). */
  readonly serial: Uint8Array;
  /** The issuing CA's subject Name, complete DER TLV. */
  readonly issuerName: Uint8Array;
  readonly notBefore: Date;
  readonly notAfter: Date;
  /** The pod's SubjectPublicKeyInfo, complete DER TLV (already checked to be P-256). */
  readonly spki: Uint8Array;
  /** DNS and IP names from the policy entry, in order. */
  readonly sans: readonly SubjectAltName[];
  readonly spiffeId: string;
  /** The CA's key identifier, for the authorityKeyIdentifier extension. */
  readonly authorityKeyId: Uint8Array;
  /** The 32 raw bytes of the policy hash. */
  readonly policyHash: Uint8Array;
}

/** GeneralName context tags (RFC 5280 §4.2.1.6). */
const GN_DNS = 2;
const GN_URI = 6;
const GN_IP = 7;

/** AlgorithmIdentifier ecdsa-with-SHA256; RFC 5758 §3.2 requires the parameters to be absent. */
export const ECDSA_WITH_SHA256_ALGORITHM = encodeSequence(encodeOid('1.2.840.10045.4.3.2'));

// Everything that does not vary per leaf is encoded once, at load.
const VERSION_V3 = encodeExplicit(0, encodeInteger(2));
const EMPTY_NAME = encodeSequence();
const OID_SAN = encodeOid('2.5.29.17');
const OID_AKI = encodeOid('2.5.29.35');
const CRITICAL = encodeBoolean(true);
const BASIC_CONSTRAINTS = extension('2.5.29.19', true, encodeSequence()); // cA DEFAULT FALSE is omitted in DER
// keyUsage is a named BIT STRING: digitalSignature is bit 0 and DER drops trailing zero bits (X.690 §11.2.2).
const KEY_USAGE = extension('2.5.29.15', true, encodeBitString(Uint8Array.of(0x80), 7));
const EXT_KEY_USAGE = extension('2.5.29.37', false, encodeSequence(encodeOid('1.3.6.1.5.5.7.3.1'), encodeOid('1.3.6.1.5.5.7.3.2')));
const OID_POLICY_HASH = encodeOid(CCMESH_POLICY_HASH_OID);
// SECURITY: an operator certificate is a TLS client only (clientAuth), so it can never serve as a sidecar's server leaf.
const EXT_KEY_USAGE_CLIENT_ONLY = extension('2.5.29.37', false, encodeSequence(encodeOid('1.3.6.1.5.5.7.3.2')));

/** Extension ::= SEQUENCE { extnID, critical BOOLEAN DEFAULT FALSE (omitted when false, as DER requires), extnValue }. */
function extension(oid: string, critical: boolean, value: Uint8Array): Buffer {
  const id = encodeOid(oid);
  const octets = encodeOctetString(value);
  return critical ? encodeSequence(id, CRITICAL, octets) : encodeSequence(id, octets);
}

/** DER of the leaf's TBSCertificate. */
export function encodeLeafTbs(f: LeafTbsFields): Buffer {
  if (f.policyHash.length !== POLICY_HASH_BYTES) throw new RangeError(`policy hash is ${f.policyHash.length} bytes, expected ${POLICY_HASH_BYTES}`);
  const names = f.sans.map((s) =>
    s.type === 'ip' ? encodeContextPrimitive(GN_IP, ipSanBytes(s.value)) : encodeImplicit(s.type === 'dns' ? GN_DNS : GN_URI, encodeIa5String(s.value)),
  );
  names.push(encodeImplicit(GN_URI, encodeIa5String(f.spiffeId)));
  const extensions = encodeSequence(
    BASIC_CONSTRAINTS,
    KEY_USAGE,
    EXT_KEY_USAGE,
    encodeSequence(OID_SAN, CRITICAL, encodeOctetString(encodeSequence(...names))),
    encodeSequence(OID_AKI, encodeOctetString(encodeSequence(encodeContextPrimitive(0, f.authorityKeyId)))),
    encodeSequence(OID_POLICY_HASH, encodeOctetString(encodeOctetString(f.policyHash))),
  );
  return encodeTbsEnvelope(f, extensions);
}

/** Fields of one operator certificate's TBSCertificate (see contract/operator-identity.ts). */
export interface OperatorTbsFields {
  readonly serial: Uint8Array;
  readonly issuerName: Uint8Array;
  readonly notBefore: Date;
  readonly notAfter: Date;
  /** The operator's P-256 SubjectPublicKeyInfo, complete DER TLV. */
  readonly spki: Uint8Array;
  /** `ccmesh-operator://…`, the only SAN. */
  readonly operatorId: string;
  readonly authorityKeyId: Uint8Array;
}

/**
 * DER of an operator certificate's TBSCertificate: the leaf profile with the operator URI as its only SAN, extKeyUsage
 * clientAuth only, and no policy-hash extension (so RenewMeshCert, which needs one, can never renew it).
 */
export function encodeOperatorTbs(f: OperatorTbsFields): Buffer {
  const extensions = encodeSequence(
    BASIC_CONSTRAINTS,
    KEY_USAGE,
    EXT_KEY_USAGE_CLIENT_ONLY,
    encodeSequence(OID_SAN, CRITICAL, encodeOctetString(encodeSequence(encodeImplicit(GN_URI, encodeIa5String(f.operatorId))))),
    encodeSequence(OID_AKI, encodeOctetString(encodeSequence(encodeContextPrimitive(0, f.authorityKeyId)))),
  );
  return encodeTbsEnvelope(f, extensions);
}

/** The TBSCertificate around `extensions`, the same for workload leaves and operator certificates. */
function encodeTbsEnvelope(f: { readonly serial: Uint8Array; readonly issuerName: Uint8Array; readonly notBefore: Date; readonly notAfter: Date; readonly spki: Uint8Array }, extensions: Uint8Array): Buffer {
  return encodeSequence(
    VERSION_V3,
    encodeInteger(f.serial),
    ECDSA_WITH_SHA256_ALGORITHM,
    f.issuerName,
    encodeSequence(encodeTime(f.notBefore), encodeTime(f.notAfter)),
    EMPTY_NAME, // SECURITY: no subject; peers must authorise on SANs (the SPIFFE URI), never on the subject.
    f.spki,
    encodeExplicit(3, extensions),
  );
}

/** Certificate ::= SEQUENCE { tbsCertificate, signatureAlgorithm, signatureValue BIT STRING } for an ECDSA-SHA256 signature. */
export function encodeSignedCertificate(tbs: Uint8Array, derSignature: Uint8Array): Buffer {
  return encodeSequence(tbs, ECDSA_WITH_SHA256_ALGORITHM, encodeBitString(derSignature));
}
