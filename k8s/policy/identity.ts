/**
 * A pod's identity as the TEE measures it: SHA-256 of its Kata agent policy (Rego) or of its initdata document,
 * which the hypervisor places in SNP HOST_DATA / TDX MRCONFIGID[0:32] (docs/design.md §3). The document itself goes to
 * the Coordinator with the manifest, which re-hashes it, so what is returned here is the exact measured bytes.
 */
import { createHash } from 'node:crypto';
import { gunzipSync } from 'node:zlib';
import type { PolicyHash } from '../../lib/brand.js';
import { CcmeshError, ErrorCode } from '../../lib/errors.js';
import { ANNOTATIONS } from '../constants.js';
import { decodeStrictBase64 } from './base64.js';
import { MAX_INITDATA_BYTES, readInitDataHeader } from './initdata.js';

/** Which annotation the identity came from. */
export type PolicySource = 'kata-policy' | 'initdata';

/** The measured document of a pod and its policy hash. */
export interface PolicyIdentity {
  readonly source: PolicySource;
  /** The bytes whose SHA-256 is the policy hash (Rego text, or decompressed initdata TOML). */
  readonly document: Uint8Array;
  readonly hash: PolicyHash;
}

/** Lowercase hex SHA-256 of a policy document. */
export function policyHashOf(document: Uint8Array): PolicyHash {
  return createHash('sha256').update(document).digest('hex') as PolicyHash;
}

function invalid(where: string, message: string): CcmeshError {
  return new CcmeshError(ErrorCode.K8S_POLICY_INVALID, `${where}: ${message}`);
}

function utf8(bytes: Uint8Array, where: string, what: string): string {
  try {
    return new TextDecoder('utf-8', { fatal: true, ignoreBOM: true }).decode(bytes);
  } catch {
    throw invalid(where, `${what} is not UTF-8 text`);
  }
}

function base64Annotation(value: unknown, key: string, where: string): Buffer {
  if (typeof value !== 'string') throw invalid(where, `annotation ${key} is not a string`);
  const bytes = decodeStrictBase64(value);
  if (!bytes) throw invalid(where, `annotation ${key} is not standard padded base64 without whitespace`);
  if (bytes.length === 0) throw invalid(where, `annotation ${key} is empty`);
  return bytes;
}

/** Decodes the Kata policy annotation: base64 of the Rego text; the document is the decoded bytes. */
export function readKataPolicy(value: unknown, where: string): PolicyIdentity {
  const document = base64Annotation(value, ANNOTATIONS.kataPolicy, where);
  utf8(document, where, `the policy in ${ANNOTATIONS.kataPolicy}`);
  return { source: 'kata-policy', document: new Uint8Array(document), hash: policyHashOf(document) };
}

/**
 * Decodes the initdata annotation: base64 → gunzip → TOML whose `algorithm` must be sha256, because the manifest
 * keys pods by SHA-256 (and the Coordinator checks documents by SHA-256). sha384/sha512 initdata would be
 * measured as a different value, so it is refused instead of producing an entry no pod could ever match.
 */
export function readInitData(value: unknown, where: string): PolicyIdentity {
  const key = ANNOTATIONS.kataInitData;
  const gz = base64Annotation(value, key, where);
  let document: Buffer;
  try {
    document = gunzipSync(gz, { maxOutputLength: MAX_INITDATA_BYTES });
  } catch (err) {
    throw invalid(where, `annotation ${key} is not gzip data of at most ${MAX_INITDATA_BYTES} bytes (${(err as Error).message})`);
  }
  const text = utf8(document, where, `the initdata in ${key}`);
  const read = readInitDataHeader(text);
  if ('problem' in read) throw invalid(where, `the initdata TOML in ${key} is not readable: ${read.problem}`);
  if (read.header.algorithm !== 'sha256') {
    throw invalid(
      where,
      `the initdata in ${key} uses algorithm "${read.header.algorithm}"; ccmesh supports only "sha256", because manifest policy hashes ` +
        'are SHA-256 (SNP HOST_DATA holds 32 bytes) and the Coordinator checks each document by its SHA-256',
    );
  }
  return { source: 'initdata', document: new Uint8Array(document), hash: policyHashOf(document) };
}

/**
 * The identity of a pod template from its annotations, or undefined when it has neither annotation.
 * With both: initdata is what the hypervisor measures, so it is the identity — but only when the Rego document
 * appears verbatim inside it (initdata carries the policy); otherwise the two disagree and this refuses.
 */
export function readPolicyIdentity(annotations: Readonly<Record<string, unknown>> | undefined, where: string): PolicyIdentity | undefined {
  const policy = annotations?.[ANNOTATIONS.kataPolicy];
  const initData = annotations?.[ANNOTATIONS.kataInitData];
  if (initData === undefined) return policy === undefined ? undefined : readKataPolicy(policy, where);
  const identity = readInitData(initData, where);
  if (policy !== undefined) {
    const rego = utf8(readKataPolicy(policy, where).document, where, 'the policy');
    if (!utf8(identity.document, where, 'the initdata').includes(rego)) {
      throw invalid(where, `has both ${ANNOTATIONS.kataPolicy} and ${ANNOTATIONS.kataInitData}, and the initdata does not contain that policy; remove the stale one`);
    }
  }
  return identity;
}
