/**
 * FakeKubeApi: a local HTTPS server standing in for the Kubernetes API server in tests (none exists here). It holds
 * one MutatingWebhookConfiguration, answers GET and JSON-Patch PATCH on it the way the API server does (Status
 * objects for errors, 422 when a `test` operation fails, 415 for a wrong patch content type), checks the bearer
 * token, records every request, and can be scripted to fail the next requests with given statuses. Secrets: GET,
 * POST (409 when one exists) and PUT (409 Conflict when the body's metadata.resourceVersion is not the stored one);
 * Secret reads can be held back and answered in groups, so clients race on one resourceVersion.
 */
import { createServer, type Server } from 'node:https';
import type { AddressInfo } from 'node:net';
import { systemClock } from '../../../lib/clock.js';
import { applyPatch, parsePointer } from '../../../k8s/webhook/apply-patch.js';
import { isJsonObject, jsonEqual, type JsonPatchOp, type JsonValue } from '../../../k8s/webhook/json-patch.js';
import { createSelfManagedCredentials } from '../../../k8s/webhook/serving-cert.js';

/** One request as the fake saw it. */
export interface RecordedRequest {
  readonly method: string;
  readonly path: string;
  readonly authorization: string | undefined;
  readonly contentType: string | undefined;
  readonly body: string;
  /** The status the fake answered with (set once answered). */
  status?: number;
}

const BASE = '/apis/admissionregistration.k8s.io/v1/mutatingwebhookconfigurations/';

function status(code: number, reason: string, message: string): string {
  return JSON.stringify({ kind: 'Status', apiVersion: 'v1', metadata: {}, status: 'Failure', message, reason, code });
}

/** The fake API server. */
export class FakeKubeApi {
  readonly requests: RecordedRequest[] = [];
  /** Statuses to fail the next requests with, in order (before any other check). */
  readonly failNext: number[] = [];
  token: string;
  /** Called as a PATCH of the configuration is stored (tests timestamp what the API server then holds). */
  onConfigPatched: (() => void) | undefined;
  /** The stored configuration; undefined = not found. */
  config: { [key: string]: JsonValue } | undefined;
  readonly caPem: string;
  readonly #server: Server;
  #rv = 1;

  private constructor(server: Server, caPem: string, token: string, config: { [key: string]: JsonValue } | undefined) {
    this.#server = server;
    this.caPem = caPem;
    this.token = token;
    this.config = config;
  }

  /** Starts on 127.0.0.1 with a fresh CA; `config` is the stored MutatingWebhookConfiguration. */
  static async start(token: string, config: { [key: string]: JsonValue } | undefined): Promise<FakeKubeApi> {
    const creds = await createSelfManagedCredentials(['127.0.0.1'], systemClock);
    const holder: { self?: FakeKubeApi } = {};
    const server = createServer({ key: creds.keyPem, cert: creds.certPem }, (req, res) => {
      const chunks: Buffer[] = [];
      req.on('data', (c: Buffer) => chunks.push(c));
      req.on('end', () => {
        const answer = (): void => {
          const [code, body] = holder.self!.#answer(req.method ?? '', req.url ?? '', req.headers.authorization, req.headers['content-type'], Buffer.concat(chunks).toString('utf8'));
          res.writeHead(code, { 'content-type': 'application/json' });
          res.end(body);
        };
        holder.self!.#hold(req.method === 'GET' && /\/secrets\/[^/]+$/.test(req.url ?? ''), answer);
      });
    });
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    holder.self = new FakeKubeApi(server, creds.caPem!, token, config);
    return holder.self;
  }

  /**
   * Sizes of groups of Secret reads to hold back: the first `n` GETs of a Secret are answered only once `n` have
   * arrived, all from the same state (then the next group) — so that many clients read one resourceVersion, as
   * replicas racing each other do.
   */
  readonly secretReadGroups: number[] = [];
  #held: (() => void)[] = [];

  #hold(isSecretRead: boolean, answer: () => void): void {
    if (!isSecretRead || this.secretReadGroups.length === 0) return answer();
    this.#held.push(answer);
    if (this.#held.length < this.secretReadGroups[0]!) return;
    this.secretReadGroups.shift();
    const release = this.#held;
    this.#held = [];
    for (const a of release) a();
  }

