/**
 * Offline verification of a TDX quote (FORMATS.md §6.6): quote signature, QE report binding, PCK chain to the
 * pinned Intel root, QE report signature, then — with collateral — revocation, signed TCB info / QE identity and
 * the TCB statuses, and finally the relying party's reference values.
 *
 * Every failed check is a named reason; bad input never throws. Without collateral the TCB statuses are
 * "not_evaluated" and the signature and chain checks alone decide.
 */
import { createHash, createPublicKey, type KeyObject, verify, type X509Certificate } from 'node:crypto';
import { bytesEqual, isAllZero } from '../../lib/bytes.js';
import { describeError } from '../../lib/errors.js';
import { resultOf, type VerifyResult } from '../result.js';
import type { Crl } from '../x509/crl.js';
import { buildTdxClaims, type TcbClaimParts, type TdxClaims } from './claims.js';
import type { TdxCollateral } from './collateral.js';
import { checkTcbSigner, documentSignatureValid, freshnessReasons, isP256 } from './collateral-check.js';
import { checkCertPath, type PckChain, PckChainCache } from './pck-chain.js';
import type { PckExtensions } from './pck-extensions.js';
import { parseTdxQuote, type TdxQuote } from './quote.js';
import { checkTcbStatuses, checkTdxMeasurements, type TdxReferenceValues } from './reference.js';
import { defaultTdxAnchors } from './roots.js';
import { evaluateQeIdentity, evaluateTdxTcb } from './tcb-eval.js';
import { DEFAULT_ACCEPTABLE_TCB_STATUSES, NOT_EVALUATED } from './tcb-status.js';

/** Inputs of one verification. */
export interface TdxVerifyInput {
  /** The quote bytes (trailing bytes after the quote are ignored). */
  readonly quote: Uint8Array;
  /** The instant at which certificates, CRLs and collateral must be valid. */
  readonly at: Date;
  readonly collateral?: TdxCollateral;
  /** Trust anchors (default: the pinned Intel SGX Root CA). */
  readonly anchors?: readonly X509Certificate[];
  readonly reference?: TdxReferenceValues;
  /** TCB statuses accepted for platform and QE (default: reference values', else UpToDate and SWHardeningNeeded). */
  readonly acceptableTcbStatuses?: readonly string[];
}

/** A verifier that keeps PCK chain work between calls. */
export interface TdxVerifier {
  /** Verifies one quote; never throws. */
  verify(input: TdxVerifyInput): VerifyResult<TdxClaims>;
}

/** Options of {@link createTdxVerifier}. */
export interface TdxVerifierOptions {
  /** How many distinct PCK chains to keep parsed and checked (default 256). */
  readonly maxCachedChains?: number;
}

/** A verifier that caches PCK chain parsing and time-independent chain checks by the chain's SHA-256. */
export function createTdxVerifier(options: TdxVerifierOptions = {}): TdxVerifier {
  const cache = new PckChainCache(options.maxCachedChains ?? 256);
  return { verify: (input) => verifyWith(input, cache) };
}

/** Verifies one quote without keeping anything between calls. Never throws. */
export function verifyTdx(input: TdxVerifyInput): VerifyResult<TdxClaims> {
  return verifyWith(input, new PckChainCache(1));
}

function verifyWith(input: TdxVerifyInput, cache: PckChainCache): VerifyResult<TdxClaims> {
  try {
    return verifyUnguarded(input, cache);
  } catch (err) {
    // Every expected failure is a reason already; this only keeps a bug from turning hostile input into a crash.
    return resultOf<TdxClaims>(undefined, [`TDX verification failed unexpectedly: ${describeError(err)}`]);
  }
}

/** The attestation key x‖y as a P-256 public key (throws for a point not on the curve). */
function attestationKeyObject(xy: Uint8Array): KeyObject {
  const b64 = (b: Uint8Array): string => Buffer.from(b).toString('base64url');
  return createPublicKey({ key: { kty: 'EC', crv: 'P-256', x: b64(xy.subarray(0, 32)), y: b64(xy.subarray(32, 64)) }, format: 'jwk' });
}

