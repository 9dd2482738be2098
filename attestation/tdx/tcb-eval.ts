/**
 * TCB status evaluation (FORMATS.md §6.6 steps 6–7): where the platform (PCK SGX TCB + the TD's TEE_TCB_SVN) and
 * the quoting enclave sit in Intel's published TCB levels. Pure functions over already-verified, typed data; the
 * caller checks signatures and freshness first.
 *
 * SECURITY: "no level matched" is its own outcome ({@link NO_MATCHING_TCB_LEVEL}), never folded into a status, so
 * a platform below every listed level can't be mistaken for an up-to-date one.
 */
import { bytesEqual, toHex } from '../../lib/bytes.js';
import type { PckExtensions } from './pck-extensions.js';
import type { SgxReportBody, TdReportBody } from './quote.js';
import type { IsvSvnLevel, QeIdentity, TcbInfo, TdxModuleIdentity } from './tcb-info.js';
import { NO_MATCHING_TCB_LEVEL, NOT_EVALUATED, type TcbOutcome, type TcbStatus } from './tcb-status.js';

/** Result of one evaluation. `reasons` lists mismatches that make the document inapplicable or the TD unfit. */
export interface TcbEvaluation {
  readonly status: TcbOutcome;
  readonly tcbDate: string | undefined;
  readonly advisoryIds: readonly string[];
  readonly reasons: readonly string[];
}

/** TDX platform evaluation, plus the TDX module identity used (when TEE_TCB_SVN[1] ≠ 0). */
export interface TdxTcbEvaluation extends TcbEvaluation {
  /** e.g. "TDX_01"; undefined when the module was evaluated through `tdxtcbcomponents[0..1]`. */
  readonly moduleIdentity: string | undefined;
  readonly moduleStatus: TcbOutcome | undefined;
}

/** `(value & mask) == expected`, byte by byte (Intel's masked comparison; `expected` is taken as published). */
function maskedEqual(value: Uint8Array, mask: Uint8Array, expected: Uint8Array): boolean {
  if (value.length !== mask.length || value.length !== expected.length) return false;
  for (let i = 0; i < value.length; i++) if ((value[i]! & mask[i]!) !== expected[i]) return false;
  return true;
}

function firstIsvSvnLevel(levels: readonly IsvSvnLevel[], isvSvn: number): IsvSvnLevel | undefined {
  return levels.find((l) => l.isvSvn <= isvSvn);
}

function checkModule(m: TdxModuleIdentity, body: TdReportBody, label: string, reasons: string[]): void {
  if (!bytesEqual(m.mrSigner, body.mrSignerSeam)) {
    reasons.push(`MRSIGNERSEAM ${toHex(body.mrSignerSeam)} does not match the TCB info ${label} mrsigner ${toHex(m.mrSigner)}`);
  }
  if (!maskedEqual(body.seamAttributes, m.attributesMask, m.attributes)) {
    reasons.push(`SEAMATTRIBUTES ${toHex(body.seamAttributes)} do not match the TCB info ${label} attributes under its mask`);
  }
}

/**
 * Intel's convergence of the platform level with the TDX module identity level: an out-of-date module makes an
 * otherwise current platform out of date; a revoked one revokes it.
 */
function converge(platform: TcbStatus, module: TcbStatus): TcbStatus {
  if (module === 'Revoked') return 'Revoked';
  if (module !== 'OutOfDate') return platform;
  if (platform === 'UpToDate' || platform === 'SWHardeningNeeded') return 'OutOfDate';
  if (platform === 'ConfigurationNeeded' || platform === 'ConfigurationAndSWHardeningNeeded') return 'OutOfDateConfigurationNeeded';
  return platform;
}

