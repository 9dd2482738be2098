import t from 'tap';
import { describeSystemError, formatIssue, MAX_ECHO_CHARS, quoteValue, systemErrorCode } from './errors.js';

void t.test('quoted values are bounded: short text as is, long text cut with its length, binary as hex', (t) => {
  t.equal(quoteValue('8080'), '"8080"');
  const long = quoteValue('a'.repeat(9 * 1024 * 1024));
  t.ok(long.length < MAX_ECHO_CHARS + 40, `a 9 MiB value becomes ${long.length} characters`);
  t.match(long, /^"a+"… \(9437184 characters\)$/);
  const binary = quoteValue(new Uint8Array(4096).fill(0xff));
  t.match(binary, /^hex:(ff)+… \(4096 bytes\)$/);
  t.ok(binary.length < MAX_ECHO_CHARS + 40);
  // Control characters and terminal escapes are never echoed raw.
  t.match(quoteValue('x\u001b[2Jy'), /^hex:781b5b324a79$/);
  t.match(quoteValue('a\nb'), /^hex:/);
  t.match(quoteValue('\u202eevil'), /^hex:/, 'a bidi override is shown as hex');
  t.equal(quoteValue('tab\there'), '"tab\\there"', 'a tab is ordinary text');
  t.match(formatIssue({ field: '--ark', value: '\u0000'.repeat(4096), expected: 'a PEM certificate' }), /^ {2}--ark: got hex:(00)+… \(4096 bytes\), expected a PEM certificate$/);
  t.end();
});

void t.test('system errors in words, without the temporary paths Node adds', (t) => {
  const enoent = Object.assign(new Error("ENOENT: no such file or directory, open '/nope/.x.1.ab.tmp'"), { code: 'ENOENT' });
  t.equal(systemErrorCode(enoent), 'ENOENT');
  t.equal(describeSystemError(enoent), 'no such file or directory (ENOENT)');
  t.equal(describeSystemError(Object.assign(new Error('EWEIRD: something odd, open x'), { code: 'EWEIRD' })), 'something odd (EWEIRD)');
  t.equal(systemErrorCode(new Error('plain')), undefined);
  t.equal(systemErrorCode({ code: 'CCMESH_ERR_USAGE' }), undefined, 'ccmesh codes are not system errors');
  t.equal(systemErrorCode({ code: 'ERR_MODULE_NOT_FOUND' }), undefined, 'Node\'s internal ERR_* codes are faults, not system errors');
  t.end();
});
