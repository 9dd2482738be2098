/**
 * Reference-value alternatives that weaken attestation on purpose: `allowUnmeasured` (any launch measurement) and,
 * for TDX, `allowUnevaluatedTcb` (TCB status not evaluated). The parser accepts them only when spelled out; every
 * command that reads such a manifest says so loudly, from this one list, so the warning can't drift per command.
 */
import type { Manifest } from './types.js';

/** One weakened alternative: its JSON path (e.g. `referenceValues.snp[0]`) and what it gives up. */
export interface TrustWarning {
  readonly alternative: string;
  readonly kind: 'unmeasured' | 'unevaluated-tcb';
}

/** The weakened alternatives of `m`, in document order. */
export function manifestTrustWarnings(m: Manifest): TrustWarning[] {
  const out: TrustWarning[] = [];
  m.referenceValues.snp.forEach((v, i) => {
    if (v.allowUnmeasured === true) out.push({ alternative: `referenceValues.snp[${i}]`, kind: 'unmeasured' });
  });
  m.referenceValues.tdx.forEach((v, i) => {
    if (v.allowUnmeasured === true) out.push({ alternative: `referenceValues.tdx[${i}]`, kind: 'unmeasured' });
    if (v.allowUnevaluatedTcb === true) out.push({ alternative: `referenceValues.tdx[${i}]`, kind: 'unevaluated-tcb' });
  });
  m.referenceValues.simulated.forEach((s, i) => {
    if (s.snp.allowUnmeasured === true) out.push({ alternative: `referenceValues.simulated[${i}].snp`, kind: 'unmeasured' });
  });
  return out;
}

/** Constant log message per kind (data goes into fields: `{ alternative }`). */
export const TRUST_WARNING_LOG: Readonly<Record<TrustWarning['kind'], string>> = Object.freeze({
  unmeasured: 'SECURITY: manifest alternative accepts any launch measurement (allowUnmeasured)',
  'unevaluated-tcb': 'SECURITY: manifest alternative accepts TDX evidence whose TCB status was not evaluated (allowUnevaluatedTcb)',
});

/** The line a CLI command prints on stderr for `w`. */
export function trustWarningLine(w: TrustWarning, source: string): string {
  const what =
    w.kind === 'unmeasured'
      ? 'has "allowUnmeasured": true — it accepts ANY genuine guest image; the host can boot its own guest with a pod\'s policy hash and obtain that pod\'s identity and secret. Pin the launch measurement instead.'
      : 'has "allowUnevaluatedTcb": true — TDX evidence is accepted without TCB evaluation (an OutOfDate or Revoked platform passes). Supply TDX collateral instead.';
  return `WARNING: ${source}: ${w.alternative} ${what}\n`;
}
