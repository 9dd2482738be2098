/**
 * `ccmesh attest issue`: obtains evidence binding 64 bytes of report data from this guest's TEE (configfs-tsm,
 * /dev/sev-guest) or from a simulated platform, and writes it — with the SNP certificates the platform supplied —
 * where `ccmesh attest verify` can check it.
 */
import { X509Certificate } from 'node:crypto';
import type { Evidence } from '../../../attestation/issuers/evidence.js';
import { createIssuer, ISSUER_KINDS } from '../../../attestation/issuers/select.js';
import { SimulatedSnpIssuer } from '../../../attestation/simulated/snp-issuer.js';
import { writeFileAtomic } from '../../../lib/fs/atomic-write.js';
import { EXIT } from '../../../lib/exit-codes.js';
import { readCommandFlags, wantsHelp } from '../../flags.js';
import type { CliIo } from '../../io.js';
import { hexFlag } from '../../../lib/config/flag-values.js';
import { writingUserPath } from '../../user-paths.js';

const FLAGS = {
  'report-data': { type: 'string' },
  tee: { type: 'string' },
  'sim-dir': { type: 'string' },
  'host-data': { type: 'string' },
  measurement: { type: 'string' },
  out: { type: 'string' },
  vmpl: { type: 'string' },
  'configfs-root': { type: 'string' },
  'sev-guest-device': { type: 'string' },
  'tdx-guest-device': { type: 'string' },
  help: { type: 'boolean' },
} as const;

/** Usage text of `ccmesh attest issue`. */
export const ATTEST_ISSUE_USAGE = `Usage:
  ccmesh attest issue --report-data HEX --out FILE [--tee auto|configfs|sev-guest|tdx-guest|simulated]
                      [--sim-dir DIR] [--host-data HEX] [--measurement HEX] [--vmpl N]
                      [--configfs-root PATH] [--sev-guest-device PATH] [--tdx-guest-device PATH]

Obtains evidence whose report data is HEX (exactly 64 bytes = 128 hex digits) and writes it to FILE. For SNP, the
certificates the platform supplied are written beside it: FILE.vcek.der (or FILE.vlek.der) and FILE.chain.pem.
  --tee auto       configfs-tsm, then /dev/sev-guest, then /dev/tdx_guest (never the simulation)
  --tee simulated  sign with the simulated platform in --sim-dir (see "ccmesh attest simulate init");
                   --host-data / --measurement override its defaults. Development and tests only.
`;

/** Runs `ccmesh attest issue`. */
export async function attestIssueCommand(argv: readonly string[], io: CliIo): Promise<number> {
  if (wantsHelp(argv)) {
    io.stdout(ATTEST_ISSUE_USAGE);
    return EXIT.ok;
  }
  const { tok, r } = readCommandFlags('attest issue', argv, FLAGS);
  const reportData = hexFlag(r, 'report-data', 64);
  if (r.raw('report-data') === undefined) r.issue('report-data', undefined, '64 bytes of hex (128 hex digits)');
  const out = r.requiredString('out', 'the file to write the evidence to');
  const tee = r.oneOf('tee', ISSUER_KINDS, 'auto');
  const hostData = hexFlag(r, 'host-data', 32);
  const measurement = hexFlag(r, 'measurement', 48);
  const vmpl = r.integer('vmpl', 0, 3, 0);
  const simDir = r.raw('sim-dir');
  if (tee === 'simulated' && simDir === undefined) r.issue('sim-dir', undefined, 'the simulated platform directory with --tee simulated');
  if (tee !== undefined && tee !== 'simulated') {
    // SECURITY: on real hardware HOST_DATA and MEASUREMENT are set by the launch, never by the guest.
    for (const f of ['sim-dir', 'host-data', 'measurement'] as const) {
      if (r.raw(f) !== undefined) r.issue(f, r.raw(f), `no --${f} unless --tee simulated (real hardware sets it at launch)`);
    }
  }
  r.finish();

  const issuer = await createIssuer(
    tee!,
    {
      ...(tok.values['configfs-root'] ? { configfsRoot: tok.values['configfs-root'] } : {}),
      ...(tok.values['sev-guest-device'] ? { sevGuest: tok.values['sev-guest-device'] } : {}),
      ...(tok.values['tdx-guest-device'] ? { tdxGuest: tok.values['tdx-guest-device'] } : {}),
      vmpl: vmpl ?? 0,
    },
    { simulated: () => SimulatedSnpIssuer.load(simDir!, { ...(hostData ? { hostData } : {}), ...(measurement ? { measurement } : {}) }) },
  );
  const evidence = await issuer.issue(reportData!);
  const written = await writingUserPath('--out', out!, () => writeEvidence(out!, evidence));
  io.stdout(`${evidence.format.toUpperCase()} evidence from ${evidence.source} written:\n${written.map((w) => `  ${w}`).join('\n')}\n`);
  if (evidence.format === 'snp' && written.length === 3) {
    const root = tee === 'simulated' ? ` --root ${simDir}/ark.pem` : '';
    io.stdout(`Verify: ccmesh attest verify --format snp --evidence ${written[0]} --cert ${written[1]} --chain ${written[2]}${root}\n`);
  } else if (evidence.format === 'tdx') {
    io.stdout(`Verify: ccmesh attest verify --format tdx --evidence ${written[0]} [--collateral DIR]\n`);
  }
  return EXIT.ok;
}

/** Writes the evidence and any certificates beside it; returns the paths written, evidence first. */
async function writeEvidence(out: string, ev: Evidence): Promise<string[]> {
  if (ev.format === 'tdx') {
    await writeFileAtomic(out, ev.quote, 0o644);
    return [out];
  }
  await writeFileAtomic(out, ev.report, 0o644);
  const paths = [out];
  const vek = ev.certificates.vcek ?? ev.certificates.vlek;
  if (vek && ev.certificates.ask && ev.certificates.ark) {
    const vekPath = `${out}.${ev.certificates.vcek ? 'vcek' : 'vlek'}.der`;
    await writeFileAtomic(vekPath, vek, 0o644);
    const pem = (der: Uint8Array): string => new X509Certificate(Buffer.from(der)).toString();
    const chainPath = `${out}.chain.pem`;
    await writeFileAtomic(chainPath, pem(ev.certificates.ask) + pem(ev.certificates.ark), 0o644);
    paths.push(vekPath, chainPath);
  }
  return paths;
}
