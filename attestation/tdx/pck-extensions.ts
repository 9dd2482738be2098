/**
 * Intel SGX extensions of a PCK certificate (OID 1.2.840.113741.1.13.1, FORMATS.md §6.5): the platform's FMSPC,
 * PCE-ID and the SGX TCB component SVNs that TCB evaluation compares against Intel's TCB info.
 *
 * The certificate is untrusted until its chain is checked, so it is read with the bounds-checked DER reader and
 * every malformation is a {@link PckExtensionError}.
 */
import { at, children, decodeBoolean, decodeOid, decodeSmallUint, DerError, type DerNode, expectNodeTag, readOne, Tag } from '../../lib/asn1/der.js';
import { CcmeshError, ErrorCode } from '../../lib/errors.js';

/** OID of the SGX extensions in a PCK certificate. */
export const SGX_EXTENSIONS_OID = '1.2.840.113741.1.13.1';

/** A PCK certificate whose SGX extensions are missing or malformed. */
export class PckExtensionError extends CcmeshError {
  override readonly name = 'PckExtensionError';

  constructor(message: string, options?: { cause?: unknown }) {
    super(ErrorCode.ATTEST_PARSE, `PCK certificate SGX extensions: ${message}`, options);
  }
}

/** The PCK TCB: SGX component SVNs 1–16 (index 0 = component 1), PCESVN and CPUSVN. */
export interface PckTcb {
  readonly sgxTcbComponents: readonly number[];
  readonly pceSvn: number;
  readonly cpuSvn: Uint8Array;
}

/** The optional configuration flags (platform-CA PCKs). */
export interface PckConfiguration {
  readonly dynamicPlatform?: boolean;
  readonly cachedKeys?: boolean;
  readonly smtEnabled?: boolean;
}

/** Decoded SGX extensions. Byte fields are views in stored order. */
export interface PckExtensions {
  readonly ppid: Uint8Array;
  readonly tcb: PckTcb;
  readonly pceId: Uint8Array;
  readonly fmspc: Uint8Array;
  /** 0 standard, 1 scalable, 2 scalable with integrity. */
  readonly sgxType: number;
  readonly platformInstanceId?: Uint8Array;
  readonly configuration?: PckConfiguration;
}

const ARC = SGX_EXTENSIONS_OID;

/** Reads the SGX extensions from a certificate's DER. Throws {@link PckExtensionError} only. */
export function parsePckExtensions(certDer: Uint8Array): PckExtensions {
  try {
    return parseSgxExtensionValue(findSgxExtension(certDer));
  } catch (err) {
    if (err instanceof PckExtensionError) throw err;
    if (err instanceof DerError) throw new PckExtensionError(err.message, { cause: err });
    throw err;
  }
}

/** The extnValue contents of the SGX extension in `certDer`. */
function findSgxExtension(certDer: Uint8Array): Uint8Array {
  const tbs = children(at(children(readOne(certDer, Tag.SEQUENCE)), 0, 'tbsCertificate'));
  const extsWrapper = tbs.find((n) => n.tag === 0xa3);
  if (!extsWrapper) throw new PckExtensionError('the certificate has no extensions');
  const exts = children(readOne(extsWrapper.value, Tag.SEQUENCE));
  let found: Uint8Array | undefined;
  for (const ext of exts) {
    const parts = children(ext);
    if (decodeOid(at(parts, 0, 'extnID')) !== SGX_EXTENSIONS_OID) continue;
    if (found) throw new PckExtensionError('the SGX extension appears twice');
    const value = parts[parts.length - 1];
    if (!value || parts.length < 2) throw new PckExtensionError('the SGX extension has no value');
    expectNodeTag(value, Tag.OCTET_STRING);
    found = value.value;
  }
  if (!found) throw new PckExtensionError(`no extension ${SGX_EXTENSIONS_OID} (is this an Intel PCK certificate?)`);
  return found;
}

