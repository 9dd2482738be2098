/**
 * Intel TCB info and QE identity documents as typed data (PCS API v4: TDX TCB info version 3, TD_QE identity
 * version 2). Parsed from the exact signed bytes (see signed-json.ts); anything shaped unexpectedly is a
 * CollateralFormatError with the JSON path, so evaluation never meets a missing field.
 */
import { arr, date, hexBytes, int, obj, optStrings, shapeFail, str } from './json-shape.js';
import { readSignedJson, type SignedJson } from './signed-json.js';
import { isTcbStatus, type TcbStatus } from './tcb-status.js';

/** One `tcbLevels` entry of a TDX TCB info. */
export interface TdxTcbLevel {
  /** SGX TCB component SVNs 1–16 (index 0 = component 1). */
  readonly sgxComponents: readonly number[];
  readonly pceSvn: number;
  /** TDX TCB component SVNs 0–15, compared with TEE_TCB_SVN bytes. */
  readonly tdxComponents: readonly number[];
  readonly tcbStatus: TcbStatus;
  readonly tcbDate: string | undefined;
  readonly advisoryIds: readonly string[];
}

/** A level keyed by one ISV SVN (TDX module identities, QE identity). */
export interface IsvSvnLevel {
  readonly isvSvn: number;
  readonly tcbStatus: TcbStatus;
  readonly tcbDate: string | undefined;
  readonly advisoryIds: readonly string[];
}

/** `tdxModule` / `tdxModuleIdentities[]` entries. */
export interface TdxModuleIdentity {
  readonly id: string;
  readonly mrSigner: Uint8Array;
  readonly attributes: Uint8Array;
  readonly attributesMask: Uint8Array;
  /** Empty for the plain `tdxModule` entry. */
  readonly tcbLevels: readonly IsvSvnLevel[];
}

/** A parsed TCB info body. */
export interface TcbInfo {
  readonly id: string;
  readonly version: number;
  readonly issueDate: Date;
  readonly nextUpdate: Date;
  /** Lowercase hex (6 bytes). */
  readonly fmspc: string;
  /** Lowercase hex (2 bytes). */
  readonly pceId: string;
  readonly tcbEvaluationDataNumber: number | undefined;
  readonly tdxModule: TdxModuleIdentity | undefined;
  readonly tdxModuleIdentities: readonly TdxModuleIdentity[];
  readonly tcbLevels: readonly TdxTcbLevel[];
}

/** A parsed QE identity body. */
export interface QeIdentity {
  readonly id: string;
  readonly version: number;
  readonly issueDate: Date;
  readonly nextUpdate: Date;
  readonly tcbEvaluationDataNumber: number | undefined;
  /** MISCSELECT and mask as u32 values (the JSON hex is big-endian). */
  readonly miscSelect: number;
  readonly miscSelectMask: number;
  readonly attributes: Uint8Array;
  readonly attributesMask: Uint8Array;
  readonly mrSigner: Uint8Array;
  readonly isvProdId: number;
  readonly tcbLevels: readonly IsvSvnLevel[];
}

/** A signed collateral document with its typed body. */
export interface SignedCollateral<T> extends SignedJson {
  readonly parsed: T;
  /** Name the document was supplied under (file name), for reasons. */
  readonly source: string;
}

function status(v: unknown, path: string): TcbStatus {
  if (!isTcbStatus(v)) shapeFail(path, 'a known TCB status', v);
  return v;
}

function optDate(v: unknown, path: string): string | undefined {
  return v === undefined ? undefined : str(v, path);
}

function svnList(v: unknown, path: string): number[] {
  const list = arr(v, path, 16);
  if (list.length !== 16) shapeFail(path, '16 components', list.length);
  return list.map((c, i) => int(obj(c, `${path}[${i}]`).svn, `${path}[${i}].svn`, 0, 255));
}

function isvSvnLevels(v: unknown, path: string): IsvSvnLevel[] {
  return arr(v, path).map((l, i) => {
    const p = `${path}[${i}]`;
    const o = obj(l, p);
    return {
      isvSvn: int(obj(o.tcb, `${p}.tcb`).isvsvn, `${p}.tcb.isvsvn`, 0, 0xffff),
      tcbStatus: status(o.tcbStatus, `${p}.tcbStatus`),
      tcbDate: optDate(o.tcbDate, `${p}.tcbDate`),
      advisoryIds: optStrings(o.advisoryIDs, `${p}.advisoryIDs`),
    };
  });
}

function moduleIdentity(v: unknown, path: string, withLevels: boolean): TdxModuleIdentity {
  const o = obj(v, path);
  return {
    id: withLevels ? str(o.id, `${path}.id`) : 'tdxModule',
    mrSigner: hexBytes(o.mrsigner, `${path}.mrsigner`, 48),
    attributes: hexBytes(o.attributes, `${path}.attributes`, 8),
    attributesMask: hexBytes(o.attributesMask, `${path}.attributesMask`, 8),
    tcbLevels: withLevels ? isvSvnLevels(o.tcbLevels, `${path}.tcbLevels`) : [],
  };
}

