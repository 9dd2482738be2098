/**
 * TDX collateral: the documents beyond the quote that decide revocation and TCB status (root and PCK CRLs, TCB
 * info, QE identity, and the TCB signing certificate that signs the JSON). A directory of collateral is recognised
 * file by file **by content**, never by name, so a renamed or mislabelled file can't be slotted into the wrong
 * role; anything unrecognisable becomes an issue naming the file.
 *
 * A collateral set may hold TCB infos for several platforms (Intel serves one per FMSPC) and CRLs of both PCK CAs
 * (platform and processor); verification picks the ones that apply to the quote.
 */
import { X509Certificate } from 'node:crypto';
import { bytesEqual } from '../../lib/bytes.js';
import { describeError } from '../../lib/errors.js';
import { type Crl, parseCrl } from '../x509/crl.js';
import { looksLikePem, readPemBlocks } from '../x509/pem.js';
import { certCommonName, commonNameOf, subjectDerOf } from './names.js';
import { defaultTdxAnchors } from './roots.js';
import { parseJsonBytes } from './signed-json.js';
import { type QeIdentity, readQeIdentityDocument, readTcbInfoDocument, type SignedCollateral, type TcbInfo } from './tcb-info.js';

/**
 * Collateral for verifying TDX quotes; every part optional (what is absent is not evaluated). Treat it as
 * immutable: a caching verifier memoises signature results per document and CRL object.
 */
export interface TdxCollateral {
  /** CRL of the Intel SGX Root CA (revokes intermediate CAs and the TCB signing certificate). */
  readonly rootCrl?: Crl;
  /** CRLs of the PCK Platform CA and/or PCK Processor CA; the one whose issuer signed the PCK applies. */
  readonly pckCrls?: readonly Crl[];
  /** Signed TCB info documents, at most one per FMSPC; the one for the PCK's FMSPC applies. */
  readonly tcbInfos?: readonly SignedCollateral<TcbInfo>[];
  /** Signed TD_QE identity. */
  readonly qeIdentity?: SignedCollateral<QeIdentity>;
  /** "Intel SGX TCB Signing": signs TCB info and QE identity; must chain to the pinned root. */
  readonly tcbSigningCert?: X509Certificate;
}

/** One input file: its name (for issues only) and bytes. */
export interface CollateralFile {
  readonly name: string;
  readonly bytes: Uint8Array;
}

/** Options for {@link recognizeTdxCollateral}. */
export interface RecognizeOptions {
  /** Anchors a root CA file is compared with (default: the pinned Intel SGX Root CA). */
  readonly anchors?: readonly X509Certificate[];
}

const TCB_SIGNING_CN = 'Intel SGX TCB Signing';
const ROOT_CN = 'Intel SGX Root CA';
const PCK_CA_CNS = ['Intel SGX PCK Platform CA', 'Intel SGX PCK Processor CA'];

