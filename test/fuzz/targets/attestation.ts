/** Fuzz targets of the evidence parsers and verifiers (SNP report, VEK, TDX quote, PCK extensions, collateral). */
import { X509Certificate } from 'node:crypto';
import { readSample } from '../../fixtures.js';
import { SnpParseError } from '../../../attestation/snp/parse-error.js';
import { parseSnpReport } from '../../../attestation/snp/report.js';
import { parseVek } from '../../../attestation/snp/vek.js';
import { createSnpVerifier } from '../../../attestation/snp/verify.js';
import { recognizeTdxCollateral } from '../../../attestation/tdx/collateral.js';
import { isP256 } from '../../../attestation/tdx/collateral-check.js';
import { PckExtensionError, parsePckExtensions } from '../../../attestation/tdx/pck-extensions.js';
import { parseTdxQuote, TdxQuoteParseError } from '../../../attestation/tdx/quote.js';
import { CollateralFormatError } from '../../../attestation/tdx/signed-json.js';
import { readQeIdentityDocument, readTcbInfoDocument } from '../../../attestation/tdx/tcb-info.js';
import { createTdxVerifier } from '../../../attestation/tdx/verify.js';
import type { VerifyResult } from '../../../attestation/result.js';
import { COLLATERAL_2023, collateralFiles } from '../../support/attestation/tdx.js';
import { FuzzViolation, NEVER_THROWS, refusedWith, type FuzzTarget } from '../target.js';

const SNP_AT = new Date('2024-01-01T00:00:00Z');
const TDX_AT = new Date('2023-07-01T00:00:00Z');

/** A verifier result must be structured: ok with claims and no reasons, or not ok with reasons. */
function structured(r: VerifyResult<unknown>): void {
  const shape = typeof r.ok === 'boolean' && Array.isArray(r.reasons) && r.reasons.every((x) => typeof x === 'string' && x.length > 0);
  if (!shape || (r.ok ? r.reasons.length !== 0 || r.claims === undefined : r.reasons.length === 0)) throw new FuzzViolation(`unstructured verifier result: ${JSON.stringify(r).slice(0, 300)}`);
}

let snpVerifier: ReturnType<typeof createSnpVerifier> | undefined;
let tdx: { verifier: ReturnType<typeof createTdxVerifier>; collateral: ReturnType<typeof recognizeTdxCollateral>['collateral'] } | undefined;

export const ATTESTATION_TARGETS: readonly FuzzTarget[] = [
  {
    name: 'snp-report',
    what: 'SEV-SNP ATTESTATION_REPORT parser (1184 bytes, versions 2–5)',
    kind: 'bytes',
    run: (b) => parseSnpReport(b as Uint8Array),
    refusal: refusedWith(SnpParseError),
  },
  {
    name: 'snp-verify',
    what: 'SEV-SNP verifier: a mutated report against the genuine VCEK and AMD chain (never throws)',
    kind: 'bytes',
    run: (b) => {
      snpVerifier ??= createSnpVerifier();
      structured(snpVerifier.verify({ report: b as Uint8Array, vek: readSample('snp/gsg-milan-v2.vcek.der'), chain: readSample('snp/ask_ark_milan.pem'), at: SNP_AT }));
    },
    refusal: NEVER_THROWS,
  },
  {
    name: 'snp-vek',
    what: 'VCEK/VLEK certificate parser (DER or PEM, AMD extensions, P-384 key)',
    kind: 'bytes',
    run: (b) => parseVek(b as Uint8Array),
    refusal: refusedWith(SnpParseError),
  },
  {
    name: 'tdx-quote',
    what: 'TDX quote parser (v4/v5, certification data, QE report, PCK chain PEM)',
    kind: 'bytes',
    run: (b) => parseTdxQuote(b as Uint8Array),
    refusal: refusedWith(TdxQuoteParseError),
  },
  {
    name: 'tdx-verify',
    what: 'TDX verifier: a mutated quote against the bundled 2023 collateral (never throws)',
    kind: 'bytes',
    run: (b) => {
      if (!tdx) tdx = { verifier: createTdxVerifier(), collateral: recognizeTdxCollateral(collateralFiles(COLLATERAL_2023)).collateral };
      structured(tdx.verifier.verify({ quote: b as Uint8Array, at: TDX_AT, collateral: tdx.collateral }));
    },
    refusal: NEVER_THROWS,
  },
  {
    name: 'tdx-pck-extensions',
    what: 'Intel PCK certificate SGX extensions (DER of the certificate)',
    kind: 'bytes',
    run: (b) => parsePckExtensions(b as Uint8Array),
    refusal: refusedWith(PckExtensionError),
  },
  {
    name: 'tdx-tcb-info',
    what: 'TDX TCB info document (signed JSON: exact signed bytes, body shape)',
    kind: 'bytes',
    run: (b) => readTcbInfoDocument(b as Uint8Array, 'fuzz'),
    refusal: refusedWith(CollateralFormatError),
  },
  {
    name: 'tdx-qe-identity',
    what: 'TDX QE identity document (signed JSON)',
    kind: 'bytes',
    run: (b) => readQeIdentityDocument(b as Uint8Array, 'fuzz'),
    refusal: refusedWith(CollateralFormatError),
  },
  {
    name: 'tdx-verify-collateral-signer',
    what: 'TDX verifier with the TCB signing certificate replaced by the input (the host serves collateral): never throws',
    kind: 'bytes',
    run: (b) => {
      const files = collateralFiles(COLLATERAL_2023).map((f) => (f.name === 'intel_sgx_tcb_signing.pem' ? { name: f.name, bytes: b as Uint8Array } : f));
      const { collateral } = recognizeTdxCollateral(files);
      structured(createTdxVerifier().verify({ quote: readSample('tdx/quote-v4-trustee-q4.dat'), at: TDX_AT, collateral }));
    },
    refusal: NEVER_THROWS,
  },
  {
    name: 'tdx-collateral-certificate',
    what: 'a collateral signing certificate: parsed by Node, key inspected by isP256 (never aborts)',
    kind: 'bytes',
    run: (b) => {
      let cert: X509Certificate;
      try {
        cert = new X509Certificate(b as Uint8Array);
      } catch {
        return; // Node refused it: nothing of ours ran
      }
      isP256(cert);
    },
    refusal: NEVER_THROWS,
  },
];
