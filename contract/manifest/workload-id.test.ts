/** A workload-secret id is also the SPIFFE path of the workload's identity, so the manifest refuses anything else. */
import t from 'tap';
import { ConfigError } from '../../lib/errors.js';
import { parseManifestValue } from './parse.js';
import { fullDocument, manifestFixtures } from '../../test/support/manifest.js';

void t.test('workloadSecretId must be a SPIFFE path', async (t) => {
  const f = await manifestFixtures();
  const ok = fullDocument(f);
  const hash = Object.keys(ok.policies)[0]!;
  for (const id of ['apps/v1/Deployment/default/web', 'web', 'a.b-c_d/e']) {
    const doc = structuredClone(ok);
    doc.policies[hash]!.workloadSecretId = id;
    t.doesNotThrow(() => parseManifestValue(doc), id);
  }
  for (const id of ['a//b', '../etc', 'has space', '/leading', 'trailing/', 'percent%2F']) {
    const doc = structuredClone(ok);
    doc.policies[hash]!.workloadSecretId = id;
    const err = (() => {
      try {
        parseManifestValue(doc);
        return undefined;
      } catch (e) {
        return e;
      }
    })();
    t.ok(err instanceof ConfigError, id);
    t.match((err as ConfigError).issues.map((i) => i.field).join(','), new RegExp(`policies\\.${hash}\\.workloadSecretId`), id);
  }
});
