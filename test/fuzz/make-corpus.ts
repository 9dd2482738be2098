/**
 * Writes the committed fuzz corpus (`test/fuzz/corpus/<target>/`) from the real samples under testdata/ and from
 * requests, keys and documents built here. Run after changing a parser's input format:
 *   npx tsc -p . && node dist/test/fuzz/make-corpus.js
 * Files named `regression-*` are inputs that once found a bug; they are written here too, so the corpus stays
 * reproducible. Generated keys differ on every run, so the diff of a re-run is expected to touch them.
 */
import { generateKeyPairSync, X509Certificate } from 'node:crypto';
import { mkdirSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { readSample, repoRoot } from '../fixtures.js';
import { fullDocument, manifestFixtures, minimalDocument } from '../support/manifest.js';
import { infinitySpki, withSpki } from '../support/pki/hostile-keys.js';
import { readPemBlocks } from '../../attestation/x509/pem.js';
import { buildPolicyHashExtension } from '../../contract/policy-hash-extension.js';
import type { PolicyHash } from '../../lib/brand.js';
import { x509 } from '../../lib/pki/x509.js';
import { CORPUS_DIR } from './corpus.js';
import { REQUEST_METHODS } from './targets/protocol.js';

const corpus = new Map<string, Map<string, Uint8Array | string>>();
function add(target: string, name: string, content: Uint8Array | string | object): void {
  if (!corpus.has(target)) corpus.set(target, new Map());
  corpus.get(target)!.set(name, content instanceof Uint8Array || typeof content === 'string' ? content : `${JSON.stringify(content, null, 1)}\n`);
}
const der = (pem: string | Uint8Array): Uint8Array[] => readPemBlocks(typeof pem === 'string' ? pem : Buffer.from(pem).toString('latin1')).map((b) => b.der);
const spki = (k: { export(o: { type: 'spki'; format: 'der' }): Buffer }): Uint8Array => new Uint8Array(k.export({ type: 'spki', format: 'der' }));

const REPORTS = ['snp/gsg-milan-v2.report.bin', 'snp/trustee-milan-v2.report.bin', 'snp/negative/gsg-milan-v2.report.reportdata-bitflip.bin'];
const VEKS = ['snp/gsg-milan-v2.vcek.der', 'snp/trustee-milan-v2.vcek.der', 'snp/virtee-turin.vcek.der'];
const QUOTES = ['tdx/quote-v4-gtg-spr-e4.dat', 'tdx/quote-v4-trustee-q4.dat', 'tdx/quote-v5-gtg-sample.dat', 'tdx/negative/quote-v4-gtg-spr-e4.body-bitflip.dat'];
const base = (rel: string): string => rel.split('/').pop()!;

async function build(): Promise<void> {
  // Evidence.
  for (const r of REPORTS) for (const t of ['snp-report', 'snp-verify']) add(t, base(r), readSample(r));
  for (const v of VEKS) add('snp-vek', base(v), readSample(v));
  add('snp-vek', 'gsg-milan-v2.vcek.pem', new X509Certificate(readSample(VEKS[0]!)).toString());
  add('snp-vek', 'regression-vek-key-at-infinity.der', withSpki(readSample(VEKS[0]!), infinitySpki('P-384')));
  for (const q of QUOTES) for (const t of ['tdx-quote', 'tdx-verify']) add(t, base(q), readSample(q));
  for (const q of QUOTES.slice(0, 3)) add('tdx-pck-extensions', `${base(q)}.pck.der`, der(readSample(q))[0]!);
  for (const f of readdirSync(join(repoRoot, 'testdata/attestation/tdx/collateral'))) {
    const bytes = readSample(`tdx/collateral/${f}`);
    if (f.startsWith('tcbinfo')) add('tdx-tcb-info', f, bytes);
    if (f.startsWith('qeidentity')) add('tdx-qe-identity', f, bytes);
    if (f.endsWith('.crl.der')) add('crl', f, bytes);
    if (f.endsWith('.pem')) {
      add('pem', f, bytes);
      const cert = der(bytes)[0]!;
      add('tdx-collateral-certificate', `${f}.der`, cert);
      add('der', `${f}.der`, cert);
    }
  }
  const signerDer = der(readSample('tdx/collateral/intel_sgx_tcb_signing.pem'))[0]!;
  add('tdx-verify-collateral-signer', 'intel_sgx_tcb_signing.der', signerDer);
  add('tdx-verify-collateral-signer', 'intel_sgx_tcb_signing.pem', readSample('tdx/collateral/intel_sgx_tcb_signing.pem'));
  add('tdx-verify-collateral-signer', 'regression-tcb-signing-key-at-infinity.der', withSpki(signerDer, infinitySpki('P-256')));
  add('tdx-collateral-certificate', 'regression-tcb-signing-key-at-infinity.der', withSpki(der(readSample('tdx/collateral/intel_sgx_tcb_signing.pem'))[0]!, infinitySpki('P-256')));
  add('crl', 'intel_sgx_root_ca.crl.pem', `-----BEGIN X509 CRL-----\n${Buffer.from(readSample('tdx/collateral/intel_sgx_root_ca.crl.der')).toString('base64').replace(/.{64}/g, '$&\n')}\n-----END X509 CRL-----\n`);
  add('pem', 'ask_ark_milan.pem', readSample('snp/ask_ark_milan.pem'));
  add('der', 'gsg-milan-v2.vcek.der', readSample(VEKS[0]!));
  add('der', 'pck_platform_ca.crl.der', readSample('tdx/collateral/pck_platform_ca.crl.der'));

  // Keys and ccmesh certificates.
  for (const [name, k] of [['p256', generateKeyPairSync('ec', { namedCurve: 'P-256' })], ['p384', generateKeyPairSync('ec', { namedCurve: 'P-384' })], ['p521', generateKeyPairSync('ec', { namedCurve: 'P-521' })], ['rsa2048', generateKeyPairSync('rsa', { modulusLength: 2048 })], ['ed25519', generateKeyPairSync('ed25519')]] as const) {
    add('spki', `${name}.der`, spki(k.publicKey));
  }
  add('spki', 'vcek-p384.der', spki(new X509Certificate(readSample(VEKS[0]!)).publicKey));
  add('spki', 'regression-p256-at-infinity.der', infinitySpki('P-256'));
  add('spki', 'regression-p256-at-infinity-trailing-zeros.der', Buffer.concat([infinitySpki('P-256'), Buffer.alloc(8)]));
  const policyHash = 'ab'.repeat(32) as PolicyHash;
  const ext = buildPolicyHashExtension(policyHash);
  add('policy-hash-value', 'policy-hash.der', new Uint8Array(ext.value));
  const alg = { name: 'ECDSA', namedCurve: 'P-256', hash: 'SHA-256' };
  const keys = await crypto.subtle.generateKey(alg, true, ['sign', 'verify']);
  const leaf = await x509.X509CertificateGenerator.createSelfSigned({
    serialNumber: '01', name: 'CN=web', notBefore: new Date('2025-01-01T00:00:00Z'), notAfter: new Date('2035-01-01T00:00:00Z'), signingAlgorithm: alg, keys,
    extensions: [ext, new x509.SubjectAlternativeNameExtension([{ type: 'dns', value: 'web' }, { type: 'url', value: 'spiffe://ccmesh.local/web' }, { type: 'ip', value: '10.0.0.1' }])],
  });
  add('x509-extensions', 'leaf-with-policy-hash.der', new Uint8Array(leaf.rawData));
  add('x509-extensions', 'gsg-milan-v2.vcek.der', readSample(VEKS[0]!));
  add('der', 'leaf-with-policy-hash.der', new Uint8Array(leaf.rawData));
  add('pem', 'leaf.pem', leaf.toString('pem'));
  add('subject-alt-names', 'leaf.txt', 'DNS:web, DNS:*.web.default.svc, URI:spiffe://ccmesh.local/apps/v1/Deployment/default/web, IP Address:10.0.0.1, IP Address:2001:DB8:0:0:0:0:0:1');
  add('subject-alt-names', 'quoted.txt', 'DNS:"a, DNS:evil", URI:spiffe://ccmesh.local/x');

  // Coordinator requests: one per method with every field filled, and NewMeshCert with real SNP and TDX evidence.
  const filled: Record<string, object> = {
    AttestRequest: { nonce: Buffer.alloc(32, 1) },
    SetManifestRequest: { manifest: Buffer.from('{"version":1}'), policies: [Buffer.from('policy a'), Buffer.from('policy b')], nonce: Buffer.alloc(32, 2), ownerKey: 'ab'.repeat(45), signature: Buffer.alloc(72, 3) },
    RecoverRequest: { seed: Buffer.alloc(64, 4), salt: Buffer.alloc(32, 5), nonce: Buffer.alloc(32, 6), ownerKey: 'cd'.repeat(100), signature: Buffer.alloc(256, 7) },
    NewMeshCertRequest: { evidence: { snp: { report: readSample(REPORTS[0]!), vek: readSample(VEKS[0]!), chain: readSample('snp/ask_ark_milan.pem') } }, publicKey: spki(generateKeyPairSync('ec', { namedCurve: 'P-256' }).publicKey), nonce: Buffer.alloc(32, 8) },
    RenewMeshCertRequest: { certChain: leaf.toString('pem'), publicKey: spki(generateKeyPairSync('ec', { namedCurve: 'P-256' }).publicKey), nonce: Buffer.alloc(32, 9), signature: Buffer.alloc(72, 10), newKeySignature: Buffer.alloc(72, 11), evidence: { tdx: { quote: readSample(QUOTES[1]!) } } },
  };
  REQUEST_METHODS.forEach((m, i) => {
    const body = m.definition.requestSerialize(filled[m.requestType] ?? {});
    add('coordinator-request', `${m.method}.bin`, Buffer.concat([Buffer.of(i), body]));
  });
  const newMesh = REQUEST_METHODS.findIndex((m) => m.requestType === 'NewMeshCertRequest');
  const tdxRequest = { ...filled.NewMeshCertRequest, evidence: { tdx: { quote: readSample(QUOTES[0]!) } } };
  add('coordinator-request', 'MeshAPI.NewMeshCert-tdx.bin', Buffer.concat([Buffer.of(newMesh), REQUEST_METHODS[newMesh]!.definition.requestSerialize(tdxRequest)]));
  add('coordinator-request', 'regression-6-byte-length.bin', Buffer.concat([Buffer.of(REQUEST_METHODS.findIndex((m) => m.requestType === 'AttestRequest')), Buffer.from([0x0a, 0xa0, 0x80, 0x80, 0x80, 0x80, 0x00]), Buffer.alloc(32, 1), Buffer.from([0x4a, 0x02, 0x00, 0x00])]));

  // Documents and grammars.
  const f = await manifestFixtures();
  add('manifest', 'full.json', fullDocument(f));
  add('manifest', 'minimal.json', minimalDocument(f));
  add('manifest-document', 'full.json', JSON.stringify(fullDocument(f)));
  add('manifest-document', 'minimal.json', JSON.stringify(minimalDocument(f)));
  for (const [name, spec] of [['modes', 'web#8080#mtls:allow=a.example,spiffe://ccmesh.local/x##m#9090#plain##t#8443#tls'], ['one', 'api#80']]) add('mesh-ingress', `${name}.txt`, spec!);
  for (const [name, spec] of [['two', 'db#127.0.0.10:5432#db.svc:5432##cache#127.0.0.11:6379#10.0.0.5:6379#spiffe://ccmesh.local/cache'], ['any', 'x#127.0.0.1:1#[2001:db8::1]:443#*']]) add('mesh-egress', `${name}.txt`, spec!);
  // The tunnel's stream requests, as the outbound side sends them and as a hostile peer might; SAN texts of leaves.
  for (const [name, headers] of [
    ['connect', { ':method': 'CONNECT', ':authority': '127.0.0.1:8080' }],
    ['connect-extra-headers', { ':method': 'CONNECT', ':authority': '127.0.0.1:65535', 'user-agent': 'x', 'x-list': ['a', 'b'] }],
    ['connect-with-path', { ':method': 'CONNECT', ':authority': '127.0.0.1:443', ':path': '/', ':scheme': 'https' }],
    ['extended-connect', { ':method': 'CONNECT', ':authority': '127.0.0.1:443', ':protocol': 'websocket', ':path': '/', ':scheme': 'https' }],
    ['get', { ':method': 'GET', ':authority': '127.0.0.1:8080', ':path': '/', ':scheme': 'http' }],
    ['other-host', { ':method': 'CONNECT', ':authority': '10.0.0.1:8080' }],
  ] as const) add('tunnel-request', `${name}.json`, headers);
  for (const [name, san] of [
    ['generated', 'DNS:web, DNS:web.shop, DNS:web.shop.svc, URI:spiffe://ccmesh.local/apps/v1/Deployment/shop/web'],
    ['demo', 'DNS:frontend, URI:spiffe://ccmesh.local/demo/frontend'],
    ['quoted', 'DNS:"a, URI:spiffe://x/evil", URI:spiffe://ccmesh.local/w'],
    ['ip-only', 'IP Address:10.0.0.1, IP Address:0:0:0:0:0:0:0:1'],
  ] as const) add('peer-label', `${name}.txt`, san);
  add('mesh-owner-pin', 'pin.txt', '0123456789abcdef'.repeat(4));
  add('mesh-owner-pin', 'zero.txt', '00'.repeat(32));
  add('seed-share-files', 'shares.json', { transitionHash: 'ab'.repeat(32), seedShares: [{ ownerKey: 'cd'.repeat(8), encryptedSeed: 'AAAA' }] });
  add('seed-share-files', 'regression-null.json', 'null');
  const admission = join(repoRoot, 'k8s/webhook/testdata/admission');
  for (const name of readdirSync(admission).filter((n) => n.endsWith('.json'))) add('admission-review', name, readFileSync(join(admission, name), 'utf8'));
  add('pod-annotations', 'template.json', { metadata: { annotations: {
    'ccmesh.dev/inject': 'true', 'ccmesh.dev/ingress': 'web#8080#mtls:allow=a.example##m#9090#plain', 'ccmesh.dev/egress': 'db#127.0.0.10:5432#db.svc:5432',
    'ccmesh.dev/admin-port': '15090', 'ccmesh.dev/workload-secret-id': 'shop/web', 'ccmesh.dev/pod-role': '', 'ccmesh.dev/config-volumes': ' settings ,creds',
  } }, spec: { containers: [{ name: 'web', image: 'nginx' }] } });
}

await build();
rmSync(CORPUS_DIR, { recursive: true, force: true });
for (const [target, files] of corpus) {
  mkdirSync(join(CORPUS_DIR, target), { recursive: true });
  for (const [name, content] of files) writeFileSync(join(CORPUS_DIR, target, name), content);
}
process.stdout.write(`wrote ${[...corpus.values()].reduce((n, m) => n + m.size, 0)} files for ${corpus.size} targets under ${CORPUS_DIR}\n`);
