/**
 * One collateral request as data. Every source turns its method arguments into a {@link CollateralRequest}
 * first, so argument checks, URLs, cache keys and error texts are derived from one normalised value: a Turin
 * request keyed on all 64 bytes of CHIP_ID and one keyed on the 8 that KDS uses are the same request.
 */
import { createHash } from 'node:crypto';
import { isAllZero, toHex } from '../../lib/bytes.js';
import { CcmeshError, ErrorCode } from '../../lib/errors.js';
import type { AmdProduct, AmdSigner, AmdTcb, IntelPckCa } from './collateral-source.js';

/** The kinds of collateral, one per {@link CollateralSource} method. */
export type CollateralKind =
  | 'amd-vek'
  | 'amd-chain'
  | 'amd-crl'
  | 'intel-tcb-info'
  | 'intel-qe-identity'
  | 'intel-pck-crl'
  | 'intel-root-crl';

/** Every {@link CollateralKind}, for pre-binding metric children. */
export const COLLATERAL_KINDS: readonly CollateralKind[] = [
  'amd-vek',
  'amd-chain',
  'amd-crl',
  'intel-tcb-info',
  'intel-qe-identity',
  'intel-pck-crl',
  'intel-root-crl',
];

/** SPLs as KDS takes them: `fmc` is a number on Turin and undefined elsewhere. */
export interface NormalisedTcb {
  readonly bootloader: number;
  readonly tee: number;
  readonly snp: number;
  readonly microcode: number;
  readonly fmc: number | undefined;
}

/** A validated, normalised collateral request. */
export type CollateralRequest =
  | { readonly kind: 'amd-vek'; readonly product: AmdProduct; readonly hwId: Uint8Array; readonly tcb: NormalisedTcb }
  | { readonly kind: 'amd-chain'; readonly product: AmdProduct; readonly signer: AmdSigner }
  | { readonly kind: 'amd-crl'; readonly product: AmdProduct }
  | { readonly kind: 'intel-tcb-info'; readonly fmspc: string }
  | { readonly kind: 'intel-qe-identity' }
  | { readonly kind: 'intel-pck-crl'; readonly ca: IntelPckCa }
  | { readonly kind: 'intel-root-crl' };

/** CHIP_ID length in a report; KDS identifies Milan and Genoa chips by all of it. */
const CHIP_ID_BYTES = 64;
/** Turin VCEKs carry (and KDS takes) only the first 8 bytes of CHIP_ID. */
const TURIN_HWID_BYTES = 8;

const PRODUCTS: readonly AmdProduct[] = ['milan', 'genoa', 'turin'];

function invalid(what: string): CcmeshError {
  return new CcmeshError(ErrorCode.ATTEST_FETCH, `cannot request attestation collateral: ${what}`);
}

function checkProduct(product: string): AmdProduct {
  // Arguments may come from untyped JavaScript or a CLI flag; a product outside the list would make a path.
  if (!(PRODUCTS as readonly string[]).includes(product)) {
    throw invalid(`unknown AMD product ${JSON.stringify(product)}, expected one of ${PRODUCTS.join(', ')}`);
  }
  return product as AmdProduct;
}

function checkSpl(name: string, v: unknown): number {
  if (typeof v !== 'number' || !Number.isInteger(v) || v < 0 || v > 255) {
    throw invalid(`${name} must be an integer 0-255, got ${String(v)}`);
  }
  return v;
}

/** Validates and normalises the arguments of {@link CollateralSource.amdVek}. */
export function amdVekRequest(product: AmdProduct, chipId: Uint8Array, tcb: AmdTcb): CollateralRequest {
  const p = checkProduct(product);
  let hwId: Uint8Array;
  if (p === 'turin') {
    if (chipId.length !== CHIP_ID_BYTES && chipId.length !== TURIN_HWID_BYTES) {
      throw invalid(`Turin chip id must be ${CHIP_ID_BYTES} or ${TURIN_HWID_BYTES} bytes, got ${chipId.length}`);
    }
    hwId = chipId.slice(0, TURIN_HWID_BYTES);
  } else {
    if (chipId.length !== CHIP_ID_BYTES) throw invalid(`${p} chip id must be ${CHIP_ID_BYTES} bytes, got ${chipId.length}`);
    hwId = chipId.slice();
  }
  if (isAllZero(hwId)) {
    // The guest policy MASK_CHIP_ID zeroes CHIP_ID; KDS cannot serve a VCEK for it.
    throw invalid('chip id is all zero (masked by the guest policy); the VCEK must be supplied with the evidence');
  }
  let fmc: number | undefined;
  if (p === 'turin') {
    if (tcb.fmc === undefined) throw invalid('Turin VCEK requests need the fmcSPL component of the TCB');
    fmc = checkSpl('fmcSPL', tcb.fmc);
  }
  return {
    kind: 'amd-vek',
    product: p,
    hwId,
    tcb: {
      bootloader: checkSpl('blSPL', tcb.bootloader),
      tee: checkSpl('teeSPL', tcb.tee),
      snp: checkSpl('snpSPL', tcb.snp),
      microcode: checkSpl('ucodeSPL', tcb.microcode),
      fmc,
    },
  };
}

