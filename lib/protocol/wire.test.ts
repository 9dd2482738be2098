/**
 * The message decoder every handler and client runs first (`wire.ts`): table-driven, one row per refusal, each
 * asserting the exact message that only that refusal produces (the field path and what was expected), so a check that
 * goes missing shows up as another message or as an accepted value — never as "some error".
 */
import t, { type Test } from 'tap';
import { b64, MAX_MESSAGE_BYTES, WireError, WireReader } from './wire.js';

/** The error `fn` throws (fails the test when it returns). */
function thrown(fn: () => unknown): unknown {
  try {
    fn();
  } catch (err) {
    return err;
  }
  return new Error('did not throw');
}

/** Asserts `fn` throws a WireError whose message is exactly `message`. */
function refuses(t: Test, fn: () => unknown, message: string, what: string): void {
  const err = thrown(fn);
  t.ok(err instanceof WireError, `${what}: a WireError (${String(err)})`);
  t.equal((err as Error).message, message, `${what}: ${message}`);
}

void t.test('a message is a JSON object: null, arrays and scalars are refused by name', (t) => {
  for (const [name, value] of [['null', null], ['an array', [{ nonce: 'AAAA' }]], ['a string', 'x'], ['a number', 7], ['undefined (unparsable JSON)', undefined]] as const) {
    refuses(t, () => new WireReader('Attest', value), 'Attest: expected a JSON object', name);
  }
  const r = new WireReader('NewMeshCert', { evidence: [], other: null });
  refuses(t, () => r.object('evidence'), 'NewMeshCert.evidence: expected a JSON object', 'a nested array');
  refuses(t, () => r.object('missing'), 'NewMeshCert.missing: expected a JSON object', 'a missing nested object');
  refuses(t, () => r.optionalObject('other'), 'NewMeshCert.other: expected a JSON object', 'null is not an absent optional object');
  t.equal(r.optionalObject('absent'), undefined, 'an absent optional object');
  const nested = new WireReader('NewMeshCert', { evidence: { format: 'sev' } }).object('evidence');
  refuses(t, () => nested.oneOf('format', ['snp', 'tdx']), 'NewMeshCert.evidence.format: expected one of snp, tdx', 'nested field errors name the whole path');
  t.end();
});

void t.test('bytes: base64 text of a bounded length, checked before and after decoding', (t) => {
  const exp = 'M.f: expected base64 of 2-3 bytes';
  const read = (v: unknown) => () => new WireReader('M', { f: v }).bytes('f', 2, 3);
  t.same(read('AAEC')(), Uint8Array.of(0, 1, 2), '3 bytes: accepted');
  t.same(read('AAE=')(), Uint8Array.of(0, 1), '2 bytes with padding: accepted');
  t.same(read('+/8=')(), Uint8Array.of(0xfb, 0xff), 'the standard alphabet\'s + and /');
  // Refused before decoding (the message has no "(got N)").
  for (const [name, v] of [['a number', 123], ['null', null], ['an array', ['AAEC']], ['an object', { length: 4 }], ['absent', undefined], ['true', true]] as const) refuses(t, read(v), exp, name);
  // ceil(3/3)*4+4 = 8 characters at most: 12 valid characters are refused without decoding them.
  refuses(t, read('AAECAwQFBgcI'), exp, 'text longer than any 3-byte value');
  refuses(t, read('A'.repeat(5000)), exp, 'long text');
  for (const [name, v] of [['base64url "-"', 'AA-C'], ['base64url "_"', 'AA_C'], ['a space', 'AA EC'], ['a newline', 'AAE\nC'], ['"$"', 'AA$C'], ['"=" inside', 'AA=C'], ['three "="', 'AA==='], ['a dot', 'AAE.']] as const) {
    refuses(t, read(v), exp, `a character outside standard base64: ${name}`);
  }
  // Decoded length outside [min, max].
  refuses(t, read(''), 'M.f: expected base64 of 2-3 bytes (got 0)', 'empty');
  refuses(t, read('AA=='), 'M.f: expected base64 of 2-3 bytes (got 1)', 'one byte below min');
  refuses(t, read('AAECAw=='), 'M.f: expected base64 of 2-3 bytes (got 4)', 'one byte above max (8 characters: passes the text bound)');
  refuses(t, read('AAECAwQF'), 'M.f: expected base64 of 2-3 bytes (got 6)', 'six bytes in 8 characters');
  t.equal(new WireReader('M', {}).optionalBytes('f', 2, 3), undefined, 'an absent optional field');
  refuses(t, () => new WireReader('M', { f: null }).optionalBytes('f', 2, 3), exp, 'null is not an absent optional field');
  refuses(t, () => new WireReader('M', { f: 'AA==' }).optionalBytes('f', 2, 3), 'M.f: expected base64 of 2-3 bytes (got 1)', 'a present optional field is bounded like a required one');
  t.end();
});

