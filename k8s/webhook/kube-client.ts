/**
 * The few Kubernetes API calls the injector makes, over undici with the pod's service-account credentials: read
 * a MutatingWebhookConfiguration and set its webhooks' `clientConfig.caBundle` with a JSON Patch; read, create and
 * replace (only at the resourceVersion read: optimistic concurrency) the shared CA Secret. Nothing else.
 */
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { Agent, request } from 'undici';
import { CcmeshError, ErrorCode, describeError } from '../../lib/errors.js';
import { isJsonObject, type JsonValue } from './json-patch.js';

/** Where Kubernetes mounts a pod's service-account token, CA and namespace. */
export const SERVICE_ACCOUNT_DIR = '/var/run/secrets/kubernetes.io/serviceaccount';

/** How to reach the API server. */
export interface KubeApiConfig {
  /** Base URL, `https://host:port`. */
  readonly url: string;
  /** File holding the bearer token; re-read for every request (projected tokens rotate). */
  readonly tokenFile: string;
  /** PEM CA the API server's certificate must chain to. */
  readonly caPem: string;
  /** Per-request timeout. */
  readonly timeoutMs?: number;
}

/** The in-cluster API URL from the `KUBERNETES_SERVICE_HOST`/`_PORT` values (IPv6 hosts get brackets). */
export function inClusterApiUrl(host: string | undefined, port: string | undefined): string | undefined {
  if (host === undefined || host === '' || port === undefined || port === '') return undefined;
  return `https://${host.includes(':') ? `[${host}]` : host}:${port}`;
}

/** Reads the CA of a service-account directory and builds a config for `url`. */
export async function serviceAccountConfig(url: string, dir = SERVICE_ACCOUNT_DIR): Promise<KubeApiConfig> {
  let caPem: string;
  try {
    caPem = await readFile(join(dir, 'ca.crt'), 'utf8');
  } catch (err) {
    throw new CcmeshError(ErrorCode.INPUT_UNREADABLE, `reading the API server CA ${join(dir, 'ca.crt')} (set --service-account-dir out of a cluster): ${describeError(err)}`, { cause: err });
  }
  return { url: url.replace(/\/+$/, ''), tokenFile: join(dir, 'token'), caPem };
}

/** A webhook entry of a MutatingWebhookConfiguration, the parts we read. */
export interface WebhookEntry {
  readonly name: string;
  readonly caBundle: string | undefined;
}

/** A Secret's string data, the resourceVersion it was read at, and its metadata as read (kept on a replace). */
export interface VersionedSecret {
  readonly data: Record<string, string>;
  readonly resourceVersion: string | undefined;
  readonly metadata: { readonly [key: string]: JsonValue };
}

/** An API error with the HTTP status, so callers can decide whether to retry. */
export class KubeApiError extends CcmeshError {
  override readonly name = 'KubeApiError';
  readonly status: number | undefined;

  constructor(message: string, status: number | undefined, options?: { cause?: unknown }) {
    super(ErrorCode.K8S_API, message, options);
    this.status = status;
  }

  /** Worth another try: no answer, conflict, failed JSON Patch test (422), throttling, or a server-side fault. */
  get retryable(): boolean {
    return this.status === undefined || this.status === 404 || this.status === 409 || this.status === 422 || this.status === 429 || this.status >= 500;
  }
}

const WEBHOOK_CONFIGS = '/apis/admissionregistration.k8s.io/v1/mutatingwebhookconfigurations';

/** A minimal typed client. Close it to release its connection pool. */
export class KubeClient {
  readonly #config: KubeApiConfig;
  readonly #agent: Agent;

  constructor(config: KubeApiConfig) {
    this.#config = config;
    this.#agent = new Agent({ connect: { ca: config.caPem }, connections: 2 });
  }