function p1363Valid(data: Uint8Array, key: KeyObject, signature: Uint8Array): boolean {
  try {
    return verify('sha256', data, { key, dsaEncoding: 'ieee-p1363' }, signature);
  } catch {
    return false; // malformed key or signature: "does not verify"
  }
}

function verifyUnguarded(input: TdxVerifyInput, cache: PckChainCache): VerifyResult<TdxClaims> {
  const { at } = input;
  if (!(at instanceof Date) || Number.isNaN(at.getTime())) return resultOf<TdxClaims>(undefined, ['verification time is not a valid date']);
  let quote: TdxQuote;
  try {
    quote = parseTdxQuote(input.quote);
  } catch (err) {
    return resultOf<TdxClaims>(undefined, [`TDX quote could not be parsed: ${describeError(err)}`]);
  }
  const anchors = input.anchors ?? defaultTdxAnchors();
  const reasons: string[] = [];
  const sig = quote.signatureData;

  // 1. Quote signature over header + body with the attestation key the QE certified.
  let attKey: KeyObject | undefined;
  try {
    attKey = attestationKeyObject(sig.attestationKey);
  } catch {
    reasons.push('quote attestation key is not a valid P-256 public key');
  }
  if (attKey && !p1363Valid(quote.signedBytes, attKey, sig.signature)) {
    reasons.push('quote signature does not verify with the attestation key (header or TD report altered, or signed by another key)');
  }

  // 2. The QE vouches for the attestation key: REPORTDATA = SHA-256(key ‖ auth data) ‖ 32 zero bytes.
  const binding = createHash('sha256').update(sig.attestationKey).update(sig.qeAuthData).digest();
  const qeData = sig.qeReport.reportData;
  if (!bytesEqual(qeData.subarray(0, 32), binding)) reasons.push('QE report data does not bind the attestation key (SHA-256 of key and QE auth data differs)');
  if (!isAllZero(qeData.subarray(32, 64))) reasons.push('QE report data upper 32 bytes are not zero');

  // 3. PCK chain to a pinned root, and 4. the QE report signed by the PCK key.
  const col = input.collateral ?? {};
  let chain: PckChain | undefined;
  try {
    chain = cache.chain(sig.pckChainPem);
  } catch (err) {
    reasons.push(`PCK certificate chain unreadable: ${describeError(err)}`);
  }
  let pck: PckExtensions | undefined;
  if (chain) {
    reasons.push(...checkCertPath(chain, { anchors, at, crls: selectCrls(chain, col, reasons) }, cache));
    const leaf = chain.path[0].cert;
    // isP256 first: it also proves the key decodes, so the publicKey getter below can't throw.
    if (!isP256(leaf)) reasons.push('PCK certificate key is not a readable ECDSA P-256 key');
    else if (!p1363Valid(sig.qeReport.raw, leaf.publicKey, sig.qeReportSignature)) reasons.push('QE report signature does not verify with the PCK certificate key');
    if (chain.extensions) pck = chain.extensions;
    else reasons.push(`PCK certificate: ${chain.extensionError ?? 'SGX extensions unreadable'}`);
  }

  // 5. Collateral: signer, documents, TCB statuses.
  const tcb = evaluateCollateral(quote, pck, col, anchors, at, reasons, cache);
  const claims = buildTdxClaims(quote, pck, tcb);
  const acceptable = input.acceptableTcbStatuses ?? input.reference?.acceptableTcbStatuses ?? DEFAULT_ACCEPTABLE_TCB_STATUSES;
  reasons.push(...checkTcbStatuses(claims, acceptable));
  if (input.reference) reasons.push(...checkTdxMeasurements(claims, input.reference));
  // The root CRL is applied to both the PCK chain and the TCB signer; one stale CRL is one reason.
  return resultOf(claims, [...new Set(reasons)]);
}

