/**
 * Manifest parsing: valid documents become frozen typed manifests; each broken rule is reported at its exact JSON
 * path; every problem of a document is reported at once.
 */
import t from 'tap';
import { ConfigError, type ConfigIssue } from '../../lib/errors.js';
import { buildManifestDocument } from './document.js';
import { parseManifest, parseManifestValue } from './parse.js';
import { fullDocument, manifestFixtures, minimalDocument, SIMULATED_MEASUREMENT, type EditableDoc } from '../../test/support/manifest.js';
import { DEFAULT_LEAF_LIFETIME_MS } from './types.js';

const f = await manifestFixtures();
const A = f.policyA;
const B = f.policyB;

function issuesOf(doc: unknown): ConfigIssue[] {
  try {
    parseManifestValue(doc);
  } catch (err) {
    if (err instanceof ConfigError) return [...err.issues];
    throw err;
  }
  return [];
}

/** A deep copy of the full document with `edit` applied. */
function edited(edit: (d: EditableDoc) => void): unknown {
  const d = structuredClone(fullDocument(f)) as EditableDoc;
  edit(d);
  return d;
}

void t.test('minimal document: defaults filled in, everything frozen', (t) => {
  const m = parseManifestValue(minimalDocument(f));
  t.equal(m.version, 1);
  t.equal(m.trustDomain, 'ccmesh.local');
  t.equal(m.meshCert.leafLifetimeMs, DEFAULT_LEAF_LIFETIME_MS);
  t.same(Object.keys(m.policies), []);
  t.same(Object.keys(m.configDigests), []);
  t.equal(m.referenceValues.simulated.length, 1);
  t.match(m.referenceValues.simulated[0]?.ark.subject, /SIMULATED/);
  t.ok(Object.isFrozen(m) && Object.isFrozen(m.referenceValues) && Object.isFrozen(m.referenceValues.simulated[0]));
  t.end();
});

void t.test('full document: normalised values, keys usable, crypto handles unfrozen and working', (t) => {
  const doc = fullDocument(f);
  doc.policies[A.toUpperCase()] = doc.policies[A]!;
  delete doc.policies[A];
  doc.policies[A.toUpperCase()]!.sans = ['WEB', '*.Web.Default.svc', '10.0.0.1', '2001:DB8:0:0::1'];
  doc.workloadOwnerKeys = [f.ownerEc.toUpperCase()];
  const m = parseManifestValue(doc);
  const a = m.policies[A as keyof typeof m.policies];
  t.same(a?.sans, ['web', '*.web.default.svc', '10.0.0.1', '2001:db8::1']);
  t.equal(a?.workloadSecretId, 'apps/v1/Deployment/default/web');
  t.equal(m.policies[B as keyof typeof m.policies]?.role, 'coordinator');
  t.equal(m.workloadOwnerKeys[0]?.spkiHex, f.ownerEc);
  t.equal(m.workloadOwnerKeys[0]?.key.asymmetricKeyType, 'ec');
  t.equal(m.seedshareOwnerKeys[0]?.key.asymmetricKeyDetails?.modulusLength, 3072);
  t.same(m.referenceValues.snp[0]?.measurements, ['ab'.repeat(48)]);
  t.equal(m.referenceValues.snp[0]?.allowDebug, false);
  t.same(m.referenceValues.tdx[0]?.mrTd, ['cd'.repeat(48)]);
  t.equal(m.configDigests[A as keyof typeof m.configDigests]?.['/etc/web']?.['nginx.conf'], 'ef'.repeat(32));
  t.ok(Object.isFrozen(a) && Object.isFrozen(a?.sans) && Object.isFrozen(m.policies));
  t.throws(() => {
    (m.policies as Record<string, unknown>)['x'] = 1;
  });
  t.end();
});

