/**
 * `ccmesh attest verify`: offline verification of one piece of SEV-SNP or TDX evidence. Other tools depend on its
 * flags, exit codes and `--json` shape exactly (issue "Foundation"): exit 0 accepted, 3 rejected, 64 usage or
 * unreadable input, 1 internal error.
 */
import { parseReferenceValues, type ReferenceValues } from '../../../attestation/reference-file.js';
import type { VerifyResult } from '../../../attestation/result.js';
import type { X509Certificate } from 'node:crypto';
import { SIMULATED_ORGANIZATION } from '../../../attestation/simulated/marker.js';
import { verifySnp } from '../../../attestation/snp/verify.js';
import { recognizeTdxCollateral } from '../../../attestation/tdx/collateral.js';
import { verifyTdx } from '../../../attestation/tdx/verify.js';
import { parseCertificates } from '../../../attestation/x509/pem.js';
import { CcmeshError, describeError, ErrorCode } from '../../../lib/errors.js';
import { EXIT } from '../../../lib/exit-codes.js';
import { readCommandFlags, wantsHelp } from '../../flags.js';
import type { CliIo } from '../../io.js';
import { readInput, readInputDir } from '../../read-input.js';

const FLAGS = {
  format: { type: 'string' },
  evidence: { type: 'string' },
  cert: { type: 'string' },
  chain: { type: 'string' },
  crl: { type: 'string', multiple: true },
  collateral: { type: 'string' },
  at: { type: 'string' },
  json: { type: 'boolean' },
  ref: { type: 'string' },
  root: { type: 'string', multiple: true },
  help: { type: 'boolean' },
} as const;

/** Usage text of `ccmesh attest verify`. */
export const ATTEST_VERIFY_USAGE = `Usage:
  ccmesh attest verify --format snp --evidence REPORT.bin --cert VCEK_OR_VLEK(.der|.pem) --chain ASK_ARK.pem
                       [--crl AMD_CRL(.der|.pem)]… [--at RFC3339] [--json] [--ref REFS.json]
  ccmesh attest verify --format tdx --evidence QUOTE.dat [--collateral DIR] [--at RFC3339] [--json] [--ref REFS.json]

Verifies hardware evidence offline against the AMD (Milan, Genoa, Turin) and Intel SGX roots pinned in ccmesh.
  --at          verify as of this instant instead of now (certificates and collateral expire)
  --collateral  directory whose files are recognised by content: Intel root and TCB signing certificates,
                root and PCK CRLs, TCB info and QE identity JSON. Without it, TDX TCB status is "not_evaluated".
  --ref         JSON reference values ({"snp": {...}, "tdx": {...}}, see docs/attestation.md)
  --root        trust only this root certificate (PEM/DER; repeatable) instead of the pinned vendor roots —
                e.g. the ARK of a simulated TEE (ccmesh attest simulate init). Development only.
  --json        print one JSON object {ok, format, reasons, notChecked, claims}
An accepted verdict lists what it did not establish ("not checked"): without --ref nothing is compared with the
measurements or policy (a debuggable guest is accepted), and without --collateral a TDX TCB status is unknown.
Exit status: 0 accepted, 3 rejected, 64 usage or unreadable input, 1 internal error.
`;

/** Parsed, typed flags of `attest verify`. */
export interface AttestVerifyConfig {
  readonly format: 'snp' | 'tdx';
  readonly evidence: string;
  readonly cert: string | undefined;
  readonly chain: string | undefined;
  readonly crls: readonly string[];
  readonly collateral: string | undefined;
  readonly at: Date | undefined;
  readonly json: boolean;
  readonly ref: string | undefined;
  /** Root certificates that replace the pinned vendor anchors (SECURITY: explicit opt-in only). */
  readonly roots: readonly string[];
}

/** Turns argv into an {@link AttestVerifyConfig}, reporting every problem at once (ConfigError → exit 64). */
export function parseAttestVerifyConfig(argv: readonly string[]): AttestVerifyConfig {
  const { tok, r } = readCommandFlags('attest verify', argv, FLAGS);
  const format = r.oneOf('format', ['snp', 'tdx'] as const);
  const evidence = r.requiredString('evidence', 'the path of the report or quote');
  const at = r.timestamp('at');
  if (format === 'snp') {
    r.requiredString('cert', 'the VCEK or VLEK certificate (DER or PEM) for --format snp');
    r.requiredString('chain', 'the ASK+ARK or ASVK+ARK PEM bundle for --format snp');
    if (tok.values.collateral !== undefined) r.issue('collateral', tok.values.collateral, 'no --collateral with --format snp (use --cert, --chain, --crl)');
  }
  if (format === 'tdx') {
    for (const f of ['cert', 'chain'] as const) {
      if (tok.values[f] !== undefined) r.issue(f, tok.values[f], `no --${f} with --format tdx (the PCK chain is inside the quote; put collateral in --collateral DIR)`);
    }
    if (tok.lists.crl) r.issue('crl', tok.lists.crl.join(','), 'no --crl with --format tdx (put CRLs in --collateral DIR)');
  }
  r.finish();
  return Object.freeze({
    format: format!,
    evidence: evidence!,
    cert: tok.values.cert,
    chain: tok.values.chain,
    crls: tok.lists.crl ?? [],
    collateral: tok.values.collateral,
    at,
    json: tok.values.json === 'true',
    ref: tok.values.ref,
    roots: tok.lists.root ?? [],
  });
}