void t.test('string: a string of bounded length', (t) => {
  const read = (v: unknown) => () => new WireReader('M', { s: v }).string('s', 4);
  const exp = 'M.s: expected a string of at most 4 characters';
  t.equal(read('abcd')(), 'abcd', '4 characters: accepted');
  t.equal(read('')(), '', 'empty: accepted');
  refuses(t, read('abcde'), exp, '5 characters');
  for (const [name, v] of [['a number', 1234], ['an array', ['a']], ['null', null], ['an object', { toString: 'x' }], ['absent', undefined]] as const) refuses(t, read(v), exp, name);
  t.equal(new WireReader('M', {}).optionalString('s', 4), undefined, 'an absent optional string');
  refuses(t, () => new WireReader('M', { s: 'abcdef' }).optionalString('s', 4), exp, 'a present optional string is bounded');
  t.end();
});

void t.test('bytesList: a bounded list of bounded base64 items, each error naming its index', (t) => {
  const read = (v: unknown) => () => new WireReader('M', { l: v }).bytesList('l', 2, 3);
  t.same(read(['AAEC', ''])(), [Uint8Array.of(0, 1, 2), new Uint8Array(0)], 'two items: accepted');
  t.same(new WireReader('M', {}).bytesList('l', 2, 3), [], 'absent: empty');
  const shape = 'M.l: expected a list of at most 2 base64 strings';
  refuses(t, read(['AA==', 'AA==', 'AA==']), shape, 'three items');
  for (const [name, v] of [['a string', 'AAEC'], ['an object', { 0: 'AAEC', length: 1 }], ['null', null], ['a number', 2]] as const) refuses(t, read(v), shape, name);
  refuses(t, read(['AAEC', 'AAECAw==']), 'M.l.1: expected base64 of 0-3 bytes (got 4)', 'an item above the byte bound');
  refuses(t, read(['AAEC', 'AAECAwQFBgcI']), 'M.l.1: expected base64 of 0-3 bytes', 'an item whose text is too long');
  refuses(t, read([7]), 'M.l.0: expected base64 of 0-3 bytes', 'an item that is not a string');
  refuses(t, read(['AA_C']), 'M.l.0: expected base64 of 0-3 bytes', 'an item outside the alphabet');
  t.end();
});

void t.test('oneOf: exactly one of a closed set', (t) => {
  const read = (v: unknown) => () => new WireReader('M', { k: v }).oneOf('k', ['snp', 'tdx'] as const);
  t.equal(read('tdx')(), 'tdx');
  const exp = 'M.k: expected one of snp, tdx';
  for (const [name, v] of [['another string', 'sev'], ['upper case', 'SNP'], ['a prefix', 'sn'], ['an array holding one', ['snp']], ['absent', undefined], ['null', null], ['a property of every object', 'toString']] as const) refuses(t, read(v), exp, name);
  t.end();
});

void t.test('b64 encodes exactly the view it is given; the message bound is 4 MiB', (t) => {
  const backing = Uint8Array.of(9, 1, 2, 3, 9);
  t.equal(b64(backing.subarray(1, 4)), 'AQID', 'a subarray: only its bytes');
  t.equal(MAX_MESSAGE_BYTES, 4 * 1024 * 1024);
  t.end();
});
