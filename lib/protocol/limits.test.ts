/**
 * The per-field request limits (`limits.ts`): the table covers exactly the fields of every request message in the
 * `.proto` (a new field without a limit fails here), and for every field a value one past its bound is refused with
 * a message naming that field, while the bound itself is accepted. Values are built from the rules, never from what
 * the decoder returns.
 */
import t from 'tap';
import type { MethodDefinition } from '@grpc/grpc-js';
import { decodeMessage, type FieldRule, readEvidence, REQUEST_LIMITS } from './limits.js';
import { PROTO_DEFINITION, PROTO_PACKAGE, MeshApi, UserApi } from './services.js';
import { WireError } from './wire.js';

interface FieldDescriptor { name: string; label: string; type: string; typeName: string }

function descriptorOf(type: string): FieldDescriptor[] {
  const def = PROTO_DEFINITION[`${PROTO_PACKAGE}.${type}`] as { type?: { field: FieldDescriptor[] } } | undefined;
  if (!def?.type) throw new Error(`no message ${type} in the proto`);
  return def.type.field;
}

/** A message type name without the package (proto-loader names nested types relative to it). */
function shortName(typeName: string): string {
  return typeName.replace(/^\./, '').replace(`${PROTO_PACKAGE}.`, '');
}

/** Every request message of both services and the messages they nest, by short name. */
function requestTypes(): Set<string> {
  const seen = new Set<string>();
  const visit = (type: string): void => {
    if (seen.has(type)) return;
    seen.add(type);
    for (const f of descriptorOf(type)) if (f.type === 'TYPE_MESSAGE') visit(shortName(f.typeName));
  };
  for (const service of [UserApi, MeshApi]) {
    for (const m of Object.values(service.definition) as (MethodDefinition<unknown, unknown> & { requestType: { type: { name: string } } })[]) visit(m.requestType.type.name);
  }
  return seen;
}

void t.test('the table covers exactly the request messages and their fields, with rules of the field\'s kind', (t) => {
  const types = requestTypes();
  t.same([...types].sort(), Object.keys(REQUEST_LIMITS).sort(), 'one entry per request message and nested message, no more');
  for (const type of types) {
    const fields = descriptorOf(type);
    const rules = REQUEST_LIMITS[type] ?? {};
    t.same(fields.map((f) => f.name).sort(), Object.keys(rules).sort(), `${type}: a rule for every field`);
    for (const f of fields) {
      const rule = rules[f.name];
      const want = f.type === 'TYPE_MESSAGE' ? 'message' : f.type === 'TYPE_STRING' ? 'string' : f.label === 'LABEL_REPEATED' ? 'bytesList' : 'bytes';
      t.equal(rule?.kind, want, `${type}.${f.name}: a ${want} rule for a ${f.label} ${f.type}`);
      if (rule?.kind === 'message') t.equal(rule.type, shortName(f.typeName), `${type}.${f.name}: the nested type`);
    }
  }
  t.end();
});

/** A value that meets `rule` at its lower bound. */
function minimal(rule: FieldRule): unknown {
  switch (rule.kind) {
    case 'bytes':
      return Buffer.alloc(rule.min, 1);
    case 'string':
      return 'x';
    case 'bytesList':
      return [Buffer.alloc(rule.min, 1)];
    case 'message':
      return minimalMessage(rule.type);
  }
}

function minimalMessage(type: string): Record<string, unknown> {
  const out: Record<string, unknown> = {};
  for (const [field, rule] of Object.entries(REQUEST_LIMITS[type] ?? {})) out[field] = rule.kind === 'message' && rule.optional ? null : minimal(rule);
  if (type === 'Evidence') out['snp'] = minimalMessage('SnpEvidence');
  return out;
}

function refusal(fn: () => unknown): string {
  try {
    fn();
  } catch (err) {
    return err instanceof WireError ? err.message : `not a WireError: ${String(err)}`;
  }
  return 'accepted';
}

