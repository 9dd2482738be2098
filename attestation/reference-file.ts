/**
 * The reference-values document (`--ref REFS.json`, and later the manifest's `referenceValues`): what a relying
 * party expects of evidence beyond "the signatures verify". One JSON object with optional `snp` and `tdx`
 * sections; each section is parsed by its format's module, and every problem in the file is reported at once.
 */
import { ConfigError, type ConfigIssue } from '../lib/errors.js';
import { parseSnpReferenceValues, type SnpReferenceValues } from './snp/reference.js';
import { parseTdxReferenceValues, type TdxReferenceValues } from './tdx/reference.js';

/** Parsed reference values for both TEE kinds. */
export interface ReferenceValues {
  readonly snp?: SnpReferenceValues;
  readonly tdx?: TdxReferenceValues;
}

/** Parses a reference-values document; throws a {@link ConfigError} naming every bad field. */
export function parseReferenceValues(text: string, source: string): ReferenceValues {
  let doc: unknown;
  try {
    doc = JSON.parse(text);
  } catch (err) {
    throw new ConfigError(`reference values in ${source}`, [
      { field: '$', value: text.slice(0, 40), expected: `a JSON document (${err instanceof Error ? err.message : String(err)})` },
    ]);
  }
  const issues: ConfigIssue[] = [];
  if (typeof doc !== 'object' || doc === null || Array.isArray(doc)) {
    throw new ConfigError(`reference values in ${source}`, [{ field: '$', value: JSON.stringify(doc), expected: 'an object with "snp" and/or "tdx"' }]);
  }
  const obj = doc as Record<string, unknown>;
  for (const key of Object.keys(obj)) {
    if (key !== 'snp' && key !== 'tdx') issues.push({ field: key, value: JSON.stringify(obj[key]), expected: 'only the keys "snp" and "tdx"' });
  }
  let snp: SnpReferenceValues | undefined;
  let tdx: TdxReferenceValues | undefined;
  if (obj.snp !== undefined) {
    const r = parseSnpReferenceValues(obj.snp, 'snp');
    issues.push(...r.issues);
    snp = r.values;
  }
  if (obj.tdx !== undefined) {
    const r = parseTdxReferenceValues(obj.tdx, 'tdx');
    issues.push(...r.issues);
    tdx = r.values;
  }
  if (issues.length > 0) throw new ConfigError(`reference values in ${source}`, issues);
  return { ...(snp ? { snp } : {}), ...(tdx ? { tdx } : {}) };
}
