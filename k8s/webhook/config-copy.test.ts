/**
 * The webhook and pinned config volumes: a Pod created by a controller with `ccmesh.dev/config-volumes` gets a patch
 * that switches the app's mount of the ConfigMap to the verified in-memory copy (the pod as created never reads the
 * host-synced volume), and the patched Pod, sent again, needs no patch.
 */
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import t from 'tap';
import { repoRoot } from '../../test/fixtures.js';
import { ANNOTATIONS } from '../constants.js';
import { inject, type KubeObject } from '../inject/inject.js';
import { reviewAdmission } from './admission.js';
import { applyPatch } from './apply-patch.js';
import type { JsonValue } from './json-patch.js';

type Obj = Record<string, unknown>;
type Review = { request: { object: { [key: string]: JsonValue }; [key: string]: JsonValue }; [key: string]: JsonValue };

void t.test('a Pod with a pinned ConfigMap volume is patched to read the verified copy; the patched Pod needs no patch', async (t) => {
  const review = JSON.parse(readFileSync(join(repoRoot, 'k8s', 'webhook', 'testdata', 'admission', 'pod-from-replicaset.json'), 'utf8')) as Review;
  const pod = review.request.object as Obj;
  (pod.metadata as { annotations: Record<string, string> }).annotations[ANNOTATIONS.configVolumes] = 'settings';
  const spec = pod.spec as { volumes: Obj[]; containers: { volumeMounts: Obj[] }[] };
  spec.volumes.push({ name: 'settings', configMap: { name: 'web-settings', defaultMode: 420 } });
  spec.containers[0]!.volumeMounts.unshift({ name: 'settings', readOnly: true, mountPath: '/etc/web' });

  const r = reviewAdmission(review);
  if (!r.ok) throw new Error(r.problems.join('; '));
  t.equal(r.outcome, 'injected');
  t.ok(r.ops.some((o) => o.path.startsWith('/spec/containers/0/volumeMounts') && JSON.stringify('value' in o ? o.value : null).includes('"ccmesh-config-settings"')), 'the patch switches the app\'s mount to the copy');
  const patched = applyPatch(review.request.object, r.ops) as Obj;
  t.same(patched, JSON.parse(JSON.stringify(inject(structuredClone(pod) as KubeObject))), 'patched object deep-equals inject(object)');
  const pspec = patched.spec as { containers: { volumeMounts: Obj[] }[]; initContainers: { name: string; volumeMounts: Obj[]; args: string[] }[]; volumes: Obj[] };
  t.same(pspec.containers[0]!.volumeMounts[0], { name: 'ccmesh-config-settings', readOnly: true, mountPath: '/etc/web' });
  const init = pspec.initContainers.find((c) => c.name === 'ccmesh-initializer')!;
  t.ok(init.volumeMounts.some((m) => m.name === 'settings' && m.mountPath === '/etc/web'), 'only the initializer mounts the ConfigMap');
  t.same(init.args.slice(-2), ['--config-volume', 'settings=/etc/web']);
  t.ok(pspec.volumes.some((v) => v.name === 'ccmesh-config-settings' && JSON.stringify(v.emptyDir) === '{"medium":"Memory"}'), 'the copy is an in-memory volume');

  review.request.object = patched as { [key: string]: JsonValue };
  const again = reviewAdmission(review);
  if (!again.ok) throw new Error(again.problems.join('; '));
  t.equal(again.outcome, 'unchanged', 'an injected Pod passes with no patch');
});
