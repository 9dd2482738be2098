/**
 * The initializer's second mesh-owner check (`obtain.ts`): whatever the Coordinator's evidence said, a NewMeshCert
 * answer that names another owner than the pinned one is dropped before anything is written — the Coordinator may
 * have changed hands between Attest and NewMeshCert. Against a real in-process Coordinator on the simulated TEE.
 */
import t from 'tap';
import { existsSync, readdirSync } from 'node:fs';
import { join } from 'node:path';
import { SimulatedSnpIssuer } from '../../attestation/simulated/snp-issuer.js';
import { Harness, sha256hex } from '../../coordinator/test/harness.js';
import { createLogger } from '../../lib/log.js';
import { parseMeshOwnerPin } from '../../lib/protocol/mesh-owner.js';
import { runInitializer } from '../unit.js';

void t.test('a NewMeshCert answer naming another mesh owner is dropped; the pinned owner\'s is written', async (t) => {
  const { h, user } = await Harness.started(t);
  const set = await user.call('SetManifest', await h.signedSet(user, h.manifest(), [h.coordinatorDoc, h.podDoc]));
  const owner = parseMeshOwnerPin(set.meshOwner)!;
  const otherOwner = new Uint8Array(owner).map((b) => b ^ 0x5a);
  const run = async (name: string, meshOwner: Uint8Array): Promise<{ dir: string; log: string; outcome: unknown }> => {
    const dir = join(h.dir, name);
    const abort = new AbortController();
    let log = '';
    const logger = createLogger({ component: 'initializer', level: 'info', sink: (line) => {
      log += `${line}\n`;
      // Stop after the first refused attempt (the initializer would retry forever).
      if (line.includes('attestation attempt failed')) abort.abort();
    } });
    const outcome = await runInitializer(
      { coordinator: `127.0.0.1:${h.coordinator!.meshPort}`, meshOwner, tlsDir: join(dir, 'tls'), secretPath: join(dir, 'secret'), meshDisabled: false, maxBackoffMs: 1000 },
      { issuer: () => Promise.resolve(new SimulatedSnpIssuer(h.platform, { hostData: Buffer.from(sha256hex(h.podDoc), 'hex') })), installGuard: undefined, logger, signal: abort.signal },
    ).then((written) => written, (err: unknown) => err);
    return { dir, log, outcome };
  };

  const wrong = await run('wrong-owner', otherOwner);
  t.ok(wrong.outcome instanceof Error, 'the initializer does not finish');
  t.match(wrong.log, new RegExp(`the Coordinator's answer names mesh owner \\\\"${set.meshOwner}\\\\", not the pinned ${Buffer.from(otherOwner).toString('hex')}`), 'the answer is refused for its owner');
  t.same(existsSync(join(wrong.dir, 'tls')) ? readdirSync(join(wrong.dir, 'tls')) : [], [], 'no credential file');
  t.notOk(existsSync(join(wrong.dir, 'secret')), 'no workload secret');

  const right = await run('pinned-owner', owner);
  t.ok(Array.isArray(right.outcome), `the pinned owner's answer is written (${String(right.outcome)})`);
  t.ok(existsSync(join(right.dir, 'secret')), 'with the workload secret');
});
