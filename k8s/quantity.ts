/**
 * Kubernetes resource quantities (`100m`, `128Mi`, `0.5`) as ccmesh accepts them in annotations and install values:
 * the plain decimal form with an optional suffix, parsed to a number so a request can be compared with its limit.
 * The exponent form (`1e3`) is valid for Kubernetes but refused here: nobody writes it by hand, and refusing it keeps
 * the accepted set one regular expression that the chart schema can carry too.
 */

/** A quantity: digits, an optional fraction, an optional suffix. */
export const QUANTITY_RE = /^([0-9]+(?:\.[0-9]+)?)(m|k|M|G|T|P|E|Ki|Mi|Gi|Ti|Pi|Ei)?$/;

const FACTOR: Readonly<Record<string, number>> = {
  '': 1,
  m: 1e-3,
  k: 1e3,
  M: 1e6,
  G: 1e9,
  T: 1e12,
  P: 1e15,
  E: 1e18,
  Ki: 2 ** 10,
  Mi: 2 ** 20,
  Gi: 2 ** 30,
  Ti: 2 ** 40,
  Pi: 2 ** 50,
  Ei: 2 ** 60,
};

/** What a resource is measured in: CPU in cores, memory in bytes. */
export type QuantityKind = 'cpu' | 'memory';

/** The words for an issue's `expected` when a quantity of `kind` does not parse. */
export function expectedQuantity(kind: QuantityKind): string {
  return kind === 'cpu'
    ? 'a CPU quantity greater than 0 (cores, e.g. "100m" or "0.5")'
    : 'a memory quantity greater than 0 in bytes with a binary or decimal suffix (e.g. "128Mi"; "m" would mean thousandths of a byte)';
}

/**
 * The value of `text` (cores or bytes), or undefined when it is not a quantity of `kind` greater than zero. A memory
 * quantity with the milli suffix (`128m`: 0.128 bytes, a classic slip for `128Mi`) is refused.
 */
export function parseQuantity(text: string, kind: QuantityKind): number | undefined {
  const m = QUANTITY_RE.exec(text);
  if (!m) return undefined;
  const suffix = m[2] ?? '';
  if (kind === 'memory' && suffix === 'm') return undefined;
  const value = Number(m[1]) * (FACTOR[suffix] ?? NaN);
  return Number.isFinite(value) && value > 0 ? value : undefined;
}