void t.test('bytes and string sources parse alike; a BOM-free UTF-8 check applies to bytes', (t) => {
  const text = JSON.stringify(minimalDocument(f));
  t.equal(parseManifest(new TextEncoder().encode(text)).trustDomain, parseManifest(text).trustDomain);
  const bad = new Uint8Array([0x7b, 0xff, 0x7d]);
  const err = t.throws(() => parseManifest(bad)) as ConfigError;
  t.same(err.issues, [{ field: '$', value: undefined, expected: 'UTF-8 text' }]);
  t.end();
});

interface Case {
  readonly name: string;
  readonly edit: (d: EditableDoc) => void;
  readonly field: string;
  readonly expected?: RegExp;
}

const cases: Case[] = [
  { name: 'unknown top-level key', edit: (d) => { d['polices'] = {}; }, field: 'polices', expected: /one of the keys version, trustDomain/ },
  { name: 'missing version', edit: (d) => { delete d['version']; }, field: 'version' },
  { name: 'wrong version', edit: (d) => { d['version'] = 2; }, field: 'version' },
  { name: 'bad trust domain', edit: (d) => { d['trustDomain'] = 'under_score..local'; }, field: 'trustDomain' },
  { name: 'missing policies', edit: (d) => { delete d['policies']; }, field: 'policies' },
  { name: 'policies not an object', edit: (d) => { d['policies'] = []; }, field: 'policies' },
  { name: 'policy hash too short', edit: (d) => { d['policies']['abcd'] = d['policies'][A]; }, field: 'policies.abcd', expected: /64 hex/ },
  { name: 'policy hash twice in different case', edit: (d) => { d['policies'][A.toUpperCase()] = d['policies'][A]; }, field: `policies.${A.toUpperCase()}`, expected: /once/ },
  { name: 'policy entry not an object', edit: (d) => { d['policies'][A] = 'web'; }, field: `policies.${A}` },
  { name: 'unknown policy key', edit: (d) => { d['policies'][A].san = ['x']; }, field: `policies.${A}.san` },
  { name: 'empty sans', edit: (d) => { d['policies'][A].sans = []; }, field: `policies.${A}.sans` },
  { name: 'missing sans', edit: (d) => { delete d['policies'][A].sans; }, field: `policies.${A}.sans` },
  { name: 'SAN with a space', edit: (d) => { d['policies'][A].sans = ['web', 'bad name']; }, field: `policies.${A}.sans[1]` },
  { name: 'SAN wildcard in the middle', edit: (d) => { d['policies'][A].sans = ['a.*.b']; }, field: `policies.${A}.sans[0]` },
  { name: 'SAN bare wildcard', edit: (d) => { d['policies'][A].sans = ['*']; }, field: `policies.${A}.sans[0]` },
  { name: 'SAN invalid IPv4-looking', edit: (d) => { d['policies'][A].sans = ['10.0.0.256']; }, field: `policies.${A}.sans[0]` },
  { name: 'SAN IPv6 with zone', edit: (d) => { d['policies'][A].sans = ['fe80::1%eth0']; }, field: `policies.${A}.sans[0]` },
  { name: 'SAN not a string', edit: (d) => { d['policies'][A].sans = [7]; }, field: `policies.${A}.sans[0]` },
  { name: 'duplicate SAN after case folding', edit: (d) => { d['policies'][A].sans = ['web', 'WEB']; }, field: `policies.${A}.sans[1]`, expected: /once/ },
  { name: 'duplicate IPv6 SAN in two spellings', edit: (d) => { d['policies'][A].sans = ['::1', '0:0::1']; }, field: `policies.${A}.sans[1]` },
  { name: 'empty workloadSecretId', edit: (d) => { d['policies'][A].workloadSecretId = ''; }, field: `policies.${A}.workloadSecretId` },
  { name: 'workloadSecretId with a newline', edit: (d) => { d['policies'][A].workloadSecretId = 'a\nb'; }, field: `policies.${A}.workloadSecretId` },
  { name: 'workloadSecretId too long', edit: (d) => { d['policies'][A].workloadSecretId = 'x'.repeat(257); }, field: `policies.${A}.workloadSecretId` },
  { name: 'unknown role', edit: (d) => { d['policies'][A].role = 'admin'; }, field: `policies.${A}.role` },
  { name: 'missing role', edit: (d) => { delete d['policies'][A].role; }, field: `policies.${A}.role` },
  { name: 'missing referenceValues', edit: (d) => { delete d['referenceValues']; }, field: 'referenceValues' },
  { name: 'unknown referenceValues key', edit: (d) => { d['referenceValues'].sev = []; }, field: 'referenceValues.sev' },
  { name: 'missing tdx list', edit: (d) => { delete d['referenceValues'].tdx; }, field: 'referenceValues.tdx' },
  { name: 'snp not a list', edit: (d) => { d['referenceValues'].snp = {}; }, field: 'referenceValues.snp' },
  { name: 'bad SNP measurement', edit: (d) => { d['referenceValues'].snp = [{ measurements: ['ab'.repeat(48)] }, { measurements: ['zz'] }]; }, field: 'referenceValues.snp[1].measurements[0]', expected: /48 bytes of hex/ },
  { name: 'SNP reportData is never fixed', edit: (d) => { d['referenceValues'].snp = [{ measurements: ['ab'.repeat(48)], reportData: '00'.repeat(64) }]; }, field: 'referenceValues.snp[0].reportData' },
  { name: 'bad TDX field', edit: (d) => { d['referenceValues'].tdx = [{ mrTd: 'x' }]; }, field: 'referenceValues.tdx[0].mrTd' },
  { name: 'TDX reportData is never fixed', edit: (d) => { d['referenceValues'].tdx = [{ mrTd: ['cd'.repeat(48)], reportData: '00'.repeat(64) }]; }, field: 'referenceValues.tdx[0].reportData' },
  { name: 'trusts nothing', edit: (d) => { d['referenceValues'] = { snp: [], tdx: [], simulated: [] }; }, field: 'referenceValues', expected: /at least one entry/ },
  { name: 'simulated entry not an object', edit: (d) => { d['referenceValues'].simulated = ['x']; }, field: 'referenceValues.simulated[0]' },
  { name: 'simulated root is a real AMD ARK', edit: (d) => { d['referenceValues'].simulated[0].ark = f.realArkPem; }, field: 'referenceValues.simulated[0].ark', expected: /real AMD roots belong to referenceValues.snp/ },
  { name: 'simulated ark with a private key pasted along', edit: (d) => { d['referenceValues'].simulated[0].ark += '\n-----BEGIN PRIVATE KEY-----\nAAAA\n-----END PRIVATE KEY-----\n'; }, field: 'referenceValues.simulated[0].ark' },
  { name: 'simulated ark not PEM', edit: (d) => { d['referenceValues'].simulated[0].ark = 'hello'; }, field: 'referenceValues.simulated[0].ark' },
  { name: 'simulated name twice', edit: (d) => { d['referenceValues'].simulated.push({ ...d['referenceValues'].simulated[0] }); }, field: 'referenceValues.simulated[1].name' },
  { name: 'simulated name bad', edit: (d) => { d['referenceValues'].simulated[0].name = 'a b'; }, field: 'referenceValues.simulated[0].name' },
  { name: 'simulated snp bad', edit: (d) => { d['referenceValues'].simulated[0].snp = { vmpl: 9 }; }, field: 'referenceValues.simulated[0].snp.vmpl' },
  { name: 'simulated snp missing', edit: (d) => { delete d['referenceValues'].simulated[0].snp; }, field: 'referenceValues.simulated[0].snp' },
  { name: 'owner key not hex', edit: (d) => { d['workloadOwnerKeys'] = ['nothex']; }, field: 'workloadOwnerKeys[0]' },
  { name: 'owner key is RSA', edit: (d) => { d['workloadOwnerKeys'] = [f.ownerEc, f.seedRsa]; }, field: 'workloadOwnerKeys[1]', expected: /got a rsa key/ },
  { name: 'owner key twice in two cases', edit: (d) => { d['workloadOwnerKeys'] = [f.ownerEc, f.ownerEc.toUpperCase()]; }, field: 'workloadOwnerKeys[1]', expected: /once/ },
  { name: 'missing owner keys', edit: (d) => { delete d['workloadOwnerKeys']; }, field: 'workloadOwnerKeys' },
  { name: 'seedshare key is EC', edit: (d) => { d['seedshareOwnerKeys'] = [f.ownerEc]; }, field: 'seedshareOwnerKeys[0]' },
  { name: 'seedshare key RSA-2048', edit: (d) => { d['seedshareOwnerKeys'] = [f.smallRsa]; }, field: 'seedshareOwnerKeys[0]', expected: /got 2048 bits/ },
  { name: 'seedshare list not a list', edit: (d) => { d['seedshareOwnerKeys'] = f.seedRsa; }, field: 'seedshareOwnerKeys' },
  { name: 'leaf lifetime too short', edit: (d) => { d['meshCert'] = { leafLifetime: '30m' }; }, field: 'meshCert.leafLifetime' },
  { name: 'leaf lifetime too long', edit: (d) => { d['meshCert'] = { leafLifetime: '721h' }; }, field: 'meshCert.leafLifetime' },
  { name: 'leaf lifetime a number', edit: (d) => { d['meshCert'] = { leafLifetime: 86400 }; }, field: 'meshCert.leafLifetime' },
  { name: 'meshCert unknown key', edit: (d) => { d['meshCert'].renewAt = '50%'; }, field: 'meshCert.renewAt' },
  { name: 'configDigests for an unknown policy', edit: (d) => { d['configDigests'] = { ['b'.repeat(64)]: {} }; }, field: `configDigests.${'b'.repeat(64)}`, expected: /key of policies/ },
  { name: 'configDigests mount relative', edit: (d) => { d['configDigests'][A] = { 'etc/web': {} }; }, field: `configDigests.${A}.etc/web` },
  { name: 'configDigests mount with ..', edit: (d) => { d['configDigests'][A] = { '/etc/../root': {} }; }, field: `configDigests.${A}./etc/../root` },
  { name: 'configDigests file with ..', edit: (d) => { d['configDigests'][A]['/etc/web'] = { '../shadow': '00'.repeat(32) }; }, field: `configDigests.${A}./etc/web.../shadow` },
  { name: 'configDigests file absolute', edit: (d) => { d['configDigests'][A]['/etc/web'] = { '/x': '00'.repeat(32) }; }, field: `configDigests.${A}./etc/web./x` },
  { name: 'configDigests digest not sha256', edit: (d) => { d['configDigests'][A]['/etc/web'] = { x: 'abc' }; }, field: `configDigests.${A}./etc/web.x`, expected: /32 bytes of hex/ },
];

