/** Keys and certificates for the manifest tests, generated once per process (RSA generation is slow). */
import { generateKeyPairSync } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { toHex } from '../../lib/bytes.js';
import { createArk, generateAmdRsaKeys } from '../../attestation/simulated/amd-certificates.js';
import { SIMULATED_ORGANIZATION } from '../../attestation/simulated/marker.js';
import { attestationSample } from '../fixtures.js';
import { buildManifestDocument } from '../../contract/manifest/document.js';
import type { ManifestDocument } from '../../contract/manifest/types.js';

/** Key material and certificates shared by the manifest tests. */
export interface ManifestFixtures {
  readonly ownerEc: string;
  readonly ownerEc2: string;
  readonly seedRsa: string;
  readonly smallRsa: string;
  readonly simulatedArkPem: string;
  readonly realArkPem: string;
  readonly policyA: string;
  readonly policyB: string;
}

const spkiHex = (k: { export(o: { type: 'spki'; format: 'der' }): Buffer }): string => toHex(new Uint8Array(k.export({ type: 'spki', format: 'der' })));

let cached: Promise<ManifestFixtures> | undefined;

/** Builds (once) the fixtures: EC and RSA owner keys, a simulated ARK and AMD's real Milan ARK. */
export function manifestFixtures(): Promise<ManifestFixtures> {
  cached ??= (async () => {
    const keys = await generateAmdRsaKeys(2048);
    const validity = { notBefore: new Date('2024-01-01T00:00:00Z'), notAfter: new Date('2034-01-01T00:00:00Z') };
    const ark = await createArk('milan', keys, validity, SIMULATED_ORGANIZATION);
    const chain = readFileSync(attestationSample('snp/ask_ark_milan.pem'), 'latin1');
    const realArkPem = chain.slice(chain.lastIndexOf('-----BEGIN CERTIFICATE-----'));
    return {
      ownerEc: spkiHex(generateKeyPairSync('ec', { namedCurve: 'P-384' }).publicKey),
      ownerEc2: spkiHex(generateKeyPairSync('ec', { namedCurve: 'P-256' }).publicKey),
      seedRsa: spkiHex(generateKeyPairSync('rsa', { modulusLength: 3072 }).publicKey),
      smallRsa: spkiHex(generateKeyPairSync('rsa', { modulusLength: 2048 }).publicKey),
      simulatedArkPem: ark.toString('pem'),
      realArkPem,
      policyA: 'a'.repeat(64),
      policyB: '0123456789abcdef'.repeat(4),
    };
  })();
  return cached;
}

/** The launch measurement the test documents pin for the simulated root (a simulated platform's default). */
export const SIMULATED_MEASUREMENT = '00'.repeat(48);

/** A valid manifest document using the fixtures: two policies (one coordinator), a simulated root, an SNP alternative. */
export function fullDocument(f: ManifestFixtures): ManifestDocument {
  const doc = buildManifestDocument({
    workloadOwnerKeys: [f.ownerEc],
    seedshareOwnerKeys: [f.seedRsa],
    simulatedArkPem: f.simulatedArkPem,
    simulatedSnp: { measurements: [SIMULATED_MEASUREMENT] },
    snp: [{ measurements: ['ab'.repeat(48)], minimumTcb: { bootloader: 1, tee: 0, snp: 8, microcode: 100 } }],
    tdx: [{ mrTd: ['cd'.repeat(48)] }],
    policies: [
      { policyHash: f.policyA, sans: ['web', '*.web.default.svc', '10.0.0.1', '2001:db8::1'], workloadSecretId: 'apps/v1/Deployment/default/web' },
      { policyHash: f.policyB, sans: ['coordinator'], workloadSecretId: 'coordinator', role: 'coordinator' },
    ],
  });
  doc.configDigests = { [f.policyA]: { '/etc/web': { 'nginx.conf': 'ef'.repeat(32), 'conf.d/site.conf': '01'.repeat(32) } } };
  return doc;
}

/** The smallest valid document: no optional keys, one simulated root. */
export function minimalDocument(f: ManifestFixtures): ManifestDocument {
  return {
    version: 1,
    policies: {},
    referenceValues: { snp: [], tdx: [], simulated: [{ name: 'dev', ark: f.simulatedArkPem, snp: { measurements: [SIMULATED_MEASUREMENT] } }] },
    workloadOwnerKeys: [],
    seedshareOwnerKeys: [],
  };
}

/** A manifest document that tests break in every way, so deliberately untyped. */
// eslint-disable-next-line @typescript-eslint/no-explicit-any
export type EditableDoc = Record<string, any>;