/** Runs `ccmesh attest verify`. */
export async function attestVerifyCommand(argv: readonly string[], io: CliIo): Promise<number> {
  if (wantsHelp(argv)) {
    io.stdout(ATTEST_VERIFY_USAGE);
    return EXIT.ok;
  }
  const cfg = parseAttestVerifyConfig(argv);
  const at = cfg.at ?? new Date();
  const refs: ReferenceValues = cfg.ref ? parseReferenceValues(Buffer.from(await readInput('--ref', cfg.ref)).toString('utf8'), cfg.ref) : {};
  const evidence = await readInput('--evidence', cfg.evidence);
  const anchors = cfg.roots.length === 0 ? undefined : await readRoots(cfg.roots);
  let result: VerifyResult<object>;
  if (cfg.format === 'snp') {
    const vek = await readInput('--cert', cfg.cert!);
    const chain = await readInput('--chain', cfg.chain!);
    const crls = await Promise.all(cfg.crls.map((p) => readInput('--crl', p)));
    result = verifySnp({ report: evidence, vek, chain, at, crls, ...(anchors ? { anchors } : {}), ...(refs.snp ? { reference: refs.snp } : {}) });
    if (!result.ok && !anchors && Buffer.from(chain).toString('latin1').includes('-----BEGIN') && chainIsSimulated(chain)) {
      result = { ...result, reasons: [...result.reasons, 'the chain comes from a ccmesh simulated TEE; to trust it for development pass its ARK explicitly: --root <sim-dir>/ark.pem'] };
    }
  } else {
    const extra: string[] = [];
    let collateral;
    if (cfg.collateral !== undefined) {
      const rec = recognizeTdxCollateral(await readInputDir('--collateral', cfg.collateral));
      collateral = rec.collateral;
      extra.push(...rec.issues.map((i) => `collateral: ${i}`));
    }
    const r = verifyTdx({ quote: evidence, at, ...(anchors ? { anchors } : {}), ...(collateral ? { collateral } : {}), ...(refs.tdx ? { reference: refs.tdx } : {}) });
    result = extra.length === 0 ? r : { ok: false, claims: r.claims, reasons: [...r.reasons, ...extra] };
  }
  if (cfg.ref && !refs[cfg.format]) {
    result = { ...result, ok: false, reasons: [...result.reasons, `reference values in ${cfg.ref} have no "${cfg.format}" section`] };
  }
  const notChecked = result.ok ? uncheckedProperties(cfg, refs, result.claims) : [];
  io.stdout(cfg.json ? JSON.stringify({ ok: result.ok, format: cfg.format, reasons: result.reasons, notChecked, claims: result.claims ?? null }) + '\n' : renderHuman(cfg, at, result, notChecked));
  return result.ok ? EXIT.ok : EXIT.rejected;
}

async function readRoots(paths: readonly string[]): Promise<X509Certificate[]> {
  const out: X509Certificate[] = [];
  for (const p of paths) {
    const bytes = await readInput('--root', p);
    try {
      out.push(...parseCertificates(bytes, `--root ${p}`));
    } catch (err) {
      throw new CcmeshError(ErrorCode.INPUT_UNREADABLE, describeError(err), { cause: err });
    }
  }
  return out;
}

function chainIsSimulated(chain: Uint8Array): boolean {
  try {
    return parseCertificates(chain, '--chain').some((c) => c.subject.includes(SIMULATED_ORGANIZATION));
  } catch {
    // An unreadable chain already produced its own reason; no hint to add.
    return false;
  }
}

/**
 * What an accepted verdict did not establish, in words: without reference values nothing was compared with the
 * measurements or policy (a debuggable guest passes), and without collateral a TDX quote's TCB status is unknown.
 * "ACCEPTED" alone would read as "this guest is fine".
 */
export function uncheckedProperties(cfg: AttestVerifyConfig, refs: ReferenceValues, claims: object | undefined): string[] {
  const out: string[] = [];
  const c = (claims ?? {}) as { td_attributes_flags?: { debug?: boolean }; policy_decoded?: { flags?: readonly string[] }; tcb_status?: string };
  const debug = cfg.format === 'tdx' ? c.td_attributes_flags?.debug === true : (c.policy_decoded?.flags ?? []).includes('DEBUG');
  if (!refs[cfg.format]) {
    out.push(`no reference values (--ref): the launch measurement${cfg.format === 'tdx' ? ' (MRTD, RTMRs)' : ''}, the ${cfg.format === 'tdx' ? 'TD attributes' : 'guest policy'} and the report data were not compared with anything`);
    if (debug) out.push(`the ${cfg.format === 'tdx' ? 'TD is debuggable (TDATTRIBUTES.DEBUG)' : 'guest policy allows debugging (DEBUG)'}: the host can read and change its memory; reference values refuse it unless they say "allowDebug": true`);
  }
  if (cfg.format === 'tdx' && c.tcb_status === 'not_evaluated') out.push('TCB status not evaluated (no --collateral): the platform\'s firmware and microcode may be out of date or revoked');
  return out;
}

function renderHuman(cfg: AttestVerifyConfig, at: Date, result: VerifyResult<object>, notChecked: readonly string[]): string {
  const verdict = result.ok ? (notChecked.length > 0 ? 'ACCEPTED (signatures and certificates only; see "not checked")' : 'ACCEPTED') : 'REJECTED';
  const lines = [`${verdict}  ${cfg.format} evidence ${cfg.evidence} (verified as of ${at.toISOString()})`];
  for (const reason of result.reasons) lines.push(`  ✗ ${reason}`);
  for (const n of notChecked) lines.push(`  not checked: ${n}`);
  if (result.claims) {
    lines.push('  claims:');
    for (const [k, v] of Object.entries(result.claims)) {
      lines.push(`    ${k.padEnd(16)} ${typeof v === 'object' && v !== null ? JSON.stringify(v) : String(v)}`);
    }
  }
  return lines.join('\n') + '\n';
}