/** Splits a SEQUENCE of (OID, value) pairs into a map; duplicate OIDs are refused (ambiguous). */
function pairs(node: DerNode, what: string): Map<string, DerNode> {
  expectNodeTag(node, Tag.SEQUENCE);
  const out = new Map<string, DerNode>();
  for (const item of children(node)) {
    expectNodeTag(item, Tag.SEQUENCE);
    const kv = children(item);
    if (kv.length !== 2) throw new PckExtensionError(`${what}: an entry has ${kv.length} elements instead of 2`);
    const oid = decodeOid(kv[0]!);
    if (out.has(oid)) throw new PckExtensionError(`${what}: ${oid} appears twice`);
    out.set(oid, kv[1]!);
  }
  return out;
}

function required(map: Map<string, DerNode>, oid: string, name: string): DerNode {
  const n = map.get(oid);
  if (!n) throw new PckExtensionError(`missing ${name} (${oid})`);
  return n;
}

function octets(node: DerNode, len: number, name: string): Uint8Array {
  expectNodeTag(node, Tag.OCTET_STRING);
  if (node.value.length !== len) throw new PckExtensionError(`${name} is ${node.value.length} bytes, expected ${len}`);
  return node.value;
}

function svn(node: DerNode, max: number, name: string): number {
  expectNodeTag(node, Tag.INTEGER);
  const n = decodeSmallUint(node);
  if (n > max) throw new PckExtensionError(`${name} ${n} exceeds ${max}`);
  return n;
}

/** Decodes the extnValue contents of the SGX extension. Throws {@link PckExtensionError} or DerError. */
export function parseSgxExtensionValue(value: Uint8Array): PckExtensions {
  const top = pairs(readOne(value), 'SGX extensions');
  const tcbMap = pairs(required(top, `${ARC}.2`, 'TCB'), 'TCB');
  const sgxTcbComponents: number[] = [];
  for (let i = 1; i <= 16; i++) {
    sgxTcbComponents.push(svn(required(tcbMap, `${ARC}.2.${i}`, `SGX TCB component ${i}`), 255, `SGX TCB component ${i}`));
  }
  const tcb: PckTcb = {
    sgxTcbComponents,
    pceSvn: svn(required(tcbMap, `${ARC}.2.17`, 'PCESVN'), 0xffff, 'PCESVN'),
    cpuSvn: octets(required(tcbMap, `${ARC}.2.18`, 'CPUSVN'), 16, 'CPUSVN'),
  };
  const sgxTypeNode = required(top, `${ARC}.5`, 'SGX type');
  expectNodeTag(sgxTypeNode, Tag.ENUMERATED);
  const out: PckExtensions = {
    ppid: octets(required(top, `${ARC}.1`, 'PPID'), 16, 'PPID'),
    tcb,
    pceId: octets(required(top, `${ARC}.3`, 'PCE-ID'), 2, 'PCE-ID'),
    fmspc: octets(required(top, `${ARC}.4`, 'FMSPC'), 6, 'FMSPC'),
    sgxType: decodeSmallUint(sgxTypeNode),
  };
  const pii = top.get(`${ARC}.6`);
  const conf = top.get(`${ARC}.7`);
  return {
    ...out,
    ...(pii ? { platformInstanceId: octets(pii, 16, 'platform instance ID') } : {}),
    ...(conf ? { configuration: parseConfiguration(conf) } : {}),
  };
}

function parseConfiguration(node: DerNode): PckConfiguration {
  const m = pairs(node, 'configuration');
  const flag = (n: number): boolean | undefined => {
    const v = m.get(`${ARC}.7.${n}`);
    return v ? decodeBoolean(v) : undefined;
  };
  const dynamicPlatform = flag(1);
  const cachedKeys = flag(2);
  const smtEnabled = flag(3);
  return {
    ...(dynamicPlatform !== undefined ? { dynamicPlatform } : {}),
    ...(cachedKeys !== undefined ? { cachedKeys } : {}),
    ...(smtEnabled !== undefined ? { smtEnabled } : {}),
  };
}
