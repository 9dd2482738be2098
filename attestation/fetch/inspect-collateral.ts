/**
 * A cheap look at fetched collateral before it is cached: is it the kind of object it should be, and when does
 * it say it expires (nextUpdate)? This is not verification — no signature is checked here; the verifier does
 * that on every use. It keeps a junk 200 response (a captive portal page, a truncated proxy reply) from being
 * cached for a day, and lets CRLs, TCB info and QE identity be cached exactly until they are due for renewal.
 */
import { parseCertificates } from '../x509/pem.js';
import { parseCrl } from '../x509/crl.js';
import type { CollateralKind } from './collateral-request.js';
import { decodeExactText } from './text.js';

/** What {@link inspectCollateral} found. */
export type Inspection =
  | { readonly usable: true; readonly nextUpdateMs: number | undefined }
  | { readonly usable: false; readonly problem: string };

function problemOf(err: unknown): string {
  return err instanceof Error ? err.message : String(err);
}

/** Checks that `body` looks like collateral of `kind` and reads its nextUpdate when it has one. */
export function inspectCollateral(kind: CollateralKind, body: Uint8Array): Inspection {
  try {
    switch (kind) {
      case 'amd-vek':
        parseCertificates(body, 'VCEK');
        return { usable: true, nextUpdateMs: undefined };
      case 'amd-chain': {
        const n = parseCertificates(body, 'AMD chain').length;
        if (n < 2) return { usable: false, problem: `AMD chain has ${n} certificate(s), expected ASK/ASVK and ARK` };
        return { usable: true, nextUpdateMs: undefined };
      }
      case 'amd-crl':
      case 'intel-pck-crl':
      case 'intel-root-crl':
        return { usable: true, nextUpdateMs: parseCrl(body).nextUpdate?.getTime() };
      case 'intel-tcb-info':
        return jsonDocument(body, 'tcbInfo');
      case 'intel-qe-identity':
        return jsonDocument(body, 'enclaveIdentity');
    }
  } catch (err) {
    return { usable: false, problem: problemOf(err) };
  }
}

/** Intel documents are `{"<member>": {…, "nextUpdate": "<RFC 3339>"}, "signature": "…"}`. */
function jsonDocument(body: Uint8Array, member: string): Inspection {
  const text = decodeExactText(body);
  if (text === undefined) return { usable: false, problem: 'not UTF-8 text' };
  const doc: unknown = JSON.parse(text);
  const inner = typeof doc === 'object' && doc !== null ? (doc as Record<string, unknown>)[member] : undefined;
  if (typeof inner !== 'object' || inner === null) return { usable: false, problem: `JSON has no "${member}" object` };
  const next = (inner as Record<string, unknown>).nextUpdate;
  const ms = typeof next === 'string' ? Date.parse(next) : Number.NaN;
  return { usable: true, nextUpdateMs: Number.isNaN(ms) ? undefined : ms };
}
