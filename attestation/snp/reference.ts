/**
 * Reference values: what a relying party expects of an SNP guest beyond "AMD signed this" — which launch
 * measurements and host data are acceptable, the minimum TCB, and which policy freedoms (debug, migration agent,
 * SMT) it tolerates. Kept apart from the signature checks so the same claims can be judged against different
 * expectations. Defaults are the restrictive choice except SMT, which most clouds enable.
 */
import type { MeasurementHex, PolicyHash, ReportDataHex } from '../../lib/brand.js';
import { deepFreeze, JsonObjectReader } from '../../lib/config/json-reader.js';
import type { ConfigIssue } from '../../lib/errors.js';
import type { SnpClaims } from './claims.js';
import type { SnpVekKind } from './collateral.js';
import { PolicyBit, policyHas } from './policy.js';
import { tcbComponents, type SnpTcbComponent } from './tcb.js';

/** Minimum TCB components; `fmc` applies to Turin only (other products have no FMC). */
export interface SnpMinimumTcb {
  readonly bootloader: number;
  readonly tee: number;
  readonly snp: number;
  readonly microcode: number;
  readonly fmc?: number;
}

/** Parsed SNP reference values. Absent lists mean "any"; absent booleans take the documented default. */
export interface SnpReferenceValues {
  /** Acceptable launch measurements (any of), 48 bytes each. */
  readonly measurements?: readonly MeasurementHex[];
  /** The exact REPORT_DATA expected (64 bytes). */
  readonly reportData?: ReportDataHex;
  /** Acceptable HOST_DATA values (any of), 32 bytes each. */
  readonly hostData?: readonly PolicyHash[];
  /** Every REPORTED_TCB component must be at least this. */
  readonly minimumTcb?: SnpMinimumTcb;
  /** Accept guests whose policy allows debugging (default false). */
  readonly allowDebug?: boolean;
  /** Accept guests that may have a migration agent (default false). */
  readonly allowMigrationAgent?: boolean;
  /** Accept guests whose policy or platform has SMT (default true). */
  readonly allowSmt?: boolean;
  /** The VMPL the report must have been requested from (default 0). */
  readonly vmpl?: number;
  /** Acceptable CHIP_IDs (any of), 64 bytes each. */
  readonly allowedChipIds?: readonly string[];
  /** Acceptable signing-key kinds (default both). */
  readonly allowedSigners?: readonly SnpVekKind[];
  /** Minimum GUEST_SVN. */
  readonly minimumGuestSvn?: number;
  /**
   * Present (and true) only when an alternative knowingly lists no `measurements`. Not judged here: the manifest
   * parser refuses an alternative without measurements unless it says this (HOST_DATA alone proves nothing).
   */
  readonly allowUnmeasured?: true;
}

const KEYS = [
  'measurements', 'reportData', 'hostData', 'minimumTcb', 'allowDebug', 'allowMigrationAgent', 'allowSmt', 'vmpl',
  'allowedChipIds', 'allowedSigners', 'minimumGuestSvn', 'allowUnmeasured',
] as const;
const TCB_KEYS = ['bootloader', 'tee', 'snp', 'microcode', 'fmc'] as const;

/** Parses SNP reference values from a JSON value; `path` prefixes field names in issues (e.g. "snp"). */
export function parseSnpReferenceValues(json: unknown, path: string): { values?: SnpReferenceValues; issues: ConfigIssue[] } {
  const r = new JsonObjectReader(path, json, 'an object of SNP reference values');
  if (r.issues.length > 0) return { issues: r.issues };
  r.allowOnly(KEYS);
  const measurements = r.hexList('measurements', 48) as MeasurementHex[] | undefined;
  const hostData = r.hexList('hostData', 32) as PolicyHash[] | undefined;
  const allowedChipIds = r.hexList('allowedChipIds', 64);
  const reportData = r.hex('reportData', 64) as ReportDataHex | undefined;
  let minimumTcb: SnpMinimumTcb | undefined;
  const t = r.object('minimumTcb', 'an object {bootloader, tee, snp, microcode, fmc?}');
  if (t) {
    t.allowOnly(TCB_KEYS);
    const c = (key: SnpTcbComponent): number | undefined => {
      if (t.raw(key) === undefined && key !== 'fmc') t.issue(key, undefined, 'an integer 0-255');
      return t.int(key, 255);
    };
    const [bootloader, tee, snp, microcode, fmc] = [c('bootloader'), c('tee'), c('snp'), c('microcode'), c('fmc')];
    if (bootloader !== undefined && tee !== undefined && snp !== undefined && microcode !== undefined) {
      minimumTcb = { bootloader, tee, snp, microcode, ...(fmc !== undefined ? { fmc } : {}) };
    }
  }
  const allowDebug = r.bool('allowDebug');
  const allowMigrationAgent = r.bool('allowMigrationAgent');
  const allowSmt = r.bool('allowSmt');
  const vmpl = r.int('vmpl', 3);
  const minimumGuestSvn = r.int('minimumGuestSvn', 0xffff_ffff);
  const allowedSigners = r.enumList<SnpVekKind>('allowedSigners', ['vcek', 'vlek']);
  const allowUnmeasured = r.bool('allowUnmeasured');
  if (r.issues.length > 0) return { issues: r.issues };
  const values: SnpReferenceValues = {
    ...(measurements ? { measurements } : {}),
    ...(reportData ? { reportData } : {}),
    ...(hostData ? { hostData } : {}),
    ...(minimumTcb ? { minimumTcb } : {}),
    allowDebug: allowDebug ?? false,
    allowMigrationAgent: allowMigrationAgent ?? false,
    allowSmt: allowSmt ?? true,
    vmpl: vmpl ?? 0,
    ...(allowedChipIds ? { allowedChipIds } : {}),
    allowedSigners: allowedSigners ?? ['vcek', 'vlek'],
    ...(minimumGuestSvn !== undefined ? { minimumGuestSvn } : {}),
    // Only when true, so `false` (the default) keeps the canonical form of existing manifests unchanged.
    ...(allowUnmeasured === true ? { allowUnmeasured: true as const } : {}),
  };
  return { values: deepFreeze(values), issues: [] };
}