  async #call(method: 'GET' | 'PATCH' | 'POST' | 'PUT', path: string, what: string, body?: { type: string; data: unknown }): Promise<JsonValue> {
    let token: string;
    try {
      token = (await readFile(this.#config.tokenFile, 'utf8')).trim();
    } catch (err) {
      throw new KubeApiError(`${what}: reading the service-account token ${this.#config.tokenFile}: ${describeError(err)}`, 401, { cause: err });
    }
    const headers: Record<string, string> = { authorization: `Bearer ${token}`, accept: 'application/json' };
    if (body) headers['content-type'] = body.type;
    let res;
    try {
      res = await request(`${this.#config.url}${path}`, {
        method,
        headers,
        ...(body ? { body: JSON.stringify(body.data) } : {}),
        dispatcher: this.#agent,
        headersTimeout: this.#config.timeoutMs ?? 10_000,
        bodyTimeout: this.#config.timeoutMs ?? 10_000,
      });
    } catch (err) {
      throw new KubeApiError(`${what}: the API server at ${this.#config.url} did not answer: ${describeError(err)}`, undefined, { cause: err });
    }
    const text = await res.body.text();
    let parsed: JsonValue | undefined;
    try {
      parsed = JSON.parse(text) as JsonValue;
    } catch {
      parsed = undefined;
    }
    if (res.statusCode < 200 || res.statusCode > 299) {
      // The API server answers errors with a Status object; its message says what RBAC or validation refused.
      const message = isJsonObject(parsed) && typeof parsed.message === 'string' ? parsed.message : text.slice(0, 300);
      throw new KubeApiError(`${what}: HTTP ${res.statusCode} from the API server: ${message}`, res.statusCode);
    }
    if (parsed === undefined) throw new KubeApiError(`${what}: the API server answered with a body that is not JSON`, res.statusCode);
    return parsed;
  }

  /** Reads the webhooks of MutatingWebhookConfiguration `name`. */
  async getWebhooks(name: string): Promise<WebhookEntry[]> {
    const what = `reading mutatingwebhookconfiguration ${name}`;
    const obj = await this.#call('GET', `${WEBHOOK_CONFIGS}/${encodeURIComponent(name)}`, what);
    const hooks = isJsonObject(obj) && Array.isArray(obj.webhooks) ? obj.webhooks : [];
    return hooks.map((h, i) => {
      if (!isJsonObject(h) || typeof h.name !== 'string') throw new KubeApiError(`${what}: webhooks[${i}] has no name`, 200);
      const cc = isJsonObject(h.clientConfig) ? h.clientConfig : {};
      return { name: h.name, caBundle: typeof cc.caBundle === 'string' ? cc.caBundle : undefined };
    });
  }

  /**
   * Sets `webhooks[i].clientConfig.caBundle` for every webhook in `expected` (the list just read). Each index is
   * guarded by a `test` of its name, so a configuration reordered meanwhile fails (HTTP 422) instead of getting
   * the bundle on the wrong entry. With `compareBundles`, each caBundle that was read is `test`ed too: a bundle
   * changed by another writer since the read fails the patch (422) instead of being overwritten (a merge computed
   * from the read must not drop what the other writer just added).
   */
  async patchCaBundle(name: string, expected: readonly WebhookEntry[], caBundleBase64: string, compareBundles = false): Promise<void> {
    const ops = expected.flatMap((h, i) => [
      { op: 'test', path: `/webhooks/${i}/name`, value: h.name },
      ...(compareBundles && h.caBundle !== undefined ? [{ op: 'test', path: `/webhooks/${i}/clientConfig/caBundle`, value: h.caBundle }] : []),
      { op: 'add', path: `/webhooks/${i}/clientConfig/caBundle`, value: caBundleBase64 },
    ]);
    await this.#call('PATCH', `${WEBHOOK_CONFIGS}/${encodeURIComponent(name)}`, `patching the caBundle of mutatingwebhookconfiguration ${name}`, {
      type: 'application/json-patch+json',
      data: ops,
    });
  }

  /**
   * The string data of Secret `namespace/name` (values base64-decoded) and its resourceVersion (for
   * {@link replaceSecret}), or undefined when it does not exist.
   */
  async getSecret(namespace: string, name: string): Promise<VersionedSecret | undefined> {
    const what = `reading secret ${namespace}/${name}`;
    let obj: JsonValue;
    try {
      obj = await this.#call('GET', `/api/v1/namespaces/${encodeURIComponent(namespace)}/secrets/${encodeURIComponent(name)}`, what);
    } catch (err) {
      if (err instanceof KubeApiError && err.status === 404) return undefined;
      throw err;
    }
    const data = isJsonObject(obj) && isJsonObject(obj.data) ? obj.data : {};
    const meta = isJsonObject(obj) && isJsonObject(obj.metadata) ? obj.metadata : {};
    return {
      data: Object.fromEntries(Object.entries(data).filter((e): e is [string, string] => typeof e[1] === 'string').map(([k, v]) => [k, Buffer.from(v, 'base64').toString('utf8')])),
      resourceVersion: typeof meta.resourceVersion === 'string' ? meta.resourceVersion : undefined,
      metadata: meta,
    };
  }

  /**
   * Creates Secret `namespace/name` holding `data` (encoded here); `false` when one by that name already exists
   * (HTTP 409: another replica was first), so the caller reads that one instead.
   */
  async createSecret(namespace: string, name: string, data: Readonly<Record<string, string>>, labels: Readonly<Record<string, string>>): Promise<boolean> {
    const body = {
      apiVersion: 'v1',
      kind: 'Secret',
      metadata: { name, namespace, labels },
      type: 'kubernetes.io/tls',
      data: Object.fromEntries(Object.entries(data).map(([k, v]) => [k, Buffer.from(v, 'utf8').toString('base64')])),
    };
    try {
      await this.#call('POST', `/api/v1/namespaces/${encodeURIComponent(namespace)}/secrets`, `creating secret ${namespace}/${name}`, { type: 'application/json', data: body });
      return true;
    } catch (err) {
      if (err instanceof KubeApiError && err.status === 409) return false;
      throw err;
    }
  }

  /**
   * Replaces the data of Secret `namespace/name` (PUT, keeping the metadata read: labels, annotations) if it is still
   * at the resourceVersion `read` was read at; `false` when it is not (HTTP 409 Conflict: another replica wrote it
   * since), so the caller re-reads and adopts that write.
   */
  async replaceSecret(namespace: string, name: string, data: Readonly<Record<string, string>>, read: VersionedSecret & { readonly resourceVersion: string }): Promise<boolean> {
    const { resourceVersion } = read;
    const body = {
      apiVersion: 'v1',
      kind: 'Secret',
      metadata: { ...read.metadata, name, namespace, resourceVersion },
      type: 'kubernetes.io/tls',
      data: Object.fromEntries(Object.entries(data).map(([k, v]) => [k, Buffer.from(v, 'utf8').toString('base64')])),
    };
    try {
      await this.#call('PUT', `/api/v1/namespaces/${encodeURIComponent(namespace)}/secrets/${encodeURIComponent(name)}`, `replacing secret ${namespace}/${name}`, { type: 'application/json', data: body });
      return true;
    } catch (err) {
      if (err instanceof KubeApiError && err.status === 409) return false;
      throw err;
    }
  }

  /** Releases the connection pool. */
  async close(): Promise<void> {
    await this.#agent.close();
  }
}
