/**
 * Policy identities: expectations are computed here with node:crypto / node:zlib from documents this test writes,
 * never by the code under test.
 */
import { createHash } from 'node:crypto';
import { gzipSync } from 'node:zlib';
import t from 'tap';
import { CcmeshError, ErrorCode } from '../../lib/errors.js';
import { ANNOTATIONS } from '../constants.js';
import { decodeStrictBase64 } from './base64.js';
import { readPolicyIdentity } from './identity.js';
import { readInitDataHeader } from './initdata.js';

const sha256 = (s: string | Uint8Array): string => createHash('sha256').update(s).digest('hex');
const b64 = (s: string | Uint8Array): string => Buffer.from(s).toString('base64');
const REGO = 'package agent_policy\n\ndefault CreateContainerRequest := true\n';
const initdata = (algorithm: string, body = `"policy.rego" = '''\n${REGO}'''\n`): string => `version = "0.1.0"\nalgorithm = "${algorithm}"\n\n[data]\n${body}`;
const WHERE = 'Deployment ns/app (app.yaml)';

interface Asserts {
  ok(v: unknown, m: string): unknown;
  match(a: unknown, b: unknown, m: string): unknown;
  fail(m: string): unknown;
}

function refused(t: Asserts, fn: () => unknown, message: RegExp, what: string): void {
  try {
    fn();
    t.fail(`${what}: not refused`);
  } catch (err) {
    t.ok(err instanceof CcmeshError && err.code === ErrorCode.K8S_POLICY_INVALID, `${what}: K8S_POLICY_INVALID`);
    t.match((err as Error).message, message, `${what}: message`);
    t.match((err as Error).message, WHERE, `${what}: names the resource`);
  }
}

void t.test('a Kata policy annotation: the document is the decoded Rego, the hash its SHA-256', (t) => {
  const id = readPolicyIdentity({ [ANNOTATIONS.kataPolicy]: b64(REGO) }, WHERE);
  t.equal(id?.source, 'kata-policy');
  t.equal(id?.hash, sha256(REGO));
  t.equal(Buffer.from(id!.document).toString('utf8'), REGO);
  t.equal(readPolicyIdentity({}, WHERE), undefined, 'no annotation, no identity');
  t.equal(readPolicyIdentity(undefined, WHERE), undefined);
  t.end();
});

void t.test('initdata: base64 of gzip of TOML; the document is the decompressed TOML, hashed with SHA-256', (t) => {
  const toml = initdata('sha256');
  const id = readPolicyIdentity({ [ANNOTATIONS.kataInitData]: b64(gzipSync(toml)) }, WHERE);
  t.equal(id?.source, 'initdata');
  t.equal(id?.hash, sha256(toml));
  t.equal(Buffer.from(id!.document).toString('utf8'), toml);
  t.end();
});

void t.test('initdata with sha384 or sha512 is refused, saying why', (t) => {
  for (const alg of ['sha384', 'sha512']) {
    refused(t, () => readPolicyIdentity({ [ANNOTATIONS.kataInitData]: b64(gzipSync(initdata(alg))) }, WHERE), new RegExp(`"${alg}".*only "sha256".*SHA-256`), alg);
  }
  t.end();
});

void t.test('both annotations: initdata is the identity when it carries the policy, otherwise refused', (t) => {
  const toml = initdata('sha256');
  const both = readPolicyIdentity({ [ANNOTATIONS.kataPolicy]: b64(REGO), [ANNOTATIONS.kataInitData]: b64(gzipSync(toml)) }, WHERE);
  t.equal(both?.source, 'initdata');
  t.equal(both?.hash, sha256(toml));
  refused(t, () => readPolicyIdentity({ [ANNOTATIONS.kataPolicy]: b64('package other\n'), [ANNOTATIONS.kataInitData]: b64(gzipSync(toml)) }, WHERE), /does not contain that policy/, 'disagreeing');
  t.end();
});