/** Checks claims against reference values; returns one reason per mismatch (empty = acceptable). */
export function checkSnpReference(claims: SnpClaims, values: SnpReferenceValues): string[] {
  const reasons: string[] = [];
  if (values.measurements && !values.measurements.includes(claims.measurement)) {
    reasons.push(`measurement ${claims.measurement} is not one of the ${values.measurements.length} reference measurement(s)`);
  }
  if (values.reportData !== undefined && values.reportData !== claims.report_data) {
    reasons.push(`REPORT_DATA ${claims.report_data} differs from the expected ${values.reportData}`);
  }
  if (values.hostData && !values.hostData.includes(claims.host_data)) {
    reasons.push(`HOST_DATA ${claims.host_data} is not one of the ${values.hostData.length} allowed value(s)`);
  }
  if (values.minimumTcb) {
    const min = values.minimumTcb;
    for (const c of tcbComponents(claims.product)) {
      const want = min[c];
      const got = claims.reported_tcb[c];
      if (want !== undefined && (got === undefined || got < want)) {
        reasons.push(`REPORTED_TCB ${c} ${got ?? 'missing'} is below the reference minimum ${want}`);
      }
    }
  }
  const policy = /^[0-9a-f]{16}$/.test(claims.policy) ? BigInt(`0x${claims.policy}`) : undefined;
  if (policy === undefined) reasons.push(`guest policy ${JSON.stringify(claims.policy)} is not a 64-bit hex value`);
  const policySays = (bit: number): boolean => policy === undefined || policyHas(policy, bit); // unreadable = assume the worst
  if (!(values.allowDebug ?? false) && policySays(PolicyBit.DEBUG)) {
    reasons.push('guest policy allows debugging (POLICY bit 19) but the reference values refuse debug guests');
  }
  if (!(values.allowMigrationAgent ?? false)) {
    if (policySays(PolicyBit.MIGRATE_MA)) {
      reasons.push('guest policy allows a migration agent (POLICY bit 18, MIGRATE_MA) but the reference values refuse migration agents');
    }
    if (!/^(ff)+$/.test(claims.report_id_ma)) {
      reasons.push(`a migration agent is bound (REPORT_ID_MA ${claims.report_id_ma} is not all ff) but the reference values refuse migration agents`);
    }
  }
  if (!(values.allowSmt ?? true)) {
    if (policySays(PolicyBit.SMT)) reasons.push('guest policy allows SMT (POLICY bit 16) but the reference values refuse SMT');
    if (claims.platform_flags.includes('SMT_EN')) reasons.push('platform has SMT enabled (PLATFORM_INFO bit 0) but the reference values refuse SMT');
  }
  const vmpl = values.vmpl ?? 0;
  if (claims.vmpl !== vmpl) reasons.push(`report was requested at VMPL ${claims.vmpl} but the reference values require VMPL ${vmpl}`);
  if (values.allowedChipIds && !values.allowedChipIds.includes(claims.chip_id)) {
    reasons.push(`CHIP_ID ${claims.chip_id} is not one of the ${values.allowedChipIds.length} allowed chip(s)`);
  }
  const signers = values.allowedSigners ?? ['vcek', 'vlek'];
  if (!(signers as readonly string[]).includes(claims.signer)) {
    reasons.push(`report is signed by a ${claims.signer.toUpperCase()} but the reference values allow only ${signers.map((s) => s.toUpperCase()).join(', ')}`);
  }
  if (values.minimumGuestSvn !== undefined && claims.guest_svn < values.minimumGuestSvn) {
    reasons.push(`GUEST_SVN ${claims.guest_svn} is below the reference minimum ${values.minimumGuestSvn}`);
  }
  return reasons;
}
