/**
 * Shared fixtures for the TDX tests: the real samples, their facts.json entries (recorded independently of this
 * code) and the bundled collateral directory as {name, bytes} files.
 */
import { readdirSync } from 'node:fs';
import { attestationSample, factOf, readSample } from '../../fixtures.js';
import type { CollateralFile } from '../../../attestation/tdx/collateral.js';

/** Every TDX quote sample, positive and negative. */
export const QUOTE_SAMPLES = [
  'tdx/quote-v4-gtg-spr-e4.dat',
  'tdx/quote-v4-trustee-q4.dat',
  'tdx/quote-v5-gtg-sample.dat',
  'tdx/negative/quote-v4-gtg-spr-e4.body-bitflip.dat',
] as const;

/** The facts of a quote sample, with the fields the tests read. */
export interface QuoteFacts {
  readonly size: number;
  readonly quote_version: number;
  readonly tee_type_hex: string;
  readonly header: { readonly att_key_type: number; readonly qe_vendor_id: string; readonly user_data: string; readonly reserved_0x08_0x0c_hex: string };
  readonly body_type: number | null;
  readonly body_size: number;
  readonly td_report_body: Record<string, string>;
  readonly td_attributes_decoded: { readonly debug: boolean; readonly known_names: readonly string[] };
  readonly signed_range: readonly [number, number];
  readonly signature_data_len: number;
  readonly quote_end_offset: number;
  readonly trailing_bytes_after_signature_data: number;
  readonly quote_signature_rs: string;
  readonly attestation_public_key_xy: string;
  readonly certification_data_type: number;
  readonly certification_data_size: number;
  readonly qe_report: Record<string, string | number>;
  readonly qe_report_signature_rs: string;
  readonly qe_auth_data: string;
  readonly inner_certification_data_type: number;
  readonly inner_certification_data_size: number;
  readonly pck_chain_pem_ends_with_nul: boolean;
  readonly pck_chain: readonly { readonly sha256_der: string; readonly not_before: string; readonly not_after: string }[];
  readonly pck_extensions: {
    readonly ppid: string;
    readonly tcb: Record<string, number | string>;
    readonly pceid: string;
    readonly fmspc: string;
    readonly sgx_type: number;
    readonly platform_instance_id: string;
    readonly configuration_present: boolean;
  };
  readonly verification_time: { readonly recommended_fixed_now: string };
}

/** Typed facts of a quote sample. */
export function quoteFacts(rel: string): QuoteFacts {
  return factOf(rel) as unknown as QuoteFacts;
}

/** The recommended fixed verification time of a sample. */
export function fixedNow(rel: string): Date {
  return new Date(quoteFacts(rel).verification_time.recommended_fixed_now);
}

/** Collateral files by name under tdx/collateral (all of them when `names` is omitted). */
export function collateralFiles(names?: readonly string[]): CollateralFile[] {
  const all = readdirSync(attestationSample('tdx/collateral')).sort();
  return (names ?? all).map((name) => ({ name, bytes: readSample(`tdx/collateral/${name}`) }));
}

/** Collateral file names for the 2023 v4 samples (facts verify_with). */
export const COLLATERAL_2023 = [
  'tcbinfo-tdx-fmspc50806f000000-2023-06-18.json',
  'qeidentity-td_qe-2023-06-08.json',
  'pck_platform_ca.crl.der',
  'intel_sgx_root_ca.crl.der',
  'intel_sgx_tcb_signing.pem',
] as const;