  /** `https://127.0.0.1:<port>`. */
  get url(): string {
    return `https://127.0.0.1:${(this.#server.address() as AddressInfo).port}`;
  }

  #answer(method: string, path: string, authorization: string | undefined, contentType: string | undefined, body: string): [number, string] {
    const recorded: RecordedRequest = { method, path, authorization, contentType, body };
    this.requests.push(recorded);
    const answer = this.#handle(method, path, authorization, contentType, body);
    recorded.status = answer[0];
    return answer;
  }

  #handle(method: string, path: string, authorization: string | undefined, contentType: string | undefined, body: string): [number, string] {
    const fail = this.failNext.shift();
    if (fail !== undefined) return [fail, status(fail, fail === 409 ? 'Conflict' : fail === 403 ? 'Forbidden' : 'InternalError', `scripted failure ${fail}`)];
    if (authorization !== `Bearer ${this.token}`) return [401, status(401, 'Unauthorized', 'Unauthorized')];
    const secret = /^\/api\/v1\/namespaces\/([^/]+)\/secrets(?:\/([^/]+))?$/.exec(path);
    if (secret) return this.#secret(method, decodeURIComponent(secret[1]!), secret[2] === undefined ? undefined : decodeURIComponent(secret[2]), body);
    if (!path.startsWith(BASE)) return [404, status(404, 'NotFound', 'the server could not find the requested resource')];
    const name = decodeURIComponent(path.slice(BASE.length));
    if (this.config === undefined || (this.config.metadata as { name?: string }).name !== name) {
      return [404, status(404, 'NotFound', `mutatingwebhookconfigurations.admissionregistration.k8s.io "${name}" not found`)];
    }
    if (method === 'GET') return [200, JSON.stringify(this.config)];
    if (method !== 'PATCH') return [405, status(405, 'MethodNotAllowed', 'method not allowed')];
    if (contentType !== 'application/json-patch+json') return [415, status(415, 'UnsupportedMediaType', `the body of the request was in an unknown format - accepted media types include: application/json-patch+json, application/merge-patch+json, application/apply-patch+yaml`)];
    let ops: (JsonPatchOp | { op: 'test'; path: string; value: JsonValue })[];
    try {
      ops = JSON.parse(body) as typeof ops;
    } catch {
      return [400, status(400, 'BadRequest', 'patch is not JSON')];
    }
    let next: JsonValue = this.config;
    try {
      for (const op of ops) {
        if (op.op === 'test') {
          let at: JsonValue | undefined = next;
          for (const t of parsePointer(op.path)) at = Array.isArray(at) ? at[Number(t)] : isJsonObject(at) ? at[t] : undefined;
          if (at === undefined || !jsonEqual(at, op.value)) return [422, status(422, 'Invalid', `the server rejected our request due to an error in our request: testing value ${op.path} failed`)];
        } else {
          next = applyPatch(next, [op]);
        }
      }
    } catch (err) {
      return [422, status(422, 'Invalid', `the server rejected our request due to an error in our request: ${String(err)}`)];
    }
    const meta = (next as { metadata: { [key: string]: JsonValue } }).metadata;
    meta.resourceVersion = String(++this.#rv);
    this.config = next as { [key: string]: JsonValue };
    this.onConfigPatched?.();
    return [200, JSON.stringify(this.config)];
  }

  /** Secrets by `namespace/name`, as stored (data base64-encoded). */
  readonly secrets = new Map<string, { [key: string]: JsonValue }>();

  /** Replaces the data of a stored Secret as `kubectl edit` would (new resourceVersion); values are plain text. */
  editSecret(namespace: string, name: string, data: Readonly<Record<string, string>>): void {
    const found = this.secrets.get(`${namespace}/${name}`);
    if (found === undefined) throw new Error(`no secret ${namespace}/${name}`);
    const meta = { ...(found.metadata as { [key: string]: JsonValue }), resourceVersion: String(++this.#rv) };
    this.secrets.set(`${namespace}/${name}`, { ...found, metadata: meta, data: Object.fromEntries(Object.entries(data).map(([k, v]) => [k, Buffer.from(v).toString('base64')])) });
  }

  /** GET of one Secret, POST (create) and PUT (replace) of one; 404 and 409 as the API server answers them. */
  #secret(method: string, namespace: string, name: string | undefined, body: string): [number, string] {
    if (method === 'GET' && name !== undefined) {
      const found = this.secrets.get(`${namespace}/${name}`);
      return found ? [200, JSON.stringify(found)] : [404, status(404, 'NotFound', `secrets "${name}" not found`)];
    }
    if (method === 'POST' && name === undefined) {
      let obj: { [key: string]: JsonValue };
      try {
        obj = JSON.parse(body) as { [key: string]: JsonValue };
      } catch {
        return [400, status(400, 'BadRequest', 'body is not JSON')];
      }
      const meta = (isJsonObject(obj.metadata) ? obj.metadata : {}) as { [key: string]: JsonValue };
      const key = `${namespace}/${String(meta.name)}`;
      if (obj.kind !== 'Secret' || typeof meta.name !== 'string') return [422, status(422, 'Invalid', 'not a named Secret')];
      if (this.secrets.has(key)) return [409, status(409, 'AlreadyExists', `secrets "${meta.name}" already exists`)];
      meta.resourceVersion = String(++this.#rv);
      this.secrets.set(key, { ...obj, metadata: meta });
      return [201, JSON.stringify(this.secrets.get(key))];
    }
    if (method === 'PUT' && name !== undefined) {
      let obj: { [key: string]: JsonValue };
      try {
        obj = JSON.parse(body) as { [key: string]: JsonValue };
      } catch {
        return [400, status(400, 'BadRequest', 'body is not JSON')];
      }
      const key = `${namespace}/${name}`;
      const found = this.secrets.get(key);
      if (found === undefined) return [404, status(404, 'NotFound', `secrets "${name}" not found`)];
      const meta = (isJsonObject(obj.metadata) ? obj.metadata : {}) as { [key: string]: JsonValue };
      if (obj.kind !== 'Secret' || meta.name !== name) return [400, status(400, 'BadRequest', 'the name of the object does not match the name on the URL')];
      const stored = (found.metadata as { resourceVersion?: string }).resourceVersion;
      // Optimistic concurrency as the API server does it: a resourceVersion that is not the stored one is a conflict.
      if (meta.resourceVersion !== undefined && meta.resourceVersion !== stored) {
        return [409, status(409, 'Conflict', `Operation cannot be fulfilled on secrets "${name}": the object has been modified; please apply your changes to the latest version and try again`)];
      }
      meta.resourceVersion = String(++this.#rv);
      this.secrets.set(key, { ...obj, metadata: meta });
      return [200, JSON.stringify(this.secrets.get(key))];
    }
    return [405, status(405, 'MethodNotAllowed', 'method not allowed')];
  }

  /** Stops the server. */
  close(): Promise<void> {
    return new Promise((resolve) => {
      this.#server.closeAllConnections();
      this.#server.close(() => resolve());
    });
  }
}

/** A MutatingWebhookConfiguration as the API server stores it, with `hooks` webhooks and no caBundle. */
export function webhookConfigurationFixture(name: string, hooks: readonly string[]): { [key: string]: JsonValue } {
  return {
    apiVersion: 'admissionregistration.k8s.io/v1',
    kind: 'MutatingWebhookConfiguration',
    metadata: { name, uid: '5e7f9a1b-2c3d-4e5f-8a9b-0c1d2e3f4a5b', resourceVersion: '1', generation: 1 },
    webhooks: hooks.map((h) => ({
      name: h,
      clientConfig: { service: { namespace: 'ccmesh-system', name: 'ccmesh-injector', path: '/inject', port: 443 } },
      rules: [{ operations: ['CREATE'], apiGroups: [''], apiVersions: ['v1'], resources: ['pods'], scope: 'Namespaced' }],
      failurePolicy: 'Fail',
      matchPolicy: 'Equivalent',
      sideEffects: 'None',
      admissionReviewVersions: ['v1'],
      timeoutSeconds: 10,
      reinvocationPolicy: 'Never',
    })),
  };
}
