/**
 * Offline SEV-SNP verification: report signature with the VEK, VEK → ASK/ASVK → pinned ARK, the VEK issued for
 * this chip (hwID = CHIP_ID) and this TCB (SPL extensions = REPORTED_TCB), product and key kind consistent across
 * report, VEK and chain, and optionally reference values. Every failed check is a reason; nothing throws for bad
 * input. {@link createSnpVerifier} keeps the collateral work (parsing, RSA chain signatures) per distinct VEK +
 * chain so the steady state costs one P-384 verify per report.
 */
import { createHash, type X509Certificate } from 'node:crypto';
import { isAllZero, toHex } from '../../lib/bytes.js';
import { describeError } from '../../lib/errors.js';
import { resultOf, type VerifyResult } from '../result.js';
import { buildSnpClaims, type SnpClaims } from './claims.js';
import { checkSnpCollateral, readSnpCollateral, type SnpCollateral } from './collateral.js';
import { SnpParseError } from './parse-error.js';
import { decodePolicy, policyDefects } from './policy.js';
import { productFromCpuid, productLabel, type SnpProduct } from './product.js';
import { checkSnpReference, type SnpReferenceValues } from './reference.js';
import { parseSnpReport, SNP_SIG_ALGO_ECDSA_P384_SHA384, type SnpReport } from './report.js';
import { verifyReportSignature } from './report-signature.js';
import { amdArkCertificates } from './roots.js';
import { decodeTcb, type SnpTcbComponent } from './tcb.js';
import type { VekSplName } from './vek.js';

/** Everything one verification needs. */
export interface SnpVerifyInput {
  /** The 1184-byte ATTESTATION_REPORT. */
  readonly report: Uint8Array;
  /** The VCEK or VLEK certificate, DER or PEM. */
  readonly vek: Uint8Array;
  /** PEM bundle: ASK or ASVK first, then the ARK. */
  readonly chain: Uint8Array;
  /** The instant at which certificates and CRLs must be valid (from an injected clock, never the wall clock here). */
  readonly at: Date;
  /** CRLs (DER or PEM) to apply to the chain. */
  readonly crls?: readonly Uint8Array[];
  /** Trust anchors; default: the pinned AMD ARKs. Only {@link verifySnp} accepts this (a verifier's are fixed). */
  readonly anchors?: readonly X509Certificate[];
  /** Reference values to judge the claims against. */
  readonly reference?: SnpReferenceValues;
}

/** A verifier that caches collateral work across calls. */
export interface SnpVerifier {
  /** Verifies one report; same contract as {@link verifySnp}, except that anchors are fixed at creation. */
  verify(input: SnpVerifyInput): VerifyResult<SnpClaims>;
  /** Number of cached collateral entries (for metrics and tests). */
  readonly cacheSize: number;
}

/** Options of {@link createSnpVerifier}. */
export interface SnpVerifierOptions {
  /** Trust anchors; default: the pinned AMD ARKs. */
  readonly anchors?: readonly X509Certificate[];
  /** Upper bound on cached VEK + chain entries (least recently used are dropped); default 256. */
  readonly maxCacheEntries?: number;
}

const TCB_EXTENSIONS: readonly [SnpTcbComponent, VekSplName][] = [
  ['fmc', 'fmcSPL'],
  ['bootloader', 'blSPL'],
  ['tee', 'teeSPL'],
  ['snp', 'snpSPL'],
  ['microcode', 'ucodeSPL'],
];

