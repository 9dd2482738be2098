/** The identifying fields of one Kubernetes object as read from YAML, and the helpers to walk its plain data. */
import { isJsonObject as isObj } from '../../lib/config/json-reader.js';
import { CcmeshError, ErrorCode } from '../../lib/errors.js';

/** JSON-shaped object as parsed from YAML. */
export type Obj = Record<string, unknown>;

/** True for a plain (non-array, non-null) object (the shared JSON-object check under a shorter name). */
export { isObj };

/** The object at `key`, or an empty object. */
export function objAt(o: unknown, key: string): Obj {
  const v = isObj(o) ? o[key] : undefined;
  return isObj(v) ? v : {};
}

/** The array at `key`, or an empty array. */
export function listAt(o: unknown, key: string): unknown[] {
  const v = isObj(o) ? o[key] : undefined;
  return Array.isArray(v) ? v : [];
}

/** The string at `key`, or undefined. */
export function strAt(o: unknown, key: string): string | undefined {
  const v = isObj(o) ? o[key] : undefined;
  return typeof v === 'string' ? v : undefined;
}

/** apiVersion, kind, namespace and name of an object; `where` is how messages name it (`Deployment default/web`). */
export interface ResourceRef {
  readonly apiVersion: string;
  readonly kind: string;
  readonly namespace: string;
  readonly name: string;
  readonly where: string;
}

/** Reads the reference of `o`; a missing namespace means `defaultNamespace` (as `kubectl apply -n` would). */
export function resourceRef(o: Obj, defaultNamespace: string, file: string): ResourceRef {
  const meta = objAt(o, 'metadata');
  const apiVersion = strAt(o, 'apiVersion');
  const kind = strAt(o, 'kind');
  const name = strAt(meta, 'name');
  if (!apiVersion || !kind || !name) {
    throw new CcmeshError(ErrorCode.INPUT_MALFORMED, `${file}: a document without apiVersion, kind or metadata.name (generateName is not supported: the manifest entry needs a stable name)`);
  }
  if (meta.namespace !== undefined && typeof meta.namespace !== 'string') {
    throw new CcmeshError(ErrorCode.INPUT_MALFORMED, `${file}: ${kind} ${name} has metadata.namespace ${JSON.stringify(meta.namespace)}, not a string (YAML 1.1 reads y/n/yes/no/on/off as booleans: quote it)`);
  }
  const namespace = strAt(meta, 'namespace') ?? defaultNamespace;
  return { apiVersion, kind, namespace, name, where: `${kind} ${namespace}/${name} (${file})` };
}
