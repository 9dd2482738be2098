/**
 * Size limits for every field of every request the Coordinator accepts, and the decoder that applies them. grpc-js
 * has already bounded the whole message (MAX_MESSAGE_BYTES) and protobuf has fixed each field's type; this adds the
 * per-field bounds and turns "absent" (proto3's empty value) into `undefined` for optional fields, so a handler sees
 * only values within their limits and a malformed peer gets INVALID_ARGUMENT naming the field. `limits.test.ts`
 * checks that this table covers exactly the fields of the request messages in the `.proto`.
 */
import { NONCE_LENGTH, type EvidenceMessage, type WireEvidence } from './messages.js';
import { WireError } from './wire.js';

/** What one field may hold. `optional` fields may be empty (proto3 cannot tell empty from absent). */
export type FieldRule =
  | { readonly kind: 'bytes'; readonly min: number; readonly max: number; readonly optional?: boolean }
  | { readonly kind: 'string'; readonly max: number; readonly optional?: boolean }
  | { readonly kind: 'bytesList'; readonly maxItems: number; readonly min: number; readonly max: number }
  | { readonly kind: 'message'; readonly type: string; readonly optional?: boolean };

const bytes = (min: number, max: number, optional = false): FieldRule => ({ kind: 'bytes', min, max, optional });
const string = (max: number, optional = false): FieldRule => ({ kind: 'string', max, optional });
const message = (type: string, optional = false): FieldRule => ({ kind: 'message', type, optional });

const KiB = 1024;
const MiB = 1024 * KiB;
const nonce = bytes(NONCE_LENGTH, NONCE_LENGTH);
const ownerKey = 4096;

/**
 * Every request message (by its name in the `.proto`, without the package) and nested message a request carries →
 * its fields' rules. Evidence is a oneof: exactly one of its fields must be set.
 */
export const REQUEST_LIMITS: Readonly<Record<string, Readonly<Record<string, FieldRule>>>> = Object.freeze({
  GetNonceRequest: {},
  GetManifestsRequest: {},
  GetTrustBundleRequest: {},
  AttestRequest: { nonce },
  SetManifestRequest: {
    manifest: bytes(2, MiB),
    policies: { kind: 'bytesList', maxItems: 10_000, min: 0, max: MiB },
    nonce: bytes(NONCE_LENGTH, NONCE_LENGTH, true),
    ownerKey: string(ownerKey, true),
    signature: bytes(8, KiB, true),
  },
  RecoverRequest: { seed: bytes(64, 64), salt: bytes(32, 32), nonce, ownerKey: string(ownerKey), signature: bytes(64, KiB) },
  OperatorCertRequest: { publicKey: bytes(32, KiB), nonce, ownerKey: string(ownerKey), signature: bytes(8, KiB) },
  NewMeshCertRequest: { evidence: message('Evidence'), publicKey: bytes(32, KiB), nonce },
  RenewMeshCertRequest: { certChain: string(64 * KiB), publicKey: bytes(32, KiB), nonce, signature: bytes(8, KiB), evidence: message('Evidence', true), newKeySignature: bytes(8, KiB) },
  ShareSeedRequest: { evidence: message('Evidence'), publicKey: bytes(32, KiB), nonce },
  Evidence: { snp: message('SnpEvidence', true), tdx: message('TdxEvidence', true) },
  SnpEvidence: { report: bytes(1184, 1184), vek: bytes(64, 16 * KiB), chain: bytes(64, 64 * KiB) },
  TdxEvidence: { quote: bytes(48, 64 * KiB) },
});

/**
 * What a request that the wire scan (`wire-scan.ts`) refused, or protobuf could not decode, reaches the handler as:
 * its decoder throws the reason as INVALID_ARGUMENT, like every other malformed request.
 */
export class RefusedRequest {
  constructor(readonly reason: string) {}
}

function isBytes(v: unknown): v is Uint8Array {
  return v instanceof Uint8Array;
}

/** What `rule` expects, in words (the decoder's and the wire scan's messages share it). */
export function describeRule(rule: FieldRule): string {
  switch (rule.kind) {
    case 'bytes':
      return rule.min === rule.max ? `${rule.min} bytes` : `${rule.min}-${rule.max} bytes`;
    case 'string':
      return `a string of at most ${rule.max} characters`;
    case 'bytesList':
      return `at most ${rule.maxItems} items of ${rule.min}-${rule.max} bytes`;
    case 'message':
      return `a ${rule.type} message`;
  }
}

function checkField(path: string, rule: FieldRule, value: unknown): unknown {
  const fail = (got: string): never => {
    const orNone = 'optional' in rule && rule.optional ? ' or none' : '';
    throw new WireError(`${path}: expected ${describeRule(rule)}${orNone} (got ${got})`);
  };
  switch (rule.kind) {
    case 'bytes': {
      if (!isBytes(value)) return fail(typeof value);
      if (value.length === 0 && rule.optional) return undefined;
      if (value.length < rule.min || value.length > rule.max) return fail(`${value.length} bytes`);
      return new Uint8Array(value.buffer, value.byteOffset, value.byteLength);
    }
    case 'string': {
      if (typeof value !== 'string') return fail(typeof value);
      if (value === '' && rule.optional) return undefined;
      if (value.length > rule.max) return fail(`${value.length} characters`);
      return value;
    }
    case 'bytesList': {
      if (!Array.isArray(value)) return fail(typeof value);
      if (value.length > rule.maxItems) return fail(`${value.length} items`);
      return value.map((item: unknown, i) => {
        if (!isBytes(item) || item.length < rule.min || item.length > rule.max) return fail(`item ${i}: ${isBytes(item) ? `${item.length} bytes` : typeof item}`);
        return new Uint8Array(item.buffer, item.byteOffset, item.byteLength);
      });
    }
    case 'message': {
      if (value === null || value === undefined) return rule.optional ? undefined : fail('none');
      return decodeMessage(path, rule.type, value);
    }
  }
}

/** Checks one decoded message of `type` against {@link REQUEST_LIMITS}; returns its fields, optional ones absent when empty. */
export function decodeMessage(path: string, type: string, value: unknown): Record<string, unknown> {
  const rules = REQUEST_LIMITS[type];
  if (value instanceof RefusedRequest) throw new WireError(value.reason);
  if (!rules) throw new WireError(`${path}: no limits for message ${type}`);
  if (typeof value !== 'object' || value === null || Array.isArray(value)) throw new WireError(`${path}: expected a ${type} message`);
  const obj = value as Record<string, unknown>;
  const out: Record<string, unknown> = {};
  for (const [field, rule] of Object.entries(rules)) {
    const v = checkField(`${path}.${field}`, rule, obj[field]);
    if (v !== undefined) out[field] = v;
  }
  return out;
}

/** The {@link WireEvidence} of a checked `Evidence` message; exactly one kind must be set. */
export function readEvidence(path: string, msg: EvidenceMessage): WireEvidence {
  const { snp, tdx } = msg;
  if (snp && !tdx) return { format: 'snp', report: snp.report, vek: snp.vek, chain: snp.chain };
  if (tdx && !snp) return { format: 'tdx', quote: tdx.quote };
  throw new WireError(`${path}: expected exactly one of snp, tdx`);
}