/** The root CRL and the PCK CRL that apply to this chain; a supplied but inapplicable CRL is a reason. */
function selectCrls(chain: PckChain, col: TdxCollateral, reasons: string[]): Crl[] {
  const out: Crl[] = [];
  if (col.rootCrl) {
    if (bytesEqual(col.rootCrl.issuerDer, chain.subjects[2]!)) out.push(col.rootCrl);
    else reasons.push('the root CA CRL is not issued by the root of the PCK chain');
  }
  if (col.pckCrls && col.pckCrls.length > 0) {
    const match = col.pckCrls.find((c) => bytesEqual(c.issuerDer, chain.subjects[1]!));
    // SECURITY: PCK CRLs were supplied, so revocation is expected to be checked; a set without this CA's CRL
    // (e.g. only the processor CA's for a platform-CA PCK) must not pass silently.
    if (match) out.push(match);
    else reasons.push(`no CRL of the ${chain.path[1].role} among the supplied PCK CRLs; PCK revocation can't be checked`);
  }
  return out;
}

function evaluateCollateral(
  quote: TdxQuote,
  pck: PckExtensions | undefined,
  col: TdxCollateral,
  anchors: readonly X509Certificate[],
  at: Date,
  reasons: string[],
  cache: PckChainCache,
): TcbClaimParts {
  const advisory: string[] = [];
  const parts: { -readonly [K in keyof TcbClaimParts]: TcbClaimParts[K] } = {
    tcb_status: NOT_EVALUATED,
    tcb_date: null,
    tdx_module_identity: null,
    qe_tcb_status: NOT_EVALUATED,
    advisory_ids: advisory,
  };
  const tcbInfos = col.tcbInfos ?? [];
  if (tcbInfos.length === 0 && !col.qeIdentity) return parts;
  const signer = col.tcbSigningCert;
  if (!signer) {
    reasons.push('TCB info / QE identity supplied without the "Intel SGX TCB Signing" certificate, so their signatures cannot be checked');
    return parts;
  }
  reasons.push(...checkTcbSigner(signer, anchors, at, col.rootCrl, cache));

  if (tcbInfos.length > 0) {
    const fmspc = pck ? Buffer.from(pck.fmspc).toString('hex') : undefined;
    const doc = fmspc === undefined ? undefined : tcbInfos.find((t) => t.parsed.fmspc === fmspc);
    if (!pck) {
      reasons.push('TCB info cannot be applied: the PCK certificate has no readable FMSPC');
    } else if (!doc) {
      reasons.push(`no TCB info for FMSPC ${fmspc} among the collateral (have ${tcbInfos.map((t) => t.parsed.fmspc).join(', ')})`);
    } else if (!cache.documentSigned(doc, signer, () => documentSignatureValid(doc, signer))) {
      reasons.push(`TCB info (${doc.source}) signature does not verify with the TCB signing certificate`);
    } else {
      reasons.push(...freshnessReasons(`TCB info (${doc.source})`, doc.parsed.issueDate, doc.parsed.nextUpdate, at));
      const ev = evaluateTdxTcb(doc.parsed, quote.body, pck);
      reasons.push(...ev.reasons);
      parts.tcb_status = ev.status;
      parts.tcb_date = ev.tcbDate ?? null;
      parts.tdx_module_identity = ev.moduleIdentity ?? null;
      advisory.push(...ev.advisoryIds);
    }
  }
  const qeDoc = col.qeIdentity;
  if (qeDoc) {
    if (!cache.documentSigned(qeDoc, signer, () => documentSignatureValid(qeDoc, signer))) {
      reasons.push(`QE identity (${qeDoc.source}) signature does not verify with the TCB signing certificate`);
    } else {
      reasons.push(...freshnessReasons(`QE identity (${qeDoc.source})`, qeDoc.parsed.issueDate, qeDoc.parsed.nextUpdate, at));
      const ev = evaluateQeIdentity(qeDoc.parsed, quote.signatureData.qeReport);
      reasons.push(...ev.reasons);
      parts.qe_tcb_status = ev.status;
      for (const id of ev.advisoryIds) if (!advisory.includes(id)) advisory.push(id);
    }
  }
  return parts;
}
