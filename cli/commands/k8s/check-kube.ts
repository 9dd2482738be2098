/**
 * Read-only Kubernetes API access for `ccmesh check`, from a kubeconfig (current context: server, CA, bearer token
 * or client certificate and key, inline `-data` or files) or a pod's service account. GET only.
 */
import { readFile } from 'node:fs/promises';
import { homedir } from 'node:os';
import { dirname, isAbsolute, join, resolve } from 'node:path';
import { Agent, request } from 'undici';
import { parse as parseYaml } from 'yaml';
import { CcmeshError, ErrorCode, describeError, quoteValue } from '../../../lib/errors.js';
import { readInput } from '../../read-input.js';
import { inClusterApiUrl, KubeApiError, SERVICE_ACCOUNT_DIR } from '../../../k8s/webhook/kube-client.js';
import { isJsonObject, type JsonValue } from '../../../k8s/webhook/json-patch.js';

/** Credentials and address of one API server. */
export interface KubeAccess {
  /** `https://host:port`, no trailing slash. */
  readonly url: string;
  /** Where the settings came from, for messages (`kubeconfig /x, context y` or `in-cluster service account`). */
  readonly source: string;
  readonly caPem: string | undefined;
  readonly token: string | undefined;
  readonly certPem: string | undefined;
  readonly keyPem: string | undefined;
}

const bad = (path: string, field: string, value: unknown, expected: string): CcmeshError =>
  new CcmeshError(ErrorCode.INPUT_MALFORMED, `kubeconfig ${path}: ${field}: got ${value === undefined ? 'nothing' : quoteValue(String(value))}, expected ${expected}`);

type Obj = Record<string, unknown>;
const isObj = (v: unknown): v is Obj => typeof v === 'object' && v !== null && !Array.isArray(v);

/** The entry `name` of a kubeconfig list (`clusters`, `users`, `contexts`) and its inner object. */
function named(doc: Obj, list: string, inner: string, name: string, path: string): Obj {
  const entries = Array.isArray(doc[list]) ? (doc[list] as unknown[]) : [];
  const hit = entries.find((e) => isObj(e) && e.name === name);
  if (!isObj(hit) || !isObj(hit[inner])) throw bad(path, list, name, `an entry named ${quoteValue(name)} with a ${inner} object`);
  return hit[inner];
}

/** Inline base64 `<field>-data` or the file `<field>` (relative to the kubeconfig's directory); undefined when neither. */
async function material(o: Obj, field: string, path: string, prefix: string): Promise<string | undefined> {
  const data = o[`${field}-data`];
  if (data !== undefined) {
    if (typeof data !== 'string' || !/^[A-Za-z0-9+/=\s]+$/.test(data)) throw bad(path, `${prefix}.${field}-data`, typeof data === 'string' ? data : typeof data, 'base64');
    return Buffer.from(data, 'base64').toString('utf8');
  }
  const file = o[field];
  if (file === undefined) return undefined;
  if (typeof file !== 'string' || file === '') throw bad(path, `${prefix}.${field}`, file, 'a file path');
  const full = isAbsolute(file) ? file : resolve(dirname(path), file);
  return Buffer.from(await readInput(`kubeconfig ${path}: ${prefix}.${field}`, full)).toString('utf8');
}

/** Reads the current context of the kubeconfig at `path`. */
export async function kubeconfigAccess(path: string, context?: string): Promise<KubeAccess> {
  const text = Buffer.from(await readInput('--kubeconfig', path)).toString('utf8');
  let doc: unknown;
  try {
    doc = parseYaml(text);
  } catch (err) {
    throw new CcmeshError(ErrorCode.INPUT_MALFORMED, `kubeconfig ${path}: not YAML: ${describeError(err).split('\n')[0]!.slice(0, 200)}`, { cause: err });
  }
  if (!isObj(doc)) throw bad(path, '(document)', typeof doc, 'a kubeconfig mapping (apiVersion: v1, kind: Config)');
  const ctxName = context ?? doc['current-context'];
  if (typeof ctxName !== 'string' || ctxName === '') throw bad(path, 'current-context', ctxName, 'the name of a context (or pass --context)');
  const ctx = named(doc, 'contexts', 'context', ctxName, path);
  if (typeof ctx.cluster !== 'string') throw bad(path, `contexts[${ctxName}].context.cluster`, ctx.cluster, 'a cluster name');
  const cluster = named(doc, 'clusters', 'cluster', ctx.cluster, path);
  const server = cluster.server;
  if (typeof server !== 'string' || !/^https:\/\/[^/\s]+\/?$/.test(server)) throw bad(path, `clusters[${ctx.cluster}].cluster.server`, server, 'an https://HOST:PORT URL');
  const user = typeof ctx.user === 'string' ? named(doc, 'users', 'user', ctx.user, path) : {};
  const up = `users[${String(ctx.user)}].user`;
  const tokenFile = user.tokenFile;
  let token = typeof user.token === 'string' && user.token !== '' ? user.token : undefined;
  if (token === undefined && typeof tokenFile === 'string' && tokenFile !== '') {
    token = Buffer.from(await readInput(`kubeconfig ${path}: ${up}.tokenFile`, isAbsolute(tokenFile) ? tokenFile : resolve(dirname(path), tokenFile))).toString('utf8').trim();
  }
  const certPem = await material(user, 'client-certificate', path, up);
  const keyPem = await material(user, 'client-key', path, up);
  if ((certPem === undefined) !== (keyPem === undefined)) throw bad(path, `${up}.client-key`, keyPem === undefined ? undefined : '(set)', 'client-certificate and client-key together');
  if (user.exec !== undefined || user['auth-provider'] !== undefined) {
    if (token === undefined && certPem === undefined) throw bad(path, `${up}.exec`, '(exec/auth-provider plugin)', 'a token or client certificate: ccmesh check runs no credential plugins; use a kubeconfig with a token or client certificate');
  }
  return {
    url: server.replace(/\/+$/, ''),
    source: `kubeconfig ${path}, context ${ctxName}`,
    caPem: await material(cluster, 'certificate-authority', path, `clusters[${ctx.cluster}].cluster`),
    token,
    certPem,
    keyPem,
  };
}

