/**
 * Pinning launch measurements in a manifest document (`ccmesh generate --snp-measurement / --tdx-mrtd`): the pod VM
 * image's SEV-SNP MEASUREMENT goes into every `referenceValues.snp` alternative, its TDX MRTD into every
 * `referenceValues.tdx` alternative; a list without alternatives gets one. The alternatives are `unknown` in the
 * contract's document form, so anything that is not what this edit expects is left as it is for the Coordinator's
 * parser to report with its path. Simulated roots are left alone: their measurement is the simulated platform's,
 * set by `manifest init`.
 */
import type { ManifestDocument } from '../../contract/manifest/types.js';
import { isJsonObject } from '../../lib/config/json-reader.js';

/** Launch measurements to pin (48-byte lowercase hex each). */
export interface PinnedMeasurements {
  readonly snp: readonly string[];
  readonly tdx: readonly string[];
}

/** The part of a manifest document that {@link pinMeasurements} edits. */
export interface ReferenceListsOf {
  readonly referenceValues: Pick<ManifestDocument['referenceValues'], 'snp' | 'tdx'>;
}

/** Result of {@link pinMeasurements}. */
export interface PinResult<D extends ReferenceListsOf> {
  readonly manifest: D;
  /** One line per alternative that changed, e.g. `referenceValues.snp[0].measurements: +1`. */
  readonly changes: readonly string[];
}

/** Returns `manifest` with `pin` merged into its reference values (the input is not modified). */
export function pinMeasurements<D extends ReferenceListsOf>(manifest: D, pin: PinnedMeasurements): PinResult<D> {
  const changes: string[] = [];
  const lists = { snp: manifest.referenceValues.snp, tdx: manifest.referenceValues.tdx };
  const apply = (list: 'snp' | 'tdx', key: 'measurements' | 'mrTd', values: readonly string[]): void => {
    if (values.length === 0) return;
    if (lists[list].length === 0) {
      lists[list] = [{ [key]: [...values] }];
      changes.push(`referenceValues.${list}[0]: new alternative with ${key} (${values.length})`);
      return;
    }
    lists[list] = lists[list].map((alt, i) => {
      // Not an object, or a measurement field that is not a list: the parser reports it, nothing is overwritten.
      if (!isJsonObject(alt) || (alt[key] !== undefined && !Array.isArray(alt[key]))) return alt;
      const before: unknown[] = Array.isArray(alt[key]) ? alt[key] : [];
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
  return { manifest: { ...manifest, referenceValues: { ...manifest.referenceValues, ...lists } }, changes };
}
