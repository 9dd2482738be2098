/** Config digests of injected templates: SHA-256 computed here from the contents this test writes. */
import { createHash } from 'node:crypto';
import t from 'tap';
import { INJECTED } from '../constants.js';
import { buildConfigDigests, configSourceKey } from './config-digests.js';

const sha = (s: string | Buffer): string => createHash('sha256').update(s).digest('hex');

/** A template as `inject` leaves it: the initializer mounts each config volume where the app does. */
function template(volumes: object[], mounts: { name: string; mountPath: string }[]): Record<string, unknown> {
  return { spec: { volumes, containers: [{ name: 'app' }], initContainers: [{ name: INJECTED.initializer, volumeMounts: [{ name: INJECTED.volume, mountPath: '/ccmesh' }, ...mounts] }] } };
}

const sources = new Map<string, Record<string, unknown>>([
  [configSourceKey('ConfigMap', 'ns', 'cm'), { data: { 'a.conf': 'x=1\n', b: 'two' }, binaryData: { 'bin.dat': Buffer.from([0, 1, 2]).toString('base64') } }],
  [configSourceKey('Secret', 'ns', 'sec'), { data: { token: Buffer.from('s3cret').toString('base64'), over: Buffer.from('old').toString('base64') }, stringData: { over: 'new' } }],
]);

void t.test('every key of a ConfigMap (data and binaryData) at the initializer\'s mount path', (t) => {
  const r = buildConfigDigests(template([{ name: 'cfg', configMap: { name: 'cm' } }], [{ name: 'cfg', mountPath: '/etc/app/' }]), ['cfg'], 'ns', sources);
  t.same(r.digests, { '/etc/app': { 'a.conf': sha('x=1\n'), b: sha('two'), 'bin.dat': sha(Buffer.from([0, 1, 2])) } });
  t.same(r.warnings, []);
  t.end();
});

void t.test('items select and rename keys; Secrets decode data and let stringData win', (t) => {
  const tpl = template(
    [{ name: 'cfg', configMap: { name: 'cm', items: [{ key: 'a.conf', path: 'sub/app.conf' }] } }, { name: 'creds', secret: { secretName: 'sec' } }],
    [{ name: 'cfg', mountPath: '/etc/app' }, { name: 'creds', mountPath: '/run/creds' }],
  );
  const r = buildConfigDigests(tpl, ['cfg', 'creds'], 'ns', sources);
  t.same(r.digests, { '/etc/app': { 'sub/app.conf': sha('x=1\n') }, '/run/creds': { over: sha('new'), token: sha('s3cret') } });
  t.end();
});

void t.test('volumes that cannot be pinned are warnings, and get no digests', (t) => {
  const tpl = template(
    [{ name: 'other-ns', configMap: { name: 'cm' } }, { name: 'scratch', emptyDir: {} }, { name: 'bad-item', configMap: { name: 'cm', items: [{ key: 'nope', path: 'p' }] } }],
    [{ name: 'other-ns', mountPath: '/a' }, { name: 'scratch', mountPath: '/b' }, { name: 'bad-item', mountPath: '/c' }],
  );
  const r = buildConfigDigests(tpl, ['other-ns', 'scratch', 'bad-item', 'unmounted'], 'elsewhere', sources);
  t.same(r.digests, {});
  t.equal(r.warnings.length, 4);
  t.match(r.warnings[0], /ConfigMap elsewhere\/cm is not in the input; its digests must be added by hand/);
  t.match(r.warnings[1], /neither a ConfigMap nor a Secret/);
  t.match(r.warnings[3], /not mounted by the injected initializer/);
  t.end();
});