void t.test('malformed annotations are refused with K8S_POLICY_INVALID naming the resource', (t) => {
  const good = b64(REGO);
  const cases: [string, Record<string, unknown>, RegExp][] = [
    ['not a string', { [ANNOTATIONS.kataPolicy]: 42 }, /not a string/],
    ['base64 with a newline', { [ANNOTATIONS.kataPolicy]: `${good.slice(0, 8)}\n${good.slice(8)}` }, /base64/],
    ['base64 without padding', { [ANNOTATIONS.kataPolicy]: good.replace(/=+$/, '') }, /base64/],
    ['url-safe alphabet', { [ANNOTATIONS.kataPolicy]: b64(Buffer.from([0xfb, 0xff, 0xfe])).replace(/\+/g, '-').replace(/\//g, '_') }, /base64/],
    ['empty', { [ANNOTATIONS.kataPolicy]: '' }, /empty/],
    ['policy not UTF-8', { [ANNOTATIONS.kataPolicy]: b64(Buffer.from([0x70, 0xff, 0xfe])) }, /not UTF-8/],
    ['initdata not gzip', { [ANNOTATIONS.kataInitData]: b64(initdata('sha256')) }, /not gzip/],
    ['initdata truncated gzip', { [ANNOTATIONS.kataInitData]: b64(gzipSync(initdata('sha256')).subarray(0, 20)) }, /not gzip/],
    ['initdata not UTF-8', { [ANNOTATIONS.kataInitData]: b64(gzipSync(Buffer.from([0x61, 0xc3, 0x28]))) }, /not UTF-8/],
    ['initdata without algorithm', { [ANNOTATIONS.kataInitData]: b64(gzipSync('version = "0.1.0"\n[data]\n')) }, /no top-level algorithm/],
    ['initdata with an unknown algorithm', { [ANNOTATIONS.kataInitData]: b64(gzipSync(initdata('md5'))) }, /"md5" is not one of/],
  ];
  for (const [what, ann, message] of cases) refused(t, () => readPolicyIdentity(ann, WHERE), message, what);
  t.end();
});

void t.test('strict base64: only canonical padded standard base64 decodes', (t) => {
  t.same(decodeStrictBase64('aGk='), Buffer.from('hi'));
  t.same(decodeStrictBase64(''), Buffer.alloc(0));
  for (const bad of ['aGk', 'aGl=', 'aG k=', 'aGk=\n', 'aGk==', '====', 'a', 'aGk=aGk=']) t.equal(decodeStrictBase64(bad), undefined, JSON.stringify(bad));
  t.end();
});

void t.test('the initdata header reader reads key = "string" lines up to the first table, and nothing else', (t) => {
  const ok: [string, string, string][] = [
    ['plain', 'version = "0.1.0"\nalgorithm = "sha256"\n[data]\nx = 1\n', 'sha256'],
    ['comments, blanks, CRLF, trailing comment', '# initdata\r\n\r\nalgorithm="sha512"   # why\r\nversion = "0.1.0"\r\n', 'sha512'],
    ['lines after the first table are not read', 'version = "1"\nalgorithm = "sha384"\n[data]\nalgorithm = "sha256"\n', 'sha384'],
  ];
  for (const [what, text, alg] of ok) {
    const r = readInitDataHeader(text);
    t.equal('header' in r ? r.header.algorithm : r.problem, alg, what);
  }
  const bad: [string, string, RegExp][] = [
    ['non-string value', 'version = "0.1.0"\nalgorithm = 256\n', /line 2 .*key = "string"/],
    ['literal string', "version = '0.1.0'\nalgorithm = \"sha256\"\n", /line 1/],
    ['escape in string', 'version = "0.1\\"0"\nalgorithm = "sha256"\n', /line 1/],
    ['dotted key', 'a.b = "x"\nversion = "1"\nalgorithm = "sha256"\n', /line 1/],
    ['repeated key', 'version = "1"\nalgorithm = "sha256"\nalgorithm = "sha512"\n', /repeats the top-level key algorithm/],
    ['no version', 'algorithm = "sha256"\n', /no top-level version/],
    ['algorithm only inside a table', 'version = "1"\n[data]\nalgorithm = "sha256"\n', /no top-level algorithm/],
    ['uppercase algorithm', 'version = "1"\nalgorithm = "SHA256"\n', /not one of/],
  ];
  for (const [what, text, problem] of bad) {
    const r = readInitDataHeader(text);
    t.match('problem' in r ? r.problem : 'accepted', problem, what);
  }
  t.end();
});
