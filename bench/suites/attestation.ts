/**
 * Attestation verification throughput on one core: SNP with the VEK chain cached (the Coordinator's steady state),
 * SNP cold (chain checked every time), TDX signatures + PCK chain, and TDX with full collateral.
 */
import { mkdtempSync, readFileSync, readdirSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { initSimulatedPlatform } from '../../attestation/simulated/platform.js';
import { SimulatedSnpIssuer } from '../../attestation/simulated/snp-issuer.js';
import { createSnpVerifier, verifySnp } from '../../attestation/snp/verify.js';
import { recognizeTdxCollateral } from '../../attestation/tdx/collateral.js';
import { createTdxVerifier } from '../../attestation/tdx/verify.js';
import { type Measurement, measureAsyncOps, type MeasureOptions, measureOps } from '../measure.js';

/** Runs the attestation suite against the samples under `samplesDir` (testdata/attestation). */
export function runAttestationSuite(samplesDir: string, opts: MeasureOptions): Measurement[] {
  const read = (rel: string): Uint8Array => new Uint8Array(readFileSync(join(samplesDir, rel)));
  const report = read('snp/gsg-milan-v2.report.bin');
  const vek = read('snp/gsg-milan-v2.vcek.der');
  const chain = read('snp/ask_ark_milan.pem');
  const snpAt = new Date('2024-01-01T00:00:00Z');
  const out: Measurement[] = [];

  const snp = createSnpVerifier();
  const check = snp.verify({ report, vek, chain, at: snpAt });
  if (!check.ok) throw new Error(`benchmark precondition: SNP sample must verify: ${check.reasons.join('; ')}`);
  out.push(measureOps('attestation', 'snp verify (chain cached)', () => void snp.verify({ report, vek, chain, at: snpAt }), opts, 'target ≥ 2000/s'));
  out.push(measureOps('attestation', 'snp verify (cold: chain checked each time)', () => void verifySnp({ report, vek, chain, at: snpAt }), opts));

  const quote = read('tdx/quote-v4-trustee-q4.dat');
  const tdxAt = new Date('2023-07-01T01:00:00Z');
  const colDir = join(samplesDir, 'tdx/collateral');
  const files = readdirSync(colDir).sort().map((name) => ({ name, bytes: new Uint8Array(readFileSync(join(colDir, name))) }));
  const { collateral } = recognizeTdxCollateral(files);
  const tdx = createTdxVerifier();
  const tcheck = tdx.verify({ quote, at: tdxAt, collateral });
  if (!tcheck.ok) throw new Error(`benchmark precondition: TDX sample must verify: ${tcheck.reasons.join('; ')}`);
  out.push(measureOps('attestation', 'tdx verify (signatures + PCK chain, cached)', () => void tdx.verify({ quote, at: tdxAt }), opts));
  out.push(measureOps('attestation', 'tdx verify (full collateral, cached)', () => void tdx.verify({ quote, at: tdxAt, collateral }), opts));
  return out;
}

/** Simulated SNP issuance (bounds how fast the test mesh can attest), and verifying what it issues. */
export async function runSimulatedIssuanceSuite(opts: MeasureOptions): Promise<Measurement[]> {
  const dir = mkdtempSync(join(tmpdir(), 'ccmesh-bench-sim-'));
  try {
    const platform = await initSimulatedPlatform(join(dir, 'platform'));
    const issuer = new SimulatedSnpIssuer(platform);
    const reportData = new Uint8Array(64).fill(1);
    const issue = async (): Promise<void> => {
      reportData[0] = (reportData[0]! + 1) & 0xff;
      await issuer.issue(reportData);
    };
    const out = [await measureAsyncOps('attestation', 'simulated snp issue (sign a v3 report)', issue, opts)];
    const ev = await issuer.issue(reportData);
    if (ev.format !== 'snp') throw new Error('simulated issuer returned non-SNP evidence');
    const verifier = createSnpVerifier({ anchors: [platform.ark] });
    const at = new Date();
    const input = { report: ev.report, vek: platform.vcekDer, chain: platform.chainPem, at };
    const check = verifier.verify(input);
    if (!check.ok) throw new Error(`benchmark precondition: simulated evidence must verify: ${check.reasons.join('; ')}`);
    out.push(measureOps('attestation', 'simulated snp verify (chain cached)', () => void verifier.verify(input), opts));
    return out;
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}
