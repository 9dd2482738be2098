/**
 * Pinning launch measurements in a manifest document (`ccmesh generate --snp-measurement / --tdx-mrtd`): the pod VM
 * image's SEV-SNP MEASUREMENT goes into every `referenceValues.snp` alternative, its TDX MRTD into every
 * `referenceValues.tdx` alternative; a list without alternatives gets one. Plain JSON in, plain JSON out — the
 * Coordinator's parser judges the result. Simulated roots are left alone: their measurement is the simulated
 * platform's, set by `manifest init`.
 */
import { isObj, type Obj } from './resource.js';

/** Launch measurements to pin (48-byte lowercase hex each). */
export interface PinnedMeasurements {
  readonly snp: readonly string[];
  readonly tdx: readonly string[];
}

/** Result of {@link pinMeasurements}. */
export interface PinResult {
  readonly manifest: Obj;
  /** One line per alternative that changed, e.g. `referenceValues.snp[0].measurements: +1`. */
  readonly changes: readonly string[];
}

/** Returns `manifest` with `pin` merged into its reference values (the input is not modified). */
export function pinMeasurements(manifest: Obj, pin: PinnedMeasurements): PinResult {
  const changes: string[] = [];
  const rv: Obj = isObj(manifest.referenceValues) ? { ...manifest.referenceValues } : {};
  const apply = (list: 'snp' | 'tdx', key: 'measurements' | 'mrTd', values: readonly string[]): void => {
    if (values.length === 0) return;
    const alternatives = Array.isArray(rv[list]) ? (rv[list] as unknown[]) : [];
    if (alternatives.length === 0) {
      rv[list] = [{ [key]: [...values] }];
      changes.push(`referenceValues.${list}[0]: new alternative with ${key} (${values.length})`);
      return;
    }
    rv[list] = alternatives.map((alt, i) => {
      if (!isObj(alt)) return alt; // not an object: the parser reports it with its path
      const before = Array.isArray(alt[key]) ? (alt[key] as unknown[]) : [];
      const lower = new Set(before.map((v) => (typeof v === 'string' ? v.toLowerCase() : v)));
      const added = values.filter((v) => !lower.has(v));
      // A pinned measurement supersedes an explicit opt-out; keeping both is a contradiction the parser refuses.
      const { allowUnmeasured, ...rest } = alt;
      if (added.length === 0 && allowUnmeasured === undefined) return alt;
      changes.push(`referenceValues.${list}[${i}].${key}: +${added.length}${allowUnmeasured !== undefined ? ', allowUnmeasured removed' : ''}`);
      return { ...rest, [key]: [...before, ...added] };
    });
  };
  apply('snp', 'measurements', pin.snp);
  apply('tdx', 'mrTd', pin.tdx);
  if (changes.length === 0) return { manifest, changes };
  return { manifest: { ...manifest, referenceValues: rv }, changes };
}
