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
import type { ServiceDefinition } from '@grpc/grpc-js';
import { CcmeshError, ErrorCode } from '../errors.js';
import { UserApi } from './services.js';
import { MAX_HISTORY_ANSWER_BYTES, MAX_MESSAGE_BYTES } from './wire.js';

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

/** A client bound to one pinned Coordinator certificate. */
export class PinnedClient {
  readonly address: string;
  readonly certificate: X509Certificate;
  /** DER SPKI of the pinned key — what the Coordinator's evidence must bind. */
  readonly spki: Uint8Array;
  readonly #client: Client;

  private constructor(address: string, cert: X509Certificate, service: ServiceDefinition) {
    this.address = address;
    this.certificate = cert;
    this.spki = new Uint8Array(cert.publicKey.export({ type: 'spki', format: 'der' }));
    const pinned = createHash('sha256').update(cert.raw).digest('hex');
    const creds = credentials.createSsl(Buffer.from(cert.toString()), null, null, {
      // The hostname is irrelevant: trust is "exactly this certificate", checked by fingerprint.
      checkServerIdentity: (_host, peer) =>
        createHash('sha256').update(peer.raw).digest('hex') === pinned ? undefined : new Error('Coordinator certificate changed since it was pinned'),
    });
    const Ctor = makeGenericClientConstructor(service, 'ccmesh');
    this.#client = new Ctor(address, creds, {
      // Pods (MeshAPI) read small answers only; the UserAPI's GetManifests carries the whole history.
      'grpc.max_receive_message_length': service === UserApi ? MAX_HISTORY_ANSWER_BYTES : MAX_MESSAGE_BYTES,
      // SNI must not be an IP address (RFC 6066); the name is irrelevant since trust is the pinned certificate.
      'grpc.ssl_target_name_override': 'ccmesh-coordinator',
      'grpc.default_authority': address,
    });
  }

  /** Pins the certificate the server at `address` presents now. */
  static async connect(address: string, service: ServiceDefinition, timeoutMs?: number): Promise<PinnedClient> {
    return new PinnedClient(address, await fetchServerCertificate(address, timeoutMs), service);
  }

  /** Calls a unary method; rejects with a CcmeshError carrying the gRPC status and details. */
  call<T>(method: string, request: unknown, deadlineMs = 15_000): Promise<T> {
    return new Promise((resolve, reject) => {
      const fn = (this.#client as unknown as Record<string, (req: unknown, md: Metadata, opts: { deadline: number }, cb: (err: ServiceError | null, res: unknown) => void) => void>)[method];
      if (!fn) return reject(new CcmeshError(ErrorCode.INTERNAL, `unknown RPC method ${method}`));
      fn.call(this.#client, request, new Metadata(), { deadline: Date.now() + deadlineMs }, (err, res) => {
        if (err) {
          const name = grpcStatus[err.code] ?? String(err.code);
          const code = err.code === grpcStatus.UNAVAILABLE || err.code === grpcStatus.DEADLINE_EXCEEDED ? ErrorCode.COORDINATOR_UNREACHABLE : ErrorCode.COORDINATOR_REFUSED;
          const e = new CcmeshError(code, `${method}: ${name}: ${err.details}`, { cause: err }) as CcmeshError & { grpcCode: number };
          e.grpcCode = err.code;
          return reject(e);
        }
        resolve(res as T);
      });
    });
  }

  /** Closes the channel. */
  close(): void {
    this.#client.close();
  }
}
