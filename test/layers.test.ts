/**
 * The layer rules (eslint.layers.mjs) hold: a fixture that breaks each rule is an error naming the rule's reason,
 * and the imports each layer may make are not. The fixtures are linted in memory under paths inside the tree.
 */
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { ESLint, type Linter } from 'eslint';
import t from 'tap';
import tseslint from 'typescript-eslint';
import { repoRoot } from './fixtures.js';

const { LAYER_RULES } = (await import(pathToFileURL(join(repoRoot, 'eslint.layers.mjs')).href)) as { LAYER_RULES: Linter.Config[] };
const eslint = new ESLint({
  cwd: repoRoot,
  overrideConfigFile: true,
  overrideConfig: [{ files: ['**/*.ts'], languageOptions: { parser: tseslint.parser as Linter.Parser } }, ...LAYER_RULES],
});

/** The layer errors of a one-line file `file` importing `spec`. */
async function layerErrors(file: string, spec: string): Promise<string[]> {
  const [result] = await eslint.lintText(`import { x } from '${spec}';\nexport const y = x;\n`, { filePath: join(repoRoot, file) });
  return (result?.messages ?? []).filter((m) => m.ruleId === 'no-restricted-imports').map((m) => m.message);
}

void t.test('each layer refuses what it may not import', async (t) => {
  const refused: [string, string, RegExp][] = [
    ['lib/protocol/fixture.ts', '../../coordinator/core/coordinator.js', /lib\/ is the shared core/],
    ['lib/fixture.ts', '../attestation/snp/verify.js', /lib\/ is the shared core/],
    ['lib/fixture.ts', '../contract/manifest/types.js', /lib\/ is the shared core/],
    ['attestation/snp/fixture.ts', '../../contract/manifest/types.js', /attestation\/ imports only lib\//],
    ['attestation/snp/fixture.ts', '../../test/fixtures.js', /attestation\/ imports only lib\//],
    ['contract/manifest/fixture.ts', '../../coordinator/pki/seed.js', /contract\/ \(the mesh contract\) imports only lib\/ and attestation\//],
    ['proxy/fixture.ts', '../../coordinator/manifest/parse.js', /proxy\/ imports lib\/, attestation\/ and contract\/, never another unit/],
    ['proxy/fixture.ts', '../../iptables/plan.js', /never another unit/],
    ['initializer/fixture.ts', '../../proxy/unit.js', /initializer\/ imports lib\/, attestation\/ and contract\//],
    ['coordinator/core/fixture.ts', '../../cli/run.js', /coordinator\/ imports lib\//],
    ['k8s/inject/fixture.ts', '../../coordinator/unit.js', /k8s\/ imports lib\//],
    ['iptables/fixture.ts', '../proxy/unit.js', /iptables\/ imports lib\//],
    ['coordinator/store/fixture.ts', '../../test/fixtures.js', /never another unit/],
    ['cli/commands/fixture.ts', '../../test/fixtures.js', /production code never imports test code/],
    ['bench/fixture.ts', '../test/support/manifest.js', /production code never imports test code/],
  ];
  for (const [file, spec, why] of refused) {
    const errors = await layerErrors(file, spec);
    t.equal(errors.length, 1, `${file} → ${spec}: refused`);
    t.match(errors[0] ?? '', why, `${file} → ${spec}: for its rule`);
  }
});

void t.test('what each layer may import passes', async (t) => {
  const allowed: [string, string][] = [
    ['lib/protocol/fixture.ts', '../errors.js'],
    ['attestation/snp/fixture.ts', '../../lib/bytes.js'],
    ['contract/manifest/fixture.ts', '../../attestation/snp/reference.js'],
    ['proxy/fixture.ts', '../../contract/manifest/types.js'],
    ['proxy/fixture.ts', '../../lib/protocol/client.js'],
    ['coordinator/core/fixture.ts', '../../contract/attestation/evidence-check.js'],
    ['cli/commands/fixture.ts', '../../coordinator/unit.js'],
    ['cli/commands/fixture.ts', '../../proxy/unit.js'],
    ['proxy/fixture.test.ts', '../../coordinator/test/harness.js'],
    ['proxy/test/fixture.ts', '../../iptables/plan.js'],
  ];
  for (const [file, spec] of allowed) t.same(await layerErrors(file, spec), [], `${file} → ${spec}: allowed`);
});
