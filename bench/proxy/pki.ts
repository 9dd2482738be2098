/**
 * The benchmark's own test PKI, made with the openssl CLI in a temporary directory (never committed): ECDSA P-256
 * root → mesh CA (pathlen 0) → two workload leaves with DNS and SPIFFE URI SANs, plus a rogue CA and a rogue leaf
 * with the same names for the negative mTLS checks.
 */
import { execFileSync } from 'node:child_process';
import { chmodSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';

/** PEM files of one workload identity. */
export interface WorkloadFiles {
  readonly cert: string;
  readonly key: string;
  /** Leaf followed by the mesh CA (what the workload presents). */
  readonly chain: string;
  /** chain + key in one file (HAProxy's `crt`). */
  readonly combined: string;
  /** The name the peer verifies (DNS SAN). */
  readonly dnsName: string;
  readonly spiffeId: string;
}

/** Paths of the generated PKI. */
export interface TestPki {
  readonly dir: string;
  readonly rootCa: string;
  readonly meshCa: string;
  /** Trust bundle both sides verify against (the root). */
  readonly trustBundle: string;
  /** The client / egress identity. */
  readonly workloadA: WorkloadFiles;
  /** The server / ingress identity. */
  readonly workloadB: WorkloadFiles;
  /** A leaf claiming workload-a's names, issued by an untrusted CA. */
  readonly rogue: WorkloadFiles;
}

const TRUST_DOMAIN = 'cluster.local';

function openssl(dir: string, args: readonly string[]): void {
  execFileSync('openssl', args, { cwd: dir, stdio: ['ignore', 'ignore', 'pipe'] });
}

function ecKey(dir: string, file: string): void {
  openssl(dir, ['genpkey', '-algorithm', 'EC', '-pkeyopt', 'ec_paramgen_curve:P-256', '-pkeyopt', 'ec_param_enc:named_curve', '-out', file]);
  chmodSync(join(dir, file), 0o600);
}

function selfSignedCa(dir: string, name: string, subject: string): void {
  ecKey(dir, `${name}.key`);
  openssl(dir, ['req', '-new', '-x509', '-key', `${name}.key`, '-sha256', '-days', '30', '-subj', subject,
    '-addext', 'basicConstraints=critical,CA:TRUE', '-addext', 'keyUsage=critical,keyCertSign,cRLSign', '-out', `${name}.crt`]);
}

function signed(dir: string, name: string, subject: string, ca: string, ext: string): void {
  ecKey(dir, `${name}.key`);
  openssl(dir, ['req', '-new', '-key', `${name}.key`, '-subj', subject, '-out', `${name}.csr`]);
  writeFileSync(join(dir, `${name}.ext`), ext);
  openssl(dir, ['x509', '-req', '-in', `${name}.csr`, '-CA', `${ca}.crt`, '-CAkey', `${ca}.key`, '-CAcreateserial', '-sha256',
    '-days', '7', '-extfile', `${name}.ext`, '-out', `${name}.crt`]);
}

function leaf(dir: string, file: string, identity: string, ca: string): WorkloadFiles {
  const dnsName = `${identity}.default.svc.${TRUST_DOMAIN}`;
  const spiffeId = `spiffe://${TRUST_DOMAIN}/ns/default/sa/${identity}`;
  signed(dir, file, `/O=ccmesh-bench/CN=${identity}`, ca, [
    'basicConstraints=critical,CA:FALSE',
    'keyUsage=critical,digitalSignature',
    'extendedKeyUsage=serverAuth,clientAuth',
    `subjectAltName=DNS:${dnsName},URI:${spiffeId}`,
    'subjectKeyIdentifier=hash',
    'authorityKeyIdentifier=keyid:always',
    '',
  ].join('\n'));
  const chainPem = readFileSync(join(dir, `${file}.crt`), 'utf8') + readFileSync(join(dir, `${ca}.crt`), 'utf8');
  writeFileSync(join(dir, `${file}.chain.pem`), chainPem);
  writeFileSync(join(dir, `${file}.combined.pem`), chainPem + readFileSync(join(dir, `${file}.key`), 'utf8'), { mode: 0o600 });
  return {
    cert: join(dir, `${file}.crt`),
    key: join(dir, `${file}.key`),
    chain: join(dir, `${file}.chain.pem`),
    combined: join(dir, `${file}.combined.pem`),
    dnsName,
    spiffeId,
  };
}

/** Generates the PKI into `dir` (an existing, empty, private directory). Takes well under a second. */
export function generateTestPki(dir: string): TestPki {
  selfSignedCa(dir, 'root', '/O=ccmesh-bench/CN=Mesh Root CA');
  signed(dir, 'mesh-ca', '/O=ccmesh-bench/CN=mesh CA', 'root', [
    'basicConstraints=critical,CA:TRUE,pathlen:0',
    'keyUsage=critical,keyCertSign,cRLSign',
    'subjectKeyIdentifier=hash',
    'authorityKeyIdentifier=keyid:always',
    '',
  ].join('\n'));
  const workloadA = leaf(dir, 'workload-a', 'workload-a', 'mesh-ca');
  const workloadB = leaf(dir, 'workload-b', 'workload-b', 'mesh-ca');
  selfSignedCa(dir, 'rogue-ca', '/O=evil/CN=Rogue CA');
  const rogue = leaf(dir, 'rogue', 'workload-a', 'rogue-ca');
  // The chain must verify before anything is measured with it.
  openssl(dir, ['verify', '-CAfile', 'root.crt', '-untrusted', 'mesh-ca.crt', 'workload-a.crt', 'workload-b.crt']);
  return { dir, rootCa: join(dir, 'root.crt'), meshCa: join(dir, 'mesh-ca.crt'), trustBundle: join(dir, 'root.crt'), workloadA, workloadB, rogue };
}
