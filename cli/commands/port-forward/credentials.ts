/**
 * The operator's credentials for `ccmesh port-forward`: a fresh P-256 key per certificate (it never leaves this
 * process), an operator certificate from the attested Coordinator (IssueOperatorCert, signed for with the workload
 * owner key), and the TLS options each forwarded connection uses. Renewed at half its life, re-attesting the
 * Coordinator each time; a failed renewal is retried and the old certificate stays in use until it expires.
 */
import { generateKeyPairSync, type KeyObject, X509Certificate } from 'node:crypto';
import type { ConnectionOptions } from 'node:tls';
import type { Manifest } from '../../../contract/manifest/types.js';
import { bytesEqual } from '../../../lib/bytes.js';
import { CcmeshError, describeError, ErrorCode } from '../../../lib/errors.js';
import { formatMeshOwnerPin } from '../../../lib/protocol/mesh-owner.js';
import { signedOperatorCertRequest } from '../../../lib/protocol/operator-cert-request.js';
import { UserApi } from '../../../lib/protocol/services.js';
import { attestedSessionWithOwner, type SessionOptions } from '../../coordinator-session.js';

/** One operator certificate and what to verify pods against. */
export interface OperatorCredentials {
  readonly key: KeyObject;
  /** The key as PKCS#8 PEM, exported once (TLS options take PEM). */
  readonly keyPem: string;
  /** Operator certificate then mesh CA, PEM. */
  readonly certChain: string;
  /** Root CA then the mesh CA bundle, PEM: the trust anchors for the pod's certificate. */
  readonly ca: string;
  readonly operatorId: string;
  readonly notBeforeMs: number;
  readonly notAfterMs: number;
}

/** What obtaining a certificate needs. */
export interface CredentialSource {
  readonly coordinator: string;
  readonly manifest: Manifest;
  /** The workspace's mesh owner pin: the Coordinator must serve it. */
  readonly meshOwner: Uint8Array;
  readonly ownerKey: KeyObject;
  readonly session: SessionOptions;
}

/** Attests the Coordinator, checks it serves the workspace's owner, and has an operator certificate issued. */
export async function obtainOperatorCredentials(src: CredentialSource): Promise<OperatorCredentials> {
  const { client, meshOwner } = await attestedSessionWithOwner(src.coordinator, UserApi, src.manifest, src.session);
  try {
    if (!bytesEqual(meshOwner, src.meshOwner)) {
      throw new CcmeshError(ErrorCode.ATTEST_COORDINATOR_WRONG_OWNER, `the Coordinator at ${src.coordinator} serves mesh owner ${formatMeshOwnerPin(meshOwner) || 'none'}, not this workspace's ${formatMeshOwnerPin(src.meshOwner)}: refusing to use its certificates`);
    }
    const key = generateKeyPairSync('ec', { namedCurve: 'P-256' }).privateKey;
    const res = await client.call('IssueOperatorCert', await signedOperatorCertRequest(client, key, src.ownerKey));
    const leaf = new X509Certificate(res.certChain);
    return {
      key,
      keyPem: key.export({ type: 'pkcs8', format: 'pem' }).toString(),
      certChain: res.certChain,
      ca: res.rootCa + res.meshCaBundle,
      operatorId: res.operatorId,
      notBeforeMs: Date.parse(leaf.validFrom),
      notAfterMs: Date.parse(leaf.validTo),
    };
  } finally {
    client.close();
  }
}

/** TLS client options of a forwarded connection with `creds`. */
export function tlsOptionsOf(creds: OperatorCredentials): ConnectionOptions {
  return { key: creds.keyPem, cert: creds.certChain, ca: creds.ca, minVersion: 'TLSv1.3' };
}

/** Keeps credentials current: renews at half life, retries every 30 s on failure. */
export class OperatorCredentialKeeper {
  #current: OperatorCredentials;
  #timer: NodeJS.Timeout | undefined;
  readonly #src: CredentialSource;
  readonly #log: (line: string) => void;

  constructor(initial: OperatorCredentials, src: CredentialSource, log: (line: string) => void) {
    this.#current = initial;
    this.#src = src;
    this.#log = log;
    this.#schedule();
  }

  get current(): OperatorCredentials {
    return this.#current;
  }

  stop(): void {
    clearTimeout(this.#timer);
  }

  #schedule(delayMs?: number): void {
    const c = this.#current;
    const at = delayMs ?? Math.max(1000, (c.notBeforeMs + (c.notAfterMs - c.notBeforeMs) / 2) - Date.now());
    this.#timer = setTimeout(() => void this.#renew(), at);
    this.#timer.unref();
  }

  async #renew(): Promise<void> {
    try {
      this.#current = await obtainOperatorCredentials(this.#src);
      this.#log(`renewed the operator certificate: valid until ${new Date(this.#current.notAfterMs).toISOString()}\n`);
      this.#schedule();
    } catch (err) {
      const left = this.#current.notAfterMs - Date.now();
      this.#log(`renewing the operator certificate failed (${describeError(err)}); the current one is valid for ${Math.max(0, Math.round(left / 1000))} s more; retrying in 30 s\n`);
      this.#schedule(30_000);
    }
  }
}
