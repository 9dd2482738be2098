/**
 * `ccmesh attest simulate init --out DIR`: creates a simulated AMD SEV-SNP platform for development and tests on
 * machines without the hardware. Its evidence verifies only where its ARK is trusted explicitly.
 */
import { initSimulatedPlatform } from '../../../attestation/simulated/platform.js';
import { SNP_PRODUCTS } from '../../../attestation/snp/product.js';
import { hexFlag } from '../../../lib/config/flag-values.js';
import { EXIT } from '../../../lib/exit-codes.js';
import { readCommandFlags, wantsHelp } from '../../flags.js';
import type { CliIo } from '../../io.js';
import { writingUserPath } from '../../user-paths.js';

const FLAGS = {
  out: { type: 'string' },
  product: { type: 'string' },
  measurement: { type: 'string' },
  'host-data': { type: 'string' },
  policy: { type: 'string' },
  help: { type: 'boolean' },
} as const;

/** Usage text of `ccmesh attest simulate init`. */
export const SIMULATE_INIT_USAGE = `Usage:
  ccmesh attest simulate init --out DIR [--product milan|genoa|turin] [--measurement HEX48] [--host-data HEX32]
                              [--policy HEX16]

Creates a SIMULATED AMD SEV-SNP platform in DIR: an ARK and ASK (RSA-4096, RSASSA-PSS) marked as simulated, a VCEK
(P-384) with AMD's extensions, their private keys (mode 0600), and platform.json with the defaults that
"ccmesh attest issue --tee simulated --sim-dir DIR" signs into reports. Development and tests only: the ARK is
never trusted unless passed explicitly (attest verify --root DIR/ark.pem, or a manifest's simulated root).
`;

/** Runs `ccmesh attest simulate init`. */
export async function simulateInitCommand(argv: readonly string[], io: CliIo): Promise<number> {
  if (wantsHelp(argv)) {
    io.stdout(SIMULATE_INIT_USAGE);
    return EXIT.ok;
  }
  const { r } = readCommandFlags('attest simulate init', argv, FLAGS);
  const out = r.requiredString('out', 'the directory to create the platform in');
  const product = r.oneOf('product', SNP_PRODUCTS, 'milan');
  const measurement = hexFlag(r, 'measurement', 48);
  const hostData = hexFlag(r, 'host-data', 32);
  const policyHex = r.raw('policy');
  if (policyHex !== undefined && !/^[0-9a-fA-F]{16}$/.test(policyHex)) r.issue('policy', policyHex, '16 hex digits (the u64 guest policy, e.g. 0000000000030000)');
  r.finish();
  const started = Date.now();
  const platform = await writingUserPath('--out', out!, () => initSimulatedPlatform(out!, {
    product: product!,
    ...(measurement ? { measurement } : {}),
    ...(hostData ? { hostData } : {}),
    ...(policyHex ? { policy: BigInt(`0x${policyHex}`) } : {}),
    progress: (m) => io.stderr(`simulate init: ${m}…\n`),
  }));
  io.stdout(
    [
      `Created a SIMULATED ${product} SEV-SNP platform in ${out} (${((Date.now() - started) / 1000).toFixed(1)} s).`,
      `  chip id      ${platform.config.chipId.slice(0, 16)}…`,
      `  reported TCB ${JSON.stringify(platform.config.reportedTcb)}`,
      `  trust root   ${out}/ark.pem   (never trusted unless passed explicitly)`,
      `Issue evidence: ccmesh attest issue --tee simulated --sim-dir ${out} --report-data <128 hex digits> --out report.bin`,
      '',
    ].join('\n'),
  );
  return EXIT.ok;
}