void t.test('each rule violated → one issue at the exact path', async (t) => {
  for (const c of cases) {
    const issues = issuesOf(edited(c.edit));
    t.equal(issues.length, 1, `${c.name}: exactly one issue (${JSON.stringify(issues)})`);
    t.equal(issues[0]?.field, c.field, `${c.name}: path`);
    if (c.expected) t.match(issues[0]?.expected, c.expected, `${c.name}: expectation`);
  }
});

void t.test('every problem at once', (t) => {
  const doc = edited((d) => {
    d['version'] = 0;
    d['policies'][A].sans = ['ok', 'not ok'];
    d['policies'][B].role = 'root';
    d['referenceValues'].snp = [{ measurements: ['00'] }];
    d['workloadOwnerKeys'] = ['00'];
    d['meshCert'] = { leafLifetime: 'forever' };
    d['extra'] = true;
  });
  const err = t.throws(() => parseManifestValue(doc)) as ConfigError;
  t.ok(err instanceof ConfigError);
  t.equal(err.code, 'CCMESH_ERR_CONFIG_INVALID');
  t.same(err.issues.map((i) => i.field).sort(), [
    'extra', 'meshCert.leafLifetime', `policies.${A}.sans[1]`, `policies.${B}.role`,
    'referenceValues.snp[0].measurements[0]', 'version', 'workloadOwnerKeys[0]',
  ].sort());
  t.match(err.message, /invalid manifest:/);
  t.end();
});