/** Evaluates the TDX platform TCB of a quote against a TCB info (TDX, version 3) for the PCK's FMSPC. */
export function evaluateTdxTcb(info: TcbInfo, body: TdReportBody, pck: PckExtensions): TdxTcbEvaluation {
  const reasons: string[] = [];
  const none = (status: TcbOutcome, moduleIdentity?: string): TdxTcbEvaluation => ({
    status,
    tcbDate: undefined,
    advisoryIds: [],
    reasons,
    moduleIdentity,
    moduleStatus: undefined,
  });
  if (info.id !== 'TDX' || info.version !== 3) {
    reasons.push(`TCB info is ${info.id} version ${info.version}; TDX quotes need TDX version 3`);
    return none(NOT_EVALUATED);
  }
  const fmspc = toHex(pck.fmspc);
  const pceId = toHex(pck.pceId);
  if (info.fmspc !== fmspc) reasons.push(`TCB info is for FMSPC ${info.fmspc}, the PCK certificate has FMSPC ${fmspc}`);
  if (info.pceId !== pceId) reasons.push(`TCB info is for PCE-ID ${info.pceId}, the PCK certificate has PCE-ID ${pceId}`);
  if (reasons.length > 0) return none(NOT_EVALUATED);

  if (info.tdxModule) checkModule(info.tdxModule, body, 'tdxModule', reasons);
  else reasons.push('TCB info has no tdxModule entry to check MRSIGNERSEAM against');

  const svn = body.teeTcbSvn;
  const major = svn[1]!;
  let tdxStart = 0;
  let moduleIdentity: string | undefined;
  let moduleLevel: IsvSvnLevel | undefined;
  if (major !== 0) {
    // TDX module ≥ 1.5: the module is judged by its own identity ("TDX_<major>") using TEE_TCB_SVN[0] as its
    // ISV SVN, and the platform levels then compare only TEE_TCB_SVN[2..15].
    tdxStart = 2;
    moduleIdentity = `TDX_${major.toString(16).toUpperCase().padStart(2, '0')}`;
    const identity = info.tdxModuleIdentities.find((m) => m.id === moduleIdentity);
    if (!identity) {
      reasons.push(`TCB info lists no TDX module identity ${moduleIdentity} (TEE_TCB_SVN[1] = ${major})`);
      return none(NO_MATCHING_TCB_LEVEL, moduleIdentity);
    }
    checkModule(identity, body, `module identity ${moduleIdentity}`, reasons);
    moduleLevel = firstIsvSvnLevel(identity.tcbLevels, svn[0]!);
    if (!moduleLevel) {
      reasons.push(`TDX module ${moduleIdentity} ISV SVN ${svn[0]} is below every level of its identity`);
      return none(NO_MATCHING_TCB_LEVEL, moduleIdentity);
    }
  }

  const sgx = pck.tcb.sgxTcbComponents;
  const level = info.tcbLevels.find(
    (l) =>
      l.sgxComponents.every((c, i) => (sgx[i] ?? 0) >= c) &&
      pck.tcb.pceSvn >= l.pceSvn &&
      l.tdxComponents.every((c, i) => i < tdxStart || (svn[i] ?? 0) >= c),
  );
  if (!level) {
    return { ...none(NO_MATCHING_TCB_LEVEL, moduleIdentity), moduleStatus: moduleLevel?.tcbStatus };
  }
  const advisory = new Set([...level.advisoryIds, ...(moduleLevel?.advisoryIds ?? [])]);
  return {
    status: moduleLevel ? converge(level.tcbStatus, moduleLevel.tcbStatus) : level.tcbStatus,
    tcbDate: level.tcbDate,
    advisoryIds: [...advisory],
    reasons,
    moduleIdentity,
    moduleStatus: moduleLevel?.tcbStatus,
  };
}

/** Evaluates the quoting enclave's report against a QE identity (TD_QE, version 2). */
export function evaluateQeIdentity(identity: QeIdentity, qe: SgxReportBody): TcbEvaluation {
  const reasons: string[] = [];
  if (identity.id !== 'TD_QE' || identity.version !== 2) {
    reasons.push(`QE identity is ${identity.id} version ${identity.version}; TDX quotes need TD_QE version 2`);
    return { status: NOT_EVALUATED, tcbDate: undefined, advisoryIds: [], reasons };
  }
  if (!bytesEqual(identity.mrSigner, qe.mrSigner)) reasons.push(`QE MRSIGNER ${toHex(qe.mrSigner)} does not match the QE identity ${toHex(identity.mrSigner)}`);
  if (identity.isvProdId !== qe.isvProdId) reasons.push(`QE ISVPRODID ${qe.isvProdId} does not match the QE identity ${identity.isvProdId}`);
  // MISCSELECT is compared as a u32 (the JSON hex is big-endian, the report field little-endian).
  if (((qe.miscSelect & identity.miscSelectMask) >>> 0) !== identity.miscSelect >>> 0) {
    reasons.push(`QE MISCSELECT 0x${qe.miscSelect.toString(16)} does not match the QE identity under its mask`);
  }
  if (!maskedEqual(qe.attributes, identity.attributesMask, identity.attributes)) {
    reasons.push(`QE ATTRIBUTES ${toHex(qe.attributes)} do not match the QE identity under its mask`);
  }
  const level = firstIsvSvnLevel(identity.tcbLevels, qe.isvSvn);
  if (!level) {
    reasons.push(`QE ISVSVN ${qe.isvSvn} is below every level of the QE identity`);
    return { status: NO_MATCHING_TCB_LEVEL, tcbDate: undefined, advisoryIds: [], reasons };
  }
  return { status: level.tcbStatus, tcbDate: level.tcbDate, advisoryIds: level.advisoryIds, reasons };
}