/** Types a TCB info body (the value of "tcbInfo"). Throws CollateralFormatError. */
export function parseTcbInfoBody(body: unknown, path = 'tcbInfo'): TcbInfo {
  const o = obj(body, path);
  return {
    id: str(o.id, `${path}.id`),
    version: int(o.version, `${path}.version`, 0, 1000),
    issueDate: date(o.issueDate, `${path}.issueDate`),
    nextUpdate: date(o.nextUpdate, `${path}.nextUpdate`),
    fmspc: Buffer.from(hexBytes(o.fmspc, `${path}.fmspc`, 6)).toString('hex'),
    pceId: Buffer.from(hexBytes(o.pceId, `${path}.pceId`, 2)).toString('hex'),
    tcbEvaluationDataNumber: o.tcbEvaluationDataNumber === undefined ? undefined : int(o.tcbEvaluationDataNumber, `${path}.tcbEvaluationDataNumber`, 0, 2 ** 31),
    tdxModule: o.tdxModule === undefined ? undefined : moduleIdentity(o.tdxModule, `${path}.tdxModule`, false),
    tdxModuleIdentities:
      o.tdxModuleIdentities === undefined ? [] : arr(o.tdxModuleIdentities, `${path}.tdxModuleIdentities`).map((m, i) => moduleIdentity(m, `${path}.tdxModuleIdentities[${i}]`, true)),
    tcbLevels: arr(o.tcbLevels, `${path}.tcbLevels`).map((l, i) => {
      const p = `${path}.tcbLevels[${i}]`;
      const lo = obj(l, p);
      const tcb = obj(lo.tcb, `${p}.tcb`);
      return {
        sgxComponents: svnList(tcb.sgxtcbcomponents, `${p}.tcb.sgxtcbcomponents`),
        pceSvn: int(tcb.pcesvn, `${p}.tcb.pcesvn`, 0, 0xffff),
        tdxComponents: svnList(tcb.tdxtcbcomponents, `${p}.tcb.tdxtcbcomponents`),
        tcbStatus: status(lo.tcbStatus, `${p}.tcbStatus`),
        tcbDate: optDate(lo.tcbDate, `${p}.tcbDate`),
        advisoryIds: optStrings(lo.advisoryIDs, `${p}.advisoryIDs`),
      };
    }),
  };
}

/** Types a QE identity body (the value of "enclaveIdentity"). Throws CollateralFormatError. */
export function parseQeIdentityBody(body: unknown, path = 'enclaveIdentity'): QeIdentity {
  const o = obj(body, path);
  const u32 = (v: unknown, p: string): number => Buffer.from(hexBytes(v, p, 4)).readUInt32BE(0);
  return {
    id: str(o.id, `${path}.id`),
    version: int(o.version, `${path}.version`, 0, 1000),
    issueDate: date(o.issueDate, `${path}.issueDate`),
    nextUpdate: date(o.nextUpdate, `${path}.nextUpdate`),
    tcbEvaluationDataNumber: o.tcbEvaluationDataNumber === undefined ? undefined : int(o.tcbEvaluationDataNumber, `${path}.tcbEvaluationDataNumber`, 0, 2 ** 31),
    miscSelect: u32(o.miscselect, `${path}.miscselect`),
    miscSelectMask: u32(o.miscselectMask, `${path}.miscselectMask`),
    attributes: hexBytes(o.attributes, `${path}.attributes`, 16),
    attributesMask: hexBytes(o.attributesMask, `${path}.attributesMask`, 16),
    mrSigner: hexBytes(o.mrsigner, `${path}.mrsigner`, 32),
    isvProdId: int(o.isvprodid, `${path}.isvprodid`, 0, 0xffff),
    tcbLevels: isvSvnLevels(o.tcbLevels, `${path}.tcbLevels`),
  };
}

/** Reads a TCB info document (`{"tcbInfo": …, "signature": …}`). Throws CollateralFormatError. */
export function readTcbInfoDocument(bytes: Uint8Array, source: string): SignedCollateral<TcbInfo> {
  const s = readSignedJson(bytes, 'tcbInfo', source);
  return { ...s, parsed: parseTcbInfoBody(s.body), source };
}

/** Reads a QE identity document (`{"enclaveIdentity": …, "signature": …}`). Throws CollateralFormatError. */
export function readQeIdentityDocument(bytes: Uint8Array, source: string): SignedCollateral<QeIdentity> {
  const s = readSignedJson(bytes, 'enclaveIdentity', source);
  return { ...s, parsed: parseQeIdentityBody(s.body), source };
}