void t.test('document-level problems: syntax, non-object, duplicate keys, depth, size', (t) => {
  const fieldOf = (src: string | Uint8Array): ConfigIssue[] => (t.throws(() => parseManifest(src)) as ConfigError).issues as ConfigIssue[];
  t.match(fieldOf('{')[0], { field: '$', expected: /JSON text/ });
  t.match(fieldOf('[]')[0], { field: '$', expected: /JSON object/ });
  t.match(fieldOf('null')[0], { field: '$' });
  const dup = `{"version":1,"policies":{"${A}":{"sans":["a"],"workloadSecretId":"x","role":"","role":"coordinator"}}}`;
  t.same(fieldOf(dup).map((i) => i.field), [`policies.${A}.role`]);
  t.same(fieldOf('{"a":[{"b":1,"b\\u0000":2,"b":3}]}').map((i) => i.field), ['a[0].b']);
  t.match(fieldOf(`{"x":${'['.repeat(100)}${']'.repeat(100)}}`)[0], { field: 'x[0][0][0][0][0][0][0][0][0][0][0][0][0][0]', expected: /nested at most 16/ });
  const big = JSON.stringify({ ...minimalDocument(f), pad: 'x'.repeat(1024 * 1024) });
  t.match(fieldOf(big), [{ field: '$', expected: /at most 1048576 bytes/ }]);
  t.end();
});