void t.test('every field: its bound is accepted, one past it is refused by name', (t) => {
  for (const [type, rules] of Object.entries(REQUEST_LIMITS)) {
    const base = minimalMessage(type);
    t.equal(refusal(() => decodeMessage(type, type, base)), 'accepted', `${type}: control, every field at its lower bound`);
    for (const [field, rule] of Object.entries(rules)) {
      const at = (value: unknown) => refusal(() => decodeMessage(type, type, { ...base, [field]: value }));
      const path = `${type}.${field}: expected`;
      if (rule.kind === 'bytes') {
        t.equal(at(Buffer.alloc(rule.max, 1)), 'accepted', `${type}.${field}: ${rule.max} bytes accepted`);
        t.match(at(Buffer.alloc(rule.max + 1, 1)), new RegExp(`^${path} .*\\(got ${rule.max + 1} bytes\\)$`), `${type}.${field}: ${rule.max + 1} bytes refused`);
        if (rule.min > 1) t.match(at(Buffer.alloc(rule.min - 1, 1)), new RegExp(`^${path} .*\\(got ${rule.min - 1} bytes\\)$`), `${type}.${field}: ${rule.min - 1} bytes refused`);
        t.equal(at(Buffer.alloc(0)), rule.optional ? 'accepted' : `${path} ${rule.min === rule.max ? `${rule.min} bytes` : `${rule.min}-${rule.max} bytes`} (got 0 bytes)`, `${type}.${field}: empty is ${rule.optional ? 'absent' : 'refused'}`);
      } else if (rule.kind === 'string') {
        t.equal(at('x'.repeat(rule.max)), 'accepted', `${type}.${field}: ${rule.max} characters accepted`);
        t.match(at('x'.repeat(rule.max + 1)), new RegExp(`^${path} a string of at most ${rule.max} characters.* \\(got ${rule.max + 1} characters\\)$`), `${type}.${field}: one more refused`);
      } else if (rule.kind === 'bytesList') {
        t.equal(at(Array.from({ length: rule.maxItems }, () => Buffer.alloc(0))), 'accepted', `${type}.${field}: ${rule.maxItems} items accepted`);
        t.match(at(Array.from({ length: rule.maxItems + 1 }, () => Buffer.alloc(0))), new RegExp(`^${path} .*\\(got ${rule.maxItems + 1} items\\)$`), `${type}.${field}: one more item refused`);
        t.match(at([Buffer.alloc(rule.max + 1)]), new RegExp(`^${path} .*\\(got item 0: ${rule.max + 1} bytes\\)$`), `${type}.${field}: an item over ${rule.max} bytes refused`);
      } else {
        t.equal(at(null), rule.optional ? 'accepted' : `${path} a ${rule.type} message (got none)`, `${type}.${field}: absent is ${rule.optional ? 'accepted' : 'refused'}`);
      }
    }
  }
  t.end();
});

void t.test('what is not a message, or not the field\'s type, is refused by name', (t) => {
  t.equal(refusal(() => decodeMessage('Attest', 'AttestRequest', 'not a protobuf message')), 'Attest: expected a AttestRequest message');
  t.equal(refusal(() => decodeMessage('Attest', 'AttestRequest', null)), 'Attest: expected a AttestRequest message');
  t.equal(refusal(() => decodeMessage('Attest', 'AttestRequest', { nonce: 'A'.repeat(44) })), 'Attest.nonce: expected 32 bytes (got string)');
  t.equal(refusal(() => decodeMessage('Recover', 'RecoverRequest', { ...minimalMessage('RecoverRequest'), ownerKey: 7 })), 'Recover.ownerKey: expected a string of at most 4096 characters (got number)');
  t.equal(refusal(() => decodeMessage('X', 'NoSuchRequest', {})), 'X: no limits for message NoSuchRequest');
  t.end();
});

void t.test('evidence: exactly one of snp and tdx', (t) => {
  const snp = { report: new Uint8Array(1184), vek: new Uint8Array(64), chain: new Uint8Array(64) };
  const tdx = { quote: new Uint8Array(48) };
  t.equal(readEvidence('e', { snp }).format, 'snp');
  t.equal(readEvidence('e', { tdx }).format, 'tdx');
  t.equal(refusal(() => readEvidence('e', {})), 'e: expected exactly one of snp, tdx', 'neither');
  t.equal(refusal(() => readEvidence('e', { snp, tdx })), 'e: expected exactly one of snp, tdx', 'both (decoded objects can hold both)');
  t.end();
});