/** Recognises collateral files by content. Never throws; problems become issues naming the file. */
export function recognizeTdxCollateral(files: readonly CollateralFile[], options: RecognizeOptions = {}): { collateral: TdxCollateral; issues: string[] } {
  const anchors = options.anchors ?? defaultTdxAnchors();
  const issues: string[] = [];
  let rootCrl: Crl | undefined;
  let rootCrlFrom = '';
  const pckCrls: { crl: Crl; from: string }[] = [];
  const tcbInfos: SignedCollateral<TcbInfo>[] = [];
  let qeIdentity: SignedCollateral<QeIdentity> | undefined;
  let tcbSigningCert: X509Certificate | undefined;
  let signingFrom = '';

  const addCert = (cert: X509Certificate, from: string): void => {
    const cn = certCommonName(cert);
    if (cert.issuer === cert.subject) {
      if (!anchors.some((a) => bytesEqual(new Uint8Array(a.raw), new Uint8Array(cert.raw)))) {
        issues.push(`${from}: self-signed certificate "${cn ?? cert.subject}" is not a pinned trust anchor (ignored)`);
      }
      return; // The pinned anchor is already trusted; a copy of it adds nothing.
    }
    if (cn !== TCB_SIGNING_CN) {
      issues.push(`${from}: certificate "${cn ?? cert.subject}" is neither the Intel SGX Root CA nor "${TCB_SIGNING_CN}"`);
      return;
    }
    if (tcbSigningCert && !bytesEqual(new Uint8Array(tcbSigningCert.raw), new Uint8Array(cert.raw))) {
      issues.push(`${from}: a second, different TCB signing certificate (keeping the one from ${signingFrom})`);
      return;
    }
    tcbSigningCert ??= cert;
    signingFrom ||= from;
  };

  const addCrl = (crl: Crl, from: string): void => {
    const cn = commonNameOf(crl.issuerDer);
    if (cn === ROOT_CN || anchors.some((a) => crlIssuedBy(crl, a))) {
      if (rootCrl && !bytesEqual(rootCrl.der, crl.der)) issues.push(`${from}: a second root CA CRL (keeping the one from ${rootCrlFrom})`);
      else if (!rootCrl) [rootCrl, rootCrlFrom] = [crl, from];
      return;
    }
    if (cn !== undefined && PCK_CA_CNS.includes(cn)) {
      const same = pckCrls.find((p) => bytesEqual(p.crl.issuerDer, crl.issuerDer));
      if (same && !bytesEqual(same.crl.der, crl.der)) issues.push(`${from}: a second CRL of "${cn}" (keeping the one from ${same.from})`);
      else if (!same) pckCrls.push({ crl, from });
      return;
    }
    issues.push(`${from}: CRL issued by "${cn ?? 'an unreadable name'}" is neither the Intel SGX Root CA's nor a PCK CA's`);
  };

  for (const { name, bytes } of files) {
    try {
      const kind = sniff(bytes);
      if (kind === 'json') {
        const doc = parseJsonBytes(bytes, name);
        const keys = typeof doc === 'object' && doc !== null && !Array.isArray(doc) ? Object.keys(doc) : [];
        if (keys.includes('tcbInfo')) {
          const info = readTcbInfoDocument(bytes, name);
          const dup = tcbInfos.find((t) => t.parsed.fmspc === info.parsed.fmspc);
          if (dup) issues.push(`${name}: a second TCB info for FMSPC ${info.parsed.fmspc} (keeping the one from ${dup.source})`);
          else tcbInfos.push(info);
        } else if (keys.includes('enclaveIdentity')) {
          const qe = readQeIdentityDocument(bytes, name);
          if (qeIdentity) issues.push(`${name}: a second QE identity (keeping the one from ${qeIdentity.source})`);
          else qeIdentity = qe;
        } else {
          issues.push(`${name}: JSON document with neither "tcbInfo" nor "enclaveIdentity"`);
        }
      } else if (kind === 'pem') {
        const blocks = readPemBlocks(Buffer.from(bytes).toString('latin1'));
        if (blocks.length === 0) issues.push(`${name}: PEM text without a complete block`);
        for (const [i, b] of blocks.entries()) {
          const from = blocks.length > 1 ? `${name} (block ${i + 1})` : name;
          if (b.label === 'CERTIFICATE') addCert(new X509Certificate(Buffer.from(b.der)), from);
          else if (b.label === 'X509 CRL') addCrl(parseCrl(b.der), from);
          else issues.push(`${from}: PEM block "${b.label}" is not TDX collateral`);
        }
      } else if (kind === 'der') {
        const asCert = tryCert(bytes);
        if (asCert) addCert(asCert, name);
        else addCrl(parseCrl(bytes), name);
      } else {
        issues.push(`${name}: not recognised as TDX collateral (expected a certificate, a CRL, TCB info or QE identity JSON)`);
      }
    } catch (err) {
      issues.push(`${name}: unreadable as TDX collateral (${describeError(err)})`);
    }
  }
  const collateral: TdxCollateral = {
    ...(rootCrl ? { rootCrl } : {}),
    ...(pckCrls.length > 0 ? { pckCrls: pckCrls.map((p) => p.crl) } : {}),
    ...(tcbInfos.length > 0 ? { tcbInfos } : {}),
    ...(qeIdentity ? { qeIdentity } : {}),
    ...(tcbSigningCert ? { tcbSigningCert } : {}),
  };
  return { collateral, issues };
}

function sniff(bytes: Uint8Array): 'json' | 'pem' | 'der' | 'unknown' {
  let i = 0;
  while (i < bytes.length && (bytes[i] === 0x20 || bytes[i] === 0x0a || bytes[i] === 0x0d || bytes[i] === 0x09)) i++;
  if (bytes[i] === 0x7b) return 'json';
  if (looksLikePem(bytes)) return 'pem';
  if (bytes[0] === 0x30) return 'der';
  return 'unknown';
}

function tryCert(bytes: Uint8Array): X509Certificate | undefined {
  try {
    return new X509Certificate(Buffer.from(bytes));
  } catch {
    return undefined; // not a certificate: the caller tries a CRL next
  }
}

function crlIssuedBy(crl: Crl, cert: X509Certificate): boolean {
  try {
    return bytesEqual(crl.issuerDer, subjectDerOf(cert));
  } catch {
    return false; // an anchor our DER reader can't walk simply doesn't match
  }
}