void t.test('bounds: too many policies, SANs, keys and alternatives are refused', (t) => {
  const many: Record<string, unknown> = {};
  for (let i = 0; i < 10_001; i++) many[i.toString(16).padStart(64, '0')] = { sans: ['a'], workloadSecretId: 'x', role: '' };
  // 10 001 of the smallest entries exceed 1 MiB, so the size cap refuses them before the count cap is reached.
  t.match(issuesOf({ ...minimalDocument(f), policies: many }), [{ field: '$', expected: /at most 1048576 bytes/ }]);
  t.match(issuesOf(edited((d) => { d['policies'][A].sans = Array.from({ length: 65 }, (_, i) => `n${i}`); })), [{ field: `policies.${A}.sans` }]);
  t.match(issuesOf(edited((d) => { d['referenceValues'].snp = Array.from({ length: 65 }, () => ({})); })), [{ field: 'referenceValues.snp' }]);
  t.match(issuesOf(edited((d) => { d['workloadOwnerKeys'] = Array.from({ length: 65 }, () => f.ownerEc); })), [{ field: 'workloadOwnerKeys' }]);
  t.end();
});

void t.test('buildManifestDocument output parses; without a root it trusts nothing and is refused', (t) => {
  const m = parseManifestValue(buildManifestDocument({ workloadOwnerKeys: [f.ownerEc], seedshareOwnerKeys: [f.seedRsa], simulatedArkPem: f.simulatedArkPem, simulatedSnp: { measurements: [SIMULATED_MEASUREMENT] }, policies: [A] }));
  t.same(m.policies[A as keyof typeof m.policies]?.sans, [`workload-${A.slice(0, 8)}`]);
  t.match(issuesOf(buildManifestDocument({ workloadOwnerKeys: [], seedshareOwnerKeys: [] })), [{ field: 'referenceValues' }]);
  t.end();
});

void t.test('a non-serialisable value is a ConfigError, not a crash', (t) => {
  const cyclic: Record<string, unknown> = {};
  cyclic['self'] = cyclic;
  t.match(issuesOf(cyclic), [{ field: '$', expected: /JSON-serialisable/ }]);
  t.match(issuesOf({ version: 1n }), [{ field: '$' }]);
  t.end();
});