/**
 * Where to find the API server: `--kubeconfig`, else the first file of $KUBECONFIG, else ~/.kube/config when it
 * exists, else the pod's service account when running in a cluster.
 */
export async function findKubeAccess(opts: { kubeconfig: string | undefined; context: string | undefined; env: NodeJS.ProcessEnv }): Promise<KubeAccess> {
  if (opts.kubeconfig !== undefined) return kubeconfigAccess(opts.kubeconfig, opts.context);
  const fromEnv = (opts.env.KUBECONFIG ?? '').split(':').find((p) => p !== '');
  if (fromEnv !== undefined) return kubeconfigAccess(fromEnv, opts.context);
  const home = join(homedir(), '.kube', 'config');
  const exists = await readFile(home).then(() => true, () => false);
  if (exists) return kubeconfigAccess(home, opts.context);
  const url = inClusterApiUrl(opts.env.KUBERNETES_SERVICE_HOST, opts.env.KUBERNETES_SERVICE_PORT);
  if (url === undefined) throw new CcmeshError(ErrorCode.INPUT_UNREADABLE, `no kubeconfig: pass --kubeconfig FILE, set $KUBECONFIG, or create ${home}`);
  return {
    url,
    source: 'in-cluster service account',
    caPem: Buffer.from(await readInput('service-account CA', join(SERVICE_ACCOUNT_DIR, 'ca.crt'))).toString('utf8'),
    token: Buffer.from(await readInput('service-account token', join(SERVICE_ACCOUNT_DIR, 'token'))).toString('utf8').trim(),
    certPem: undefined,
    keyPem: undefined,
  };
}

/** GETs on one API server. Close it to release its connections. */
export class KubeReader {
  readonly access: KubeAccess;
  readonly #agent: Agent;
  readonly #timeoutMs: number;

  constructor(access: KubeAccess, timeoutMs: number) {
    this.access = access;
    this.#timeoutMs = timeoutMs;
    this.#agent = new Agent({
      connect: { ...(access.caPem !== undefined ? { ca: access.caPem } : {}), ...(access.certPem !== undefined ? { cert: access.certPem, key: access.keyPem } : {}), timeout: timeoutMs },
      connections: 4,
    });
  }

  /** GET `path`; the body as text. Throws {@link KubeApiError} with the status for a non-2xx answer. */
  async getText(path: string, what: string, timeoutMs = this.#timeoutMs): Promise<string> {
    const headers: Record<string, string> = { accept: 'application/json, text/plain' };
    if (this.access.token !== undefined) headers.authorization = `Bearer ${this.access.token}`;
    let res;
    try {
      res = await request(`${this.access.url}${path}`, { method: 'GET', headers, dispatcher: this.#agent, headersTimeout: timeoutMs, bodyTimeout: timeoutMs, signal: AbortSignal.timeout(timeoutMs) });
    } catch (err) {
      throw new KubeApiError(`${what}: the API server at ${this.access.url} did not answer: ${describeError(err)}`, undefined, { cause: err });
    }
    // Bounded: a pod's /metrics or a pod list page, never more than 16 MiB.
    const chunks: Buffer[] = [];
    let size = 0;
    for await (const c of res.body as AsyncIterable<Buffer>) {
      size += c.length;
      if (size > 16 * 1024 * 1024) {
        res.body.destroy();
        throw new KubeApiError(`${what}: the answer exceeds 16 MiB`, res.statusCode);
      }
      chunks.push(c);
    }
    const text = Buffer.concat(chunks).toString('utf8');
    if (res.statusCode < 200 || res.statusCode > 299) {
      let message = text.slice(0, 200);
      try {
        const parsed = JSON.parse(text) as JsonValue;
        if (isJsonObject(parsed) && typeof parsed.message === 'string') message = parsed.message.slice(0, 200);
      } catch {
        // not a Status object; keep the text
      }
      throw new KubeApiError(`${what}: HTTP ${res.statusCode}: ${message}`, res.statusCode);
    }
    return text;
  }

  /** GET `path` as a JSON object. */
  async getObject(path: string, what: string): Promise<Record<string, JsonValue>> {
    const text = await this.getText(path, what);
    let parsed: JsonValue;
    try {
      parsed = JSON.parse(text) as JsonValue;
    } catch {
      throw new KubeApiError(`${what}: the API server answered with a body that is not JSON`, 200);
    }
    if (!isJsonObject(parsed)) throw new KubeApiError(`${what}: the API server answered with JSON that is not an object`, 200);
    return parsed;
  }

  async close(): Promise<void> {
    await this.#agent.close();
  }
}
