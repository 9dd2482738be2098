/**
 * The certificates and CRLs that come with an SNP report: VEK → ASK/ASVK → ARK. Reading them (parsing, naming the
 * product and key kind from AMD's fixed common names) is separated from checking them at an instant, because the
 * reading is the expensive, time-independent part that the cached verifier keeps; the check at `at` reuses it.
 * Nothing here throws for bad input: every problem becomes a reason string.
 */
import type { X509Certificate } from 'node:crypto';
import { at as derAt, children, decodeOid, decodeString, type DerNode, readOne, Tag } from '../../lib/asn1/der.js';
import { bytesEqual } from '../../lib/bytes.js';
import { describeError } from '../../lib/errors.js';
import { checkChain } from '../x509/chain.js';
import { type Crl, parseCrl } from '../x509/crl.js';
import { parseCertificates } from '../x509/pem.js';
import { SnpParseError } from './parse-error.js';
import { productFromName, productLabel, type SnpProduct } from './product.js';
import { parseVek, type SnpVek } from './vek.js';

/** Which kind of VEK a chain certifies: VCEK (ASK, "SEV-<Product>") or VLEK (ASVK, "SEV-VLEK-<Product>"). */
export type SnpVekKind = 'vcek' | 'vlek';

/** Collateral as read, before any time-dependent check. */
export interface SnpCollateral {
  readonly vek: SnpVek | undefined;
  readonly intermediate: X509Certificate | undefined;
  readonly ark: X509Certificate | undefined;
  /** The VEK kind the intermediate certifies, from its common name. */
  readonly kind: SnpVekKind | undefined;
  /** The product the intermediate and ARK name (they must agree). */
  readonly chainProduct: SnpProduct | undefined;
  readonly intermediateName: string | undefined;
  readonly crls: readonly Crl[];
  /** Problems found while reading; they do not depend on the verification time. */
  readonly defects: readonly string[];
  /** Earliest instant (ms) at which every certificate and CRL is current; +Infinity when unknown. */
  readonly windowStart: number;
  /** Latest instant (ms) at which every certificate and CRL is current. */
  readonly windowEnd: number;
}

/** What {@link readSnpCollateral} reads. */
export interface SnpCollateralInput {
  /** The VCEK or VLEK, DER or PEM. */
  readonly vek: Uint8Array;
  /** PEM bundle: ASK or ASVK first, then the ARK (which may be left out when a pinned anchor names the ASK's issuer). */
  readonly chain: Uint8Array;
  readonly crls?: readonly Uint8Array[];
}

const OID_COMMON_NAME = '2.5.4.3';

/** The subject Name node of a certificate's DER. Throws DerError. */
function subjectName(cert: X509Certificate): DerNode {
  const tbs = children(derAt(children(readOne(new Uint8Array(cert.raw), Tag.SEQUENCE)), 0, 'tbsCertificate'));
  // tbsCertificate: [0] version?, serial, signature, issuer, validity, subject, ...
  const offset = tbs[0]?.tag === 0xa0 ? 1 : 0;
  return derAt(tbs, offset + 4, 'subject');
}

/** The subject common name of a certificate, read from its DER (Node's subject string can't be split safely). */
export function subjectCommonName(cert: X509Certificate): string | undefined {
  try {
    const names: string[] = [];
    for (const rdn of children(subjectName(cert))) {
      for (const atv of children(rdn)) {
        const [type, value] = children(atv);
        if (type && value && decodeOid(type) === OID_COMMON_NAME) names.push(decodeString(value));
      }
    }
    return names.length === 1 ? names[0] : undefined;
  } catch {
    // An unreadable name is simply "no recognisable name"; the caller reports that.
    return undefined;
  }
}

/** Interprets an intermediate's CN: "SEV-Milan" certifies VCEKs, "SEV-VLEK-Milan" VLEKs. */
export function parseIntermediateName(cn: string): { kind: SnpVekKind; product: SnpProduct } | undefined {
  const m = /^SEV-(VLEK-)?([A-Za-z]+)$/.exec(cn);
  const product = m ? productFromName(m[2]!) : undefined;
  if (!m || !product) return undefined;
  return { kind: m[1] ? 'vlek' : 'vcek', product };
}

/** Interprets an ARK's CN: "ARK-Milan". */
export function parseArkName(cn: string): SnpProduct | undefined {
  const m = /^ARK-([A-Za-z]+)$/.exec(cn);
  return m ? productFromName(m[1]!) : undefined;
}

/** Milliseconds of a certificate date string; NaN when Node's text can't be read back. */
function timeOf(s: string): number {
  return new Date(s).getTime();
}

/** Splits the bundle into intermediate and ARK, completing a lone ASK/ASVK with the anchor that issued it. */
function readChain(bytes: Uint8Array, anchors: readonly X509Certificate[], defects: string[]): [X509Certificate, X509Certificate] | undefined {
  try {
    const certs = parseCertificates(bytes, 'SNP certificate chain');
    const [first, second] = certs;
    if (certs.length === 2) return [first!, second!];
    if (certs.length === 1) {
      const ark = anchors.find((a) => a.subject === first!.issuer);
      if (ark) return [first!, ark];
      defects.push('certificate chain holds only the ASK/ASVK and no pinned ARK is its issuer');
      return undefined;
    }
    defects.push(`certificate chain must hold the ASK or ASVK and then the ARK, found ${certs.length} certificates`);
  } catch (err) {
    defects.push(describeError(err));
  }
  return undefined;
}

