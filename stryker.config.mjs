// StrykerJS over the security-critical modules: the bench tier of mutation testing (`npm run mutants:stryker`).
// The per-commit tier is the hand-written catalogue in test/mutation/ (run by `npm test`); docs/reliability.md
// explains the split and carries the latest scores.
//
// Stryker instruments the TypeScript sources in its sandbox, `buildCommand` compiles them into dist/ with everything
// else, and the tap runner runs the compiled test files, each mutant only against the files that covered it.
// Stryker 9.6 is the last major that runs on Node 20; the TypeScript checker is not used (on two cores it doubles
// the run and adds nothing: the build already fails for mutants that do not compile only under type checks, which
// `disableTypeChecks` turns off on purpose).

/** Security-critical modules and the test files that guard them. */
const MODULES = {
  'proxy/inbound/identity.ts': ['proxy/inbound/identity.test.ts', 'proxy/test/resumption.test.ts'],
  'proxy/inbound/admission.ts': ['proxy/inbound/admission.test.ts', 'proxy/test/unauthenticated-bound.test.ts'],
  'proxy/credentials/generation.ts': ['proxy/credentials/generation.test.ts', 'proxy/test/chain-trust.test.ts', 'proxy/test/trust-refresh.test.ts'],
  'proxy/outbound/upstream-identity.ts': ['proxy/outbound/upstream-identity.test.ts', 'proxy/test/chain-trust.test.ts'],
  'lib/protocol/binding.ts': ['lib/protocol/binding.test.ts'],
  'lib/protocol/wire.ts': ['lib/protocol/wire.test.ts'],
  'coordinator/core/single-use-nonces.ts': ['coordinator/core/single-use-nonces.test.ts', 'coordinator/test/nonce-expiry.test.ts'],
  'contract/attestation/evidence-check.ts': ['contract/attestation/tdx-evidence.test.ts', 'coordinator/test/reference-values.test.ts'],
  'coordinator/core/coordinator.ts': [
    'coordinator/test/coordinator.test.ts', 'coordinator/test/renewal-refusals.test.ts', 'coordinator/test/manifest-refusals.test.ts',
    'coordinator/test/recovery-refusals.test.ts', 'coordinator/test/mesh-owner.test.ts', 'coordinator/test/revocation.test.ts',
    'coordinator/test/unauthenticated-work.test.ts', 'coordinator/test/nonce-spend.test.ts',
  ],
  'iptables/verify.ts': ['iptables/verify.test.ts'],
  'initializer/unit.ts': ['initializer/test/guard-order.test.ts', 'initializer/test/initializer.test.ts'],
  'attestation/snp/verify.ts': ['attestation/snp/verify.test.ts', 'attestation/snp/verify-fake.test.ts'],
  'attestation/tdx/verify.ts': ['attestation/tdx/verify.test.ts'],
  'attestation/x509/chain.ts': ['attestation/x509/chain.test.ts'],
  'attestation/snp/reference.ts': ['attestation/snp/reference.test.ts'],
  'attestation/tdx/reference.ts': ['attestation/tdx/reference.test.ts'],
};

const compiled = (ts) => `dist/${ts.replace(/\.ts$/, '.js')}`;

export default {
  packageManager: 'npm',
  testRunner: 'tap',
  tap: {
    testFiles: [...new Set(Object.values(MODULES).flat())].map(compiled),
    nodeArgs: ['--import', './dist/test/mutation/exit-as-failure.js'],
    forceBail: true,
  },
  buildCommand: 'npx tsc -p tsconfig.json',
  disableTypeChecks: true,
  mutate: Object.keys(MODULES),
  coverageAnalysis: 'perTest',
  // dist/ stays in the sandbox (the runner needs the compiled tests to exist as inputs); only the build cache goes.
  ignorePatterns: ['.tap', 'bench/out', 'reports', 'dist/.tsbuildinfo'],
  concurrency: 2,
  timeoutMS: 20000,
  thresholds: { high: 90, low: 80, break: 80 },
  reporters: ['clear-text', 'progress-append-only', 'json', 'html'],
  jsonReporter: { fileName: 'reports/mutation/stryker.json' },
  htmlReporter: { fileName: 'reports/mutation/stryker.html' },
  incremental: true,
  incrementalFile: 'reports/stryker-incremental.json',
  cleanTempDir: 'always',
};
