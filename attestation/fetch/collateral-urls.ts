/**
 * Vendor URLs of collateral (FORMATS.md §4 for AMD KDS, §6.6 for Intel PCS). Base URLs are configuration so
 * tests and air-gapped mirrors can stand in for the public hosts; paths and query strings are fixed here.
 */
import { toHex } from '../../lib/bytes.js';
import type { ConfigIssue } from '../../lib/errors.js';
import type { CollateralRequest } from './collateral-request.js';

/** Base URLs of the services that publish collateral (no trailing slash needed; a path prefix is kept). */
export interface CollateralEndpoints {
  /** AMD Key Distribution Service. */
  readonly amdKds: string;
  /** Intel Provisioning Certification Service API. */
  readonly intelPcs: string;
  /** Intel's certificate host that publishes the SGX Root CA CRL. */
  readonly intelCertificates: string;
}

/** The public vendor hosts. */
export const defaultCollateralEndpoints: CollateralEndpoints = Object.freeze({
  amdKds: 'https://kdsintf.amd.com',
  intelPcs: 'https://api.trustedservices.intel.com',
  intelCertificates: 'https://certificates.trustedservices.intel.com',
});

/** Problems with endpoint URLs, one per bad field; empty when all are usable. */
export function checkEndpoints(e: CollateralEndpoints, prefix = 'endpoints'): ConfigIssue[] {
  const issues: ConfigIssue[] = [];
  for (const field of ['amdKds', 'intelPcs', 'intelCertificates'] as const) {
    const value = e[field];
    let ok = false;
    try {
      const u = new URL(value);
      // SECURITY: plain http is allowed (loopback tests, internal mirrors) because integrity comes from the
      // verifier checking vendor signatures up to pinned roots, not from the transport.
      ok = (u.protocol === 'https:' || u.protocol === 'http:') && u.search === '' && u.hash === '' && u.username === '';
    } catch {
      ok = false;
    }
    if (!ok) issues.push({ field: `${prefix}.${field}`, value, expected: 'an http(s) URL without query, fragment or credentials' });
  }
  return issues;
}

const KDS_PRODUCT = { milan: 'Milan', genoa: 'Genoa', turin: 'Turin' } as const;

/** KDS examples print SPLs with two digits ("blSPL=03"); KDS accepts both, we match its documentation. */
function spl(n: number): string {
  return String(n).padStart(2, '0');
}

function join(base: string, pathAndQuery: string): string {
  return base.replace(/\/+$/, '') + pathAndQuery;
}

/** The URL that serves `req` under `endpoints`. */
export function collateralUrl(req: CollateralRequest, endpoints: CollateralEndpoints): string {
  switch (req.kind) {
    case 'amd-vek': {
      const t = req.tcb;
      const tcb = `blSPL=${spl(t.bootloader)}&teeSPL=${spl(t.tee)}&snpSPL=${spl(t.snp)}&ucodeSPL=${spl(t.microcode)}`;
      // Turin puts fmcSPL first (FORMATS.md §4); fmc is defined exactly for Turin requests.
      const query = t.fmc === undefined ? tcb : `fmcSPL=${spl(t.fmc)}&${tcb}`;
      return join(endpoints.amdKds, `/vcek/v1/${KDS_PRODUCT[req.product]}/${toHex(req.hwId)}?${query}`);
    }
    case 'amd-chain':
      return join(endpoints.amdKds, `/${req.signer}/v1/${KDS_PRODUCT[req.product]}/cert_chain`);
    case 'amd-crl':
      return join(endpoints.amdKds, `/vcek/v1/${KDS_PRODUCT[req.product]}/crl`);
    case 'intel-tcb-info':
      return join(endpoints.intelPcs, `/tdx/certification/v4/tcb?fmspc=${req.fmspc}`);
    case 'intel-qe-identity':
      return join(endpoints.intelPcs, '/tdx/certification/v4/qe/identity');
    case 'intel-pck-crl':
      return join(endpoints.intelPcs, `/sgx/certification/v4/pckcrl?ca=${req.ca}&encoding=der`);
    case 'intel-root-crl':
      return join(endpoints.intelCertificates, '/IntelSGXRootCA.der');
  }
}

/** Response header that carries the PEM issuer chain of a kind, if it has one. */
export function issuerChainHeader(req: CollateralRequest): string | undefined {
  switch (req.kind) {
    case 'intel-tcb-info':
      return 'TCB-Info-Issuer-Chain';
    case 'intel-qe-identity':
      return 'SGX-Enclave-Identity-Issuer-Chain';
    case 'intel-pck-crl':
      return 'SGX-PCK-CRL-Issuer-Chain';
    default:
      return undefined;
  }
}