/** Report-side checks against already-checked collateral; `chainReasons` are the collateral's reasons at `at`. */
function evaluate(report: SnpReport, col: SnpCollateral, chainReasons: readonly string[], reference: SnpReferenceValues | undefined): VerifyResult<SnpClaims> {
  const reasons = [...chainReasons];
  const vek = col.vek;

  // Product: the report's own CPUID (v3+) is the strongest statement; the VEK's productName otherwise.
  let cpuidProduct: SnpProduct | undefined;
  if (report.cpuid) {
    const { family, model } = report.cpuid;
    cpuidProduct = productFromCpuid(family, model);
    if (!cpuidProduct) reasons.push(`report CPUID family 0x${family.toString(16)} model 0x${model.toString(16)} is not a supported product (Milan, Genoa, Turin)`);
  }
  if (cpuidProduct && vek?.product && cpuidProduct !== vek.product) {
    reasons.push(`report CPUID says ${productLabel(cpuidProduct)} but the VEK productName ${JSON.stringify(vek.extensions.productName)} says ${productLabel(vek.product)}`);
  }
  const claimed = cpuidProduct ?? vek?.product;
  if (claimed && col.chainProduct && claimed !== col.chainProduct) {
    reasons.push(
      `wrong product: the certificate chain (${col.intermediateName ?? 'intermediate'}) is for ${productLabel(col.chainProduct)} but the ${cpuidProduct ? 'report' : 'VEK'} is for ${productLabel(claimed)}`,
    );
  }
  const product = claimed ?? col.chainProduct;

  if (report.signatureAlgo !== SNP_SIG_ALGO_ECDSA_P384_SHA384) {
    reasons.push(`report SIGNATURE_ALGO is ${report.signatureAlgo}, expected 1 (ECDSA P-384 with SHA-384)`);
  }
  const { signingKey, signingKeyCode, maskChipKey } = report.signerInfo;
  if (signingKey === 'none') reasons.push('report is not signed (SIGNING_KEY 7: no key)');
  else if (signingKey === 'reserved') reasons.push(`report SIGNING_KEY ${signingKeyCode} is a reserved value`);
  else if (col.kind && signingKey !== col.kind) {
    reasons.push(
      `report is signed by a ${signingKey.toUpperCase()} (SIGNING_KEY ${signingKeyCode}) but the certificate chain (${col.intermediateName ?? 'intermediate'}) certifies a ${col.kind.toUpperCase()}`,
    );
  }
  if (maskChipKey) reasons.push('report has MASK_CHIP_KEY set: the firmware did not sign it with the chip key');

  if (vek) {
    if (!verifyReportSignature(report, vek.publicKey)) {
      reasons.push(`report signature does not verify with the ${signingKey === 'vlek' ? 'VLEK' : 'VCEK'} key (ECDSA P-384/SHA-384 over bytes 0x000-0x29F)`);
    }
  } else {
    reasons.push('report signature was not checked: no usable VEK certificate');
  }

  if (vek && product) {
    // The VEK is derived for REPORTED_TCB (not CURRENT_TCB): every SPL it names must equal that component.
    const tcb = decodeTcb(report.reportedTcb, product);
    for (const [component, ext] of TCB_EXTENSIONS) {
      const want = tcb[component];
      if (want === undefined) continue; // fmc outside Turin
      const got = vek.extensions.spls[ext];
      if (got === undefined) reasons.push(`VEK has no ${ext} extension, so it can't be matched to REPORTED_TCB ${component} ${want}`);
      else if (got !== want) reasons.push(`VEK ${ext} ${got} differs from REPORTED_TCB ${component} ${want}: the VEK was issued for another TCB`);
    }
  }

  if (signingKey === 'vcek' || col.kind === 'vcek') {
    if (isAllZero(report.chipId)) {
      reasons.push('CHIP_ID is all zero (masked by MASK_CHIP_ID) but a VCEK is used; a VCEK is bound to a chip ID, so it can\'t be matched');
    } else if (vek?.extensions.hwId && product) {
      const hwId = vek.extensions.hwId;
      const len = product === 'turin' ? 8 : 64;
      if (hwId.length !== len) reasons.push(`VCEK hwID has ${hwId.length} bytes; a ${productLabel(product)} VCEK has ${len}`);
      else if (toHex(hwId) !== toHex(report.chipId.subarray(0, len))) {
        reasons.push(`VCEK hwID ${toHex(hwId)} differs from the report CHIP_ID${len === 8 ? ' (first 8 bytes)' : ''}: the VCEK belongs to another chip`);
      }
    }
  }

  reasons.push(...policyDefects(decodePolicy(report.policy)));

  if (!product) {
    reasons.push('cannot identify the AMD product: the report has no CPUID (v2) and neither the VEK nor the chain names a supported product');
    return resultOf<SnpClaims>(undefined, reasons);
  }
  const claims = buildSnpClaims(report, product);
  if (reference) reasons.push(...checkSnpReference(claims, reference));
  return resultOf(claims, reasons);
}

