// Layer rules of the tree (docs/architecture.md, "Layers"), as lint errors. Imported by eslint.config.js and by
// test/layers.test.ts, which lints a fixture breaking each rule.
//
//   lib/          imports nothing of ours
//   attestation/  lib/
//   contract/     lib/, attestation/ — the mesh's shared contract (manifest, evidence check, seed shares, …)
//   units         lib/, attestation/, contract/ — never another unit (coordinator, initializer, proxy, iptables, k8s)
//   cli/, bench/  the composition roots: anything but test code
// Tests (`*.test.ts`, `test/` folders, `testdata/`) may import anything; production code never imports test code.

const UNITS = ['coordinator', 'initializer', 'proxy', 'iptables', 'k8s'];
const TEST_FILES = ['**/*.test.ts', '**/test/**', '**/testdata/**', 'test/**'];

/** `no-restricted-imports` patterns that forbid importing the named top-level folders. */
function forbid(folders, why) {
  return {
    'no-restricted-imports': ['error', { patterns: [{ group: folders.flatMap((f) => [`**/${f}/**`, `${f}/**`]), message: why }] }],
  };
}

const testCode = ['test'];

export const LAYER_RULES = [
  {
    files: ['lib/**/*.ts'],
    ignores: TEST_FILES,
    rules: forbid(['attestation', 'contract', ...UNITS, 'cli', 'bench', ...testCode], 'lib/ is the shared core: it imports nothing from the rest of the tree.'),
  },
  {
    files: ['attestation/**/*.ts'],
    ignores: TEST_FILES,
    rules: forbid(['contract', ...UNITS, 'cli', 'bench', ...testCode], 'attestation/ imports only lib/.'),
  },
  {
    files: ['contract/**/*.ts'],
    ignores: TEST_FILES,
    rules: forbid([...UNITS, 'cli', 'bench', ...testCode], 'contract/ (the mesh contract) imports only lib/ and attestation/.'),
  },
  ...UNITS.map((unit) => ({
    files: [`${unit}/**/*.ts`],
    ignores: TEST_FILES,
    rules: forbid([...UNITS.filter((u) => u !== unit), 'cli', 'bench', ...testCode], `${unit}/ imports lib/, attestation/ and contract/, never another unit: what two units share belongs in contract/ or lib/.`),
  })),
  {
    files: ['cli/**/*.ts', 'bench/**/*.ts'],
    ignores: TEST_FILES,
    rules: forbid(testCode, 'production code never imports test code.'),
  },
];