/** Validates the arguments of {@link CollateralSource.amdChain}. */
export function amdChainRequest(product: AmdProduct, signer: AmdSigner): CollateralRequest {
  if (signer !== 'vcek' && signer !== 'vlek') throw invalid(`unknown AMD signer ${JSON.stringify(signer)}, expected vcek or vlek`);
  return { kind: 'amd-chain', product: checkProduct(product), signer };
}

/** Validates the arguments of {@link CollateralSource.amdCrl}. */
export function amdCrlRequest(product: AmdProduct): CollateralRequest {
  return { kind: 'amd-crl', product: checkProduct(product) };
}

/** Validates the FMSPC of {@link CollateralSource.intelTdxTcbInfo}; lowercases it as Intel prints it. */
export function intelTcbInfoRequest(fmspcHex: string): CollateralRequest {
  if (typeof fmspcHex !== 'string' || !/^[0-9a-fA-F]{12}$/.test(fmspcHex)) {
    throw invalid(`FMSPC must be 12 hex digits, got ${JSON.stringify(fmspcHex)}`);
  }
  return { kind: 'intel-tcb-info', fmspc: fmspcHex.toLowerCase() };
}

/** The request of {@link CollateralSource.intelQeIdentity}. */
export function intelQeIdentityRequest(): CollateralRequest {
  return { kind: 'intel-qe-identity' };
}

/** Validates the CA of {@link CollateralSource.intelPckCrl}. */
export function intelPckCrlRequest(ca: IntelPckCa): CollateralRequest {
  if (ca !== 'platform' && ca !== 'processor') throw invalid(`unknown PCK CA ${JSON.stringify(ca)}, expected platform or processor`);
  return { kind: 'intel-pck-crl', ca };
}

/** The request of {@link CollateralSource.intelRootCrl}. */
export function intelRootCrlRequest(): CollateralRequest {
  return { kind: 'intel-root-crl' };
}

/** A canonical one-line form of a request; equal requests give equal strings. */
export function canonicalRequest(req: CollateralRequest): string {
  switch (req.kind) {
    case 'amd-vek': {
      const t = req.tcb;
      const fmc = t.fmc === undefined ? '' : ` fmc=${t.fmc}`;
      return `amd-vek ${req.product} ${toHex(req.hwId)} bl=${t.bootloader} tee=${t.tee} snp=${t.snp} ucode=${t.microcode}${fmc}`;
    }
    case 'amd-chain':
      return `amd-chain ${req.product} ${req.signer}`;
    case 'amd-crl':
      return `amd-crl ${req.product}`;
    case 'intel-tcb-info':
      return `intel-tcb-info ${req.fmspc}`;
    case 'intel-pck-crl':
      return `intel-pck-crl ${req.ca}`;
    case 'intel-qe-identity':
    case 'intel-root-crl':
      return req.kind;
  }
}

/** SHA-256 (hex) of the canonical request: the cache key, safe as a file name. */
export function requestKey(req: CollateralRequest): string {
  return createHash('sha256').update(canonicalRequest(req)).digest('hex');
}

const PRODUCT_NAME: Record<AmdProduct, string> = { milan: 'Milan', genoa: 'Genoa', turin: 'Turin' };

/** What a request asks for, in words, for error messages. */
export function describeRequest(req: CollateralRequest): string {
  switch (req.kind) {
    case 'amd-vek': {
      const t = req.tcb;
      const fmc = t.fmc === undefined ? '' : ` fmc=${t.fmc}`;
      return (
        `the AMD VCEK of ${PRODUCT_NAME[req.product]} chip ${toHex(req.hwId).slice(0, 16)}… ` +
        `at TCB bl=${t.bootloader} tee=${t.tee} snp=${t.snp} ucode=${t.microcode}${fmc}`
      );
    }
    case 'amd-chain':
      return `the AMD ${PRODUCT_NAME[req.product]} ${req.signer === 'vcek' ? 'ASK' : 'ASVK'}+ARK chain`;
    case 'amd-crl':
      return `the AMD ${PRODUCT_NAME[req.product]} CRL`;
    case 'intel-tcb-info':
      return `the Intel TDX TCB info for FMSPC ${req.fmspc}`;
    case 'intel-qe-identity':
      return 'the Intel TDX QE identity';
    case 'intel-pck-crl':
      return `the Intel PCK ${req.ca} CA CRL`;
    case 'intel-root-crl':
      return 'the Intel SGX Root CA CRL';
  }
}

/** Which vendor service serves a kind; a metric label. */
export function vendorOf(kind: CollateralKind): 'amd_kds' | 'intel_pcs' {
  return kind.startsWith('amd-') ? 'amd_kds' : 'intel_pcs';
}
