/**
 * Pinned config volumes (`ccmesh.dev/config-volumes`) are read by the app only through the initializer's verified
 * in-memory copy: every user container's mount of such a volume is switched to `ccmesh-config-<volume>` (read-only,
 * same path), only the initializer mounts the host-synced original, and the switch is idempotent — an injected pod,
 * or one whose controller added the ServiceAccount token mount, passes through unchanged; a volume dropped from the
 * annotation goes back to being mounted itself. A property test varies which containers mount the volumes and how.
 */
import { isDeepStrictEqual } from 'node:util';
import fc from 'fast-check';
import t from 'tap';
import { inject, type KubeObject } from './inject.js';

type Obj = Record<string, unknown>;

const spec = (o: KubeObject): Obj => o.spec as Obj;
const userContainers = (o: KubeObject): Obj[] => [
  ...((spec(o).initContainers as Obj[] | undefined) ?? []).filter((c) => c.name !== 'ccmesh-initializer' && c.name !== 'ccmesh-proxy'),
  ...(spec(o).containers as Obj[]),
];
const mounts = (c: Obj): Obj[] => (c.volumeMounts as Obj[] | undefined) ?? [];
const initializer = (o: KubeObject): Obj => (spec(o).initContainers as Obj[]).find((c) => c.name === 'ccmesh-initializer')!;

function pod(): KubeObject {
  return {
    apiVersion: 'v1',
    kind: 'Pod',
    metadata: { name: 'web', namespace: 'shop', annotations: { 'ccmesh.dev/config-volumes': 'settings,tls-files' } },
    spec: {
      initContainers: [{ name: 'warm', image: 'w', volumeMounts: [{ name: 'settings', mountPath: '/etc/web/' }] }],
      containers: [
        { name: 'web', image: 'i', volumeMounts: [{ name: 'settings', mountPath: '/etc/web/', readOnly: false, mountPropagation: 'None' }, { name: 'tls-files', mountPath: '/run/tls', readOnly: true }, { name: 'cache', mountPath: '/cache' }] },
        { name: 'side', image: 's', volumeMounts: [{ mountPath: '/run/tls', name: 'tls-files' }] },
      ],
      volumes: [{ name: 'settings', configMap: { name: 'web' } }, { name: 'tls-files', secret: { secretName: 'web-tls' } }, { name: 'cache', emptyDir: {} }],
    },
  };
}

void t.test('inject: the app reads the verified copy of every pinned volume, never the host-synced one', async (t) => {
  const out = inject(pod());
  const originals = userContainers(out).flatMap((c) => mounts(c).filter((m) => m.name === 'settings' || m.name === 'tls-files').map((m) => `${String(c.name)}: ${String(m.name)}`));
  t.same(originals, [], 'no user container mounts a host-synced pinned volume');
  const web = (spec(out).containers as Obj[])[0]!;
  t.same(mounts(web).slice(0, 3), [
    { name: 'ccmesh-config-settings', mountPath: '/etc/web/', readOnly: true, mountPropagation: 'None' },
    { name: 'ccmesh-config-tls-files', mountPath: '/run/tls', readOnly: true },
    { name: 'cache', mountPath: '/cache' },
  ], 'switched in place: same path, read-only, other keys and other volumes kept');
  t.same(Object.keys(mounts(web)[0]!), ['name', 'mountPath', 'readOnly', 'mountPropagation'], 'key order kept');
  t.same(mounts((spec(out).containers as Obj[])[1]!)[0], { mountPath: '/run/tls', name: 'ccmesh-config-tls-files', readOnly: true });
  t.same(mounts(userContainers(out)[0]!)[0], { name: 'ccmesh-config-settings', mountPath: '/etc/web/', readOnly: true }, 'user init containers too');

  const init = initializer(out);
  t.same(mounts(init), [
    { name: 'ccmesh', mountPath: '/ccmesh' },
    { name: 'settings', mountPath: '/etc/web/', readOnly: true },
    { name: 'ccmesh-config-settings', mountPath: '/ccmesh-config/settings' },
    { name: 'tls-files', mountPath: '/run/tls', readOnly: true },
    { name: 'ccmesh-config-tls-files', mountPath: '/ccmesh-config/tls-files' },
  ], 'only the initializer mounts the originals, next to the copies it writes');
  t.same((init.args as string[]).slice(-4), ['--config-volume', 'settings=/etc/web', '--config-volume', 'tls-files=/run/tls'], 'pinned args name each volume and its configDigests key (no trailing slash)');
  t.same((spec(out).volumes as Obj[]).slice(3), [
    { name: 'ccmesh', emptyDir: { medium: 'Memory' } },
    { name: 'ccmesh-config-settings', emptyDir: { medium: 'Memory' } },
    { name: 'ccmesh-config-tls-files', emptyDir: { medium: 'Memory' } },
  ], 'one in-memory volume per copy, never a subPath of another volume');
});