/** The key kind and product the chain's fixed AMD names state; they must agree between intermediate and ARK. */
function nameChain(intermediate: X509Certificate, ark: X509Certificate, defects: string[]): { kind?: SnpVekKind; product?: SnpProduct; name?: string } {
  const name = subjectCommonName(intermediate);
  const named = name === undefined ? undefined : parseIntermediateName(name);
  const arkName = subjectCommonName(ark);
  const arkProduct = arkName === undefined ? undefined : parseArkName(arkName);
  if (!named) defects.push(`certificate chain: intermediate CN ${JSON.stringify(name ?? '')} is neither SEV-<product> (ASK) nor SEV-VLEK-<product> (ASVK)`);
  if (!arkProduct) defects.push(`certificate chain: root CN ${JSON.stringify(arkName ?? '')} is not ARK-<product>`);
  if (named && arkProduct && named.product !== arkProduct) {
    defects.push(`certificate chain mixes products: ${name} is for ${productLabel(named.product)} but ${arkName} is for ${productLabel(arkProduct)}`);
  }
  return {
    ...(named ? { kind: named.kind } : {}),
    ...(named && named.product === arkProduct ? { product: named.product } : {}),
    ...(name !== undefined ? { name } : {}),
  };
}

/** What the VEK itself must carry: a known productName, and hwID (VCEK) or cspID (VLEK) matching the chain kind. */
function vekDefects(vek: SnpVek, kind: SnpVekKind | undefined): string[] {
  const out: string[] = [];
  const { hwId, cspId, productName } = vek.extensions;
  if (kind === 'vcek' && !hwId) out.push('VEK certified by an ASK (VCEK chain) has no hwID extension');
  if (kind === 'vcek' && cspId !== undefined) out.push('VEK has a cspID extension (a VLEK) but the chain is a VCEK chain');
  if (kind === 'vlek' && cspId === undefined) out.push('VEK certified by an ASVK (VLEK chain) has no cspID extension');
  if (kind === 'vlek' && hwId) out.push('VEK has a hwID extension (a VCEK) but the chain is a VLEK chain');
  if (productName === undefined) out.push('VEK certificate has no productName extension');
  else if (!vek.product) out.push(`VEK productName ${JSON.stringify(productName)} is not a supported product (Milan, Genoa, Turin)`);
  return out;
}

/** Reads VEK, chain and CRLs; never throws. `anchors` complete a chain that carries only the ASK/ASVK. */
export function readSnpCollateral(input: SnpCollateralInput, anchors: readonly X509Certificate[]): SnpCollateral {
  const defects: string[] = [];
  let vek: SnpVek | undefined;
  try {
    vek = parseVek(input.vek);
  } catch (err) {
    defects.push(err instanceof SnpParseError ? err.message : `VEK certificate: ${describeError(err)}`);
  }
  const [intermediate, ark] = readChain(input.chain, anchors, defects) ?? [];
  const named = intermediate && ark ? nameChain(intermediate, ark, defects) : {};
  if (vek) defects.push(...vekDefects(vek, named.kind));
  const crls: Crl[] = [];
  (input.crls ?? []).forEach((bytes, i) => {
    try {
      crls.push(parseCrl(bytes));
    } catch (err) {
      defects.push(`CRL #${i + 1} is not readable: ${describeError(err)}`);
    }
  });
  let windowStart = -Infinity;
  let windowEnd = Infinity;
  for (const c of [vek?.cert, intermediate, ark]) {
    if (!c) continue;
    windowStart = Math.max(windowStart, timeOf(c.validFrom));
    windowEnd = Math.min(windowEnd, timeOf(c.validTo));
  }
  for (const crl of crls) {
    windowStart = Math.max(windowStart, crl.thisUpdate.getTime());
    if (crl.nextUpdate) windowEnd = Math.min(windowEnd, crl.nextUpdate.getTime());
  }
  // NaN (an unparseable date) must never make a window look valid: such collateral is re-checked every time.
  if (Number.isNaN(windowStart) || Number.isNaN(windowEnd)) [windowStart, windowEnd] = [Infinity, -Infinity];
  return {
    vek, intermediate, ark, kind: named.kind, chainProduct: named.product, intermediateName: named.name, crls, defects, windowStart, windowEnd,
  };
}

/** Role names for messages: what each certificate is, given the chain kind. */
function roles(kind: SnpVekKind | undefined): [string, string] {
  if (kind === 'vlek') return ['VLEK', 'ASVK'];
  if (kind === 'vcek') return ['VCEK', 'ASK'];
  return ['VEK', 'ASK/ASVK'];
}

/** All collateral problems at `at`: reading defects plus the chain check (names, signatures, validity, anchor, CRLs). */
export function checkSnpCollateral(col: SnpCollateral, anchors: readonly X509Certificate[], at: Date): string[] {
  const reasons = [...col.defects];
  if (col.vek && col.intermediate && col.ark) {
    const [leafRole, midRole] = roles(col.kind);
    reasons.push(
      ...checkChain({
        path: [
          { cert: col.vek.cert, role: leafRole },
          { cert: col.intermediate, role: midRole },
          { cert: col.ark, role: 'ARK' },
        ],
        anchors,
        at,
        crls: col.crls,
      }),
    );
    col.crls.forEach((crl, i) => {
      const issuers = [col.intermediate!, col.ark!];
      if (!issuers.some((c) => subjectMatches(c, crl))) reasons.push(`CRL #${i + 1} was not issued by any certificate of the chain, so it can't be applied`);
    });
  }
  // A missing certificate always has a reading defect above that says why.
  return reasons;
}

function subjectMatches(cert: X509Certificate, crl: Crl): boolean {
  try {
    return bytesEqual(subjectName(cert).raw, crl.issuerDer);
  } catch {
    // A certificate whose subject can't be read issued nothing we can match.
    return false;
  }
}
