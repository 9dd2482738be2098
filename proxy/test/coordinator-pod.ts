/**
 * A real in-process Coordinator (simulated TEE) with its first manifest set, and one pod's credentials from
 * NewMeshCert written into a temp TLS directory — the starting point of the renewal and trust-refresh tests.
 * Everything is torn down with the test.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Harness } from '../../coordinator/test/harness.js';
import type { PinnedClient } from '../../lib/protocol/client.js';
import type { SetManifestResponse, UserApiMethods } from '../../lib/protocol/messages.js';
import { writeTlsDir } from './pki.js';

/** What {@link coordinatorWithPod} hands the test. */
export interface CoordinatorPod {
  readonly h: Harness;
  readonly user: PinnedClient<UserApiMethods>;
  /** The policy documents of the first manifest (coordinator, pod). */
  readonly policies: readonly Uint8Array[];
  readonly first: SetManifestResponse;
  /** The pod's NewMeshCert answer. */
  readonly pod: Awaited<ReturnType<Harness['newPodCert']>>;
  /** Its TLS directory (key, chain, bundle, root). */
  readonly dir: string;
  /** The Coordinator's mesh API, HOST:PORT. */
  readonly address: string;
}

/** Starts the Coordinator, sets the first manifest and writes one pod's TLS directory. */
export async function coordinatorWithPod(t: { teardown(fn: () => unknown): void }, prefix: string): Promise<CoordinatorPod> {
  const { h, user, mesh } = await Harness.started(t);
  const policies = [h.coordinatorDoc, h.podDoc];
  const first = await user.call('SetManifest', await h.signedSet(user, h.manifest(), policies));
  const pod = await h.newPodCert(mesh);
  const dir = mkdtempSync(join(tmpdir(), prefix));
  t.teardown(() => rmSync(dir, { recursive: true, force: true }));
  const key = (pod.key.privateKey as unknown as { export(o: object): string }).export({ type: 'pkcs8', format: 'pem' }).toString();
  writeTlsDir({ key, chain: pod.res.certChain, meshCaBundle: pod.res.meshCaBundle, rootCa: pod.res.rootCa }, dir);
  return { h, user, policies, first, pod, dir, address: `127.0.0.1:${h.coordinator!.meshPort}` };
}