void t.test('inject: an injected pod passes through unchanged, also with the ServiceAccount token mounts added', async (t) => {
  const once = inject(pod());
  const twice = inject(once);
  t.ok(isDeepStrictEqual(twice, once), 'deep-equal');
  t.equal(JSON.stringify(twice), JSON.stringify(once), 'same JSON bytes');
  const admitted = structuredClone(once);
  for (const c of [...(spec(admitted).initContainers as Obj[]), ...(spec(admitted).containers as Obj[])]) {
    c.volumeMounts = [...mounts(c), { name: 'kube-api-access-x', mountPath: '/var/run/secrets/kubernetes.io/serviceaccount', readOnly: true }];
  }
  t.equal(JSON.stringify(inject(admitted)), JSON.stringify(admitted), 'a pod created from the injected template is unchanged');
});

void t.test('inject: a volume dropped from config-volumes of an injected pod goes back to the volume itself', async (t) => {
  const once = inject(pod());
  ((once.metadata as Obj).annotations as Obj)['ccmesh.dev/config-volumes'] = 'tls-files';
  const again = inject(once);
  const web = (spec(again).containers as Obj[])[0]!;
  t.same(mounts(web)[0], { name: 'settings', mountPath: '/etc/web/', readOnly: true, mountPropagation: 'None' }, 'the app mounts settings itself again (the initializer no longer fills its copy)');
  t.same(mounts(web)[1], { name: 'ccmesh-config-tls-files', mountPath: '/run/tls', readOnly: true }, 'the still-pinned volume stays on its copy');
  t.notOk((spec(again).volumes as Obj[]).some((v) => v.name === 'ccmesh-config-settings'), 'the unused copy volume is dropped');
  t.same((initializer(again).args as string[]).slice(-2), ['--config-volume', 'tls-files=/run/tls']);
  t.equal(JSON.stringify(inject(again)), JSON.stringify(again), 'and that is stable');
});

void t.test('inject: a pod without config-volumes keeps its mounts of ConfigMaps as they are', async (t) => {
  const p = pod();
  delete (p.metadata as Obj).annotations;
  const out = inject(p);
  t.same(mounts((spec(out).containers as Obj[])[0]!)[0], { name: 'settings', mountPath: '/etc/web/', readOnly: false, mountPropagation: 'None' });
  t.notOk((spec(out).volumes as Obj[]).some((v) => String(v.name).startsWith('ccmesh-config-')), 'no copy volumes');
});

void t.test('property: whoever mounts a pinned volume, and however, reads the copy; inject is idempotent', async (t) => {
  const mountArb = fc.record({ vol: fc.constantFrom('settings', 'tls-files', 'cache'), readOnly: fc.constantFrom(undefined, true, false) });
  let checked = 0;
  fc.assert(fc.property(fc.array(fc.array(mountArb, { maxLength: 4 }), { minLength: 1, maxLength: 3 }), fc.subarray(['settings', 'tls-files']), (containers, pinned) => {
    const path = (v: string): string => `/etc/${v}`;
    const p: KubeObject = {
      kind: 'Pod',
      metadata: { name: 'p', annotations: { 'ccmesh.dev/config-volumes': pinned.join(',') } },
      spec: {
        containers: containers.map((ms, i) => ({
          name: `c${i}`,
          image: 'i',
          volumeMounts: [...new Map(ms.map((m) => [m.vol, { name: m.vol, mountPath: path(m.vol), ...(m.readOnly === undefined ? {} : { readOnly: m.readOnly }) }])).values()],
        })),
        volumes: [{ name: 'settings', configMap: { name: 's' } }, { name: 'tls-files', secret: { secretName: 't' } }, { name: 'cache', emptyDir: {} }],
      },
    };
    const mounted = new Set<string>(containers.flat().map((m) => m.vol));
    let out: KubeObject;
    try {
      out = inject(p);
    } catch (err) {
      // The only refusal here: a pinned volume that no container mounts.
      return pinned.some((v) => !mounted.has(v)) && /is not mounted by any container/.test((err as Error).message);
    }
    checked++;
    for (const c of userContainers(out)) {
      for (const m of mounts(c)) {
        if ((pinned as string[]).includes(String(m.name))) return false;
        if (String(m.name).startsWith('ccmesh-config-') && (m.readOnly !== true || m.mountPath !== path(String(m.name).slice('ccmesh-config-'.length)))) return false;
      }
    }
    return JSON.stringify(inject(out)) === JSON.stringify(out);
  }), { numRuns: 300 });
  t.ok(checked > 50, `${checked} injected pods checked`);
});
