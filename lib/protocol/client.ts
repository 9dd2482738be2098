/**
 * A gRPC client to a Coordinator whose TLS key is pinned before any RPC. The Coordinator's certificate is
 * self-signed and changes at every restart, so it can't be validated through a CA; instead the client
 *   1. fetches the certificate once over a bare TLS handshake,
 *   2. trusts exactly that certificate for every gRPC connection (any other key fails the handshake), and
 *   3. lets the caller check the Coordinator's evidence, which binds that key (see binding.ts).
 * Until step 3 succeeds the channel proves only that the same server answers every call.
 */
import { createHash, X509Certificate } from 'node:crypto';
import { connect as tlsConnect } from 'node:tls';
import { credentials, type Client, makeGenericClientConstructor, Metadata, type ServiceError, status as grpcStatus } from '@grpc/grpc-js';
import { CcmeshError, ErrorCode } from '../errors.js';
import { NONCE_LENGTH } from './messages.js';
import type { ApiService } from './services.js';

/** host:port split and checked. */
export function parseAddress(address: string): { host: string; port: number } {
  const m = /^(\[[^\]]+\]|[^:]+):(\d{1,5})$/.exec(address);
  const port = m ? Number(m[2]) : NaN;
  if (!m || port < 1 || port > 65535) throw new CcmeshError(ErrorCode.USAGE, `Coordinator address ${JSON.stringify(address)} is not HOST:PORT`);
  return { host: m[1]!.replace(/^\[|\]$/g, ''), port };
}

/** Fetches the server's certificate with a bare TLS handshake (no trust decision is made here). */
export function fetchServerCertificate(address: string, timeoutMs = 5000): Promise<X509Certificate> {
  const { host, port } = parseAddress(address);
  return new Promise((resolve, reject) => {
    // SECURITY: rejectUnauthorized is off only to read the certificate; nothing is sent on this connection and
    // the certificate is trusted only once the Coordinator's evidence binds its key.
    const socket = tlsConnect({ host, port, rejectUnauthorized: false, ALPNProtocols: ['h2'], servername: /^[\d.:]+$/.test(host) ? undefined : host });
    const timer = setTimeout(() => {
      socket.destroy();
      reject(new CcmeshError(ErrorCode.COORDINATOR_UNREACHABLE, `Coordinator ${address}: no TLS handshake within ${timeoutMs} ms`));
    }, timeoutMs);
    socket.once('secureConnect', () => {
      clearTimeout(timer);
      const peer = socket.getPeerCertificate(false);
      socket.destroy();
      if (!peer?.raw) return reject(new CcmeshError(ErrorCode.COORDINATOR_UNREACHABLE, `Coordinator ${address} presented no certificate`));
      resolve(new X509Certificate(peer.raw));
    });
    socket.once('error', (err) => {
      clearTimeout(timer);
      reject(new CcmeshError(ErrorCode.COORDINATOR_UNREACHABLE, `Coordinator ${address}: ${err.message}`, { cause: err }));
    });
  });
}

/** The GetNonce RPC both services have. */
type WithNonce = { GetNonce: { request: Record<string, never>; response: { nonce: Uint8Array } } };

/**
 * A typed client of one Coordinator service (`UserApi` or `MeshApi`, `services.ts`) bound to one pinned Coordinator
 * certificate: the only way ccmesh's CLI, initializer and sidecar call the Coordinator.
 */
export class PinnedClient<M = unknown> {
  readonly address: string;
  readonly certificate: X509Certificate;
  /** DER SPKI of the pinned key — what the Coordinator's evidence must bind. */
  readonly spki: Uint8Array;
  readonly #client: Client;

  readonly #service: string;

  private constructor(address: string, cert: X509Certificate, service: ApiService<M>) {
    this.address = address;
    this.certificate = cert;
    this.spki = new Uint8Array(cert.publicKey.export({ type: 'spki', format: 'der' }));
    const pinned = createHash('sha256').update(cert.raw).digest('hex');
    const creds = credentials.createSsl(Buffer.from(cert.toString()), null, null, {
      // The hostname is irrelevant: trust is "exactly this certificate", checked by fingerprint.
      checkServerIdentity: (_host, peer) =>
        createHash('sha256').update(peer.raw).digest('hex') === pinned ? undefined : new Error('Coordinator certificate changed since it was pinned'),
    });
    this.#service = service.name;
    const Ctor = makeGenericClientConstructor(service.definition, 'ccmesh');
    this.#client = new Ctor(address, creds, {
      // Pods (MeshAPI) read small answers only; the UserAPI's GetManifests carries the whole history.
      'grpc.max_receive_message_length': service.maxAnswerBytes,
      // SNI must not be an IP address (RFC 6066); the name is irrelevant since trust is the pinned certificate.
      'grpc.ssl_target_name_override': 'ccmesh-coordinator',
      'grpc.default_authority': address,
    });
  }

  /** Pins the certificate the server at `address` presents now. */
  static async connect<M>(address: string, service: ApiService<M>, timeoutMs?: number): Promise<PinnedClient<M>> {
    return new PinnedClient(address, await fetchServerCertificate(address, timeoutMs), service);
  }

  /** Calls a unary method; rejects with a CcmeshError carrying the gRPC status and details. */
  call<K extends keyof M & string>(
    method: K,
    request: M[K] extends { request: infer Q } ? Q : never,
    deadlineMs = 15_000,
  ): Promise<M[K] extends { response: infer R } ? R : never> {
    return new Promise((resolve, reject) => {
      const fn = (this.#client as unknown as Record<string, (req: unknown, md: Metadata, opts: { deadline: number }, cb: (err: ServiceError | null, res: unknown) => void) => void>)[method];
      if (!fn) return reject(new CcmeshError(ErrorCode.INTERNAL, `${this.#service} has no RPC method ${method}`));
      fn.call(this.#client, request, new Metadata(), { deadline: Date.now() + deadlineMs }, (err, res) => {
        if (err) {
          const name = grpcStatus[err.code] ?? String(err.code);
          const code = err.code === grpcStatus.UNAVAILABLE || err.code === grpcStatus.DEADLINE_EXCEEDED ? ErrorCode.COORDINATOR_UNREACHABLE : ErrorCode.COORDINATOR_REFUSED;
          const e = new CcmeshError(code, `${method}: ${name}: ${err.details}`, { cause: err }) as CcmeshError & { grpcCode: number };
          e.grpcCode = err.code;
          return reject(e);
        }
        resolve(res as M[K] extends { response: infer R } ? R : never);
      });
    });
  }

  /** A fresh Coordinator nonce (GetNonce), checked for its length. */
  async nonce(): Promise<Uint8Array> {
    const { nonce } = await (this as unknown as PinnedClient<WithNonce>).call('GetNonce', {});
    if (!(nonce instanceof Uint8Array) || nonce.length !== NONCE_LENGTH) {
      throw new CcmeshError(ErrorCode.COORDINATOR_REFUSED, `GetNonce: the Coordinator at ${this.address} answered a nonce of ${nonce?.length ?? 0} bytes, not ${NONCE_LENGTH}`);
    }
    return new Uint8Array(nonce);
  }

  /** Closes the channel. */
  close(): void {
    this.#client.close();
  }
}