function parseOrReason(bytes: Uint8Array): SnpReport | string {
  try {
    return parseSnpReport(bytes);
  } catch (err) {
    // parseSnpReport only throws SnpParseError; anything else is still bad input, never a crash of the caller.
    return err instanceof SnpParseError ? err.message : `SNP report: ${describeError(err)}`;
  }
}

function validDate(at: Date): boolean {
  return at instanceof Date && Number.isFinite(at.getTime());
}

/** Verifies one SNP report with its VEK and chain at `input.at`; parse failures are reasons with claims undefined. */
export function verifySnp(input: SnpVerifyInput): VerifyResult<SnpClaims> {
  if (!validDate(input.at)) return resultOf<SnpClaims>(undefined, ['verification time is not a valid date']);
  const report = parseOrReason(input.report);
  if (typeof report === 'string') return resultOf<SnpClaims>(undefined, [report]);
  const anchors = input.anchors ?? amdArkCertificates();
  const col = readSnpCollateral(input, anchors);
  return evaluate(report, col, checkSnpCollateral(col, anchors, input.at), input.reference);
}

interface CacheEntry {
  readonly col: SnpCollateral;
  /** Collateral reasons computed at an instant inside the window: valid for every instant inside it. */
  inWindow: readonly string[] | undefined;
}

/** The cache key: SHA-256 over the length-prefixed VEK, chain and CRLs, so no two inputs can collide by concatenation. */
function collateralKey(input: SnpVerifyInput): string {
  const h = createHash('sha256');
  const part = (b: Uint8Array): void => {
    const len = Buffer.allocUnsafe(4);
    len.writeUInt32BE(b.length);
    h.update(len).update(b);
  };
  part(input.vek);
  part(input.chain);
  for (const crl of input.crls ?? []) part(crl);
  return h.digest('hex');
}

/**
 * Creates a verifier that caches, per distinct VEK + chain (+ CRLs): the parsed certificates, the VEK KeyObject and
 * the result of the chain check. A cached chain result is reused only when `at` lies inside every certificate's
 * (and CRL's) validity window — inside it the only time-dependent checks all pass, so the result can't differ.
 */
export function createSnpVerifier(options: SnpVerifierOptions = {}): SnpVerifier {
  const anchors = options.anchors ?? amdArkCertificates();
  const max = Math.max(1, options.maxCacheEntries ?? 256);
  const cache = new Map<string, CacheEntry>();
  return {
    get cacheSize() {
      return cache.size;
    },
    verify(input: SnpVerifyInput): VerifyResult<SnpClaims> {
      // SECURITY: a verifier's anchors are fixed; silently ignoring per-call anchors could widen trust.
      if (input.anchors !== undefined) return resultOf<SnpClaims>(undefined, ['anchors are fixed when the verifier is created; pass them to createSnpVerifier']);
      if (!validDate(input.at)) return resultOf<SnpClaims>(undefined, ['verification time is not a valid date']);
      const report = parseOrReason(input.report);
      if (typeof report === 'string') return resultOf<SnpClaims>(undefined, [report]);
      const key = collateralKey(input);
      let entry = cache.get(key);
      if (entry) {
        cache.delete(key); // re-insert below: Map order is the LRU order
      } else {
        entry = { col: readSnpCollateral(input, anchors), inWindow: undefined };
        if (cache.size >= max) cache.delete(cache.keys().next().value!);
      }
      cache.set(key, entry);
      const t = input.at.getTime();
      const inside = t >= entry.col.windowStart && t <= entry.col.windowEnd;
      let chainReasons = inside ? entry.inWindow : undefined;
      if (!chainReasons) {
        chainReasons = checkSnpCollateral(entry.col, anchors, input.at);
        if (inside) entry.inWindow = chainReasons;
      }
      return evaluate(report, entry.col, chainReasons, input.reference);
    },
  };
}
