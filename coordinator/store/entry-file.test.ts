import t from 'tap';
import fc from 'fast-check';
import { CcmeshError, ErrorCode } from '../../lib/errors.js';
import { encodeEntryFile, parseEntryFile } from './entry-file.js';

void t.test('encode then parse round-trips any value and revision', async (t) => {
  fc.assert(
    fc.property(fc.uint8Array({ maxLength: 256 }), fc.integer({ min: 1, max: Number.MAX_SAFE_INTEGER }), (value, revision) => {
      const back = parseEntryFile('f', 'a/b', encodeEntryFile('a/b', { value, revision }));
      return back.revision === revision && Buffer.compare(back.value, value) === 0;
    }),
  );
  t.pass('round-trip holds');
});

void t.test('arbitrary bytes parse to a verified entry or fail with STORE_CORRUPT only', async (t) => {
  const good = encodeEntryFile('k', { value: new TextEncoder().encode('value'), revision: 7 });
  fc.assert(
    fc.property(
      fc.oneof(fc.uint8Array({ maxLength: 600 }), fc.tuple(fc.nat(good.length - 1), fc.integer({ min: 0, max: 255 })).map(([i, b]) => {
        const m = new Uint8Array(good);
        m[i] = b;
        return m;
      })),
      (bytes) => {
        try {
          const e = parseEntryFile('f', 'k', bytes);
          // Accepted only if it is the original (a byte replaced by itself).
          return e.revision === 7 && new TextDecoder().decode(e.value) === 'value';
        } catch (err) {
          return err instanceof CcmeshError && err.code === ErrorCode.STORE_CORRUPT;
        }
      },
    ),
  );
  t.pass('no other failure mode');
});

void t.test('the header is one readable line', async (t) => {
  const bytes = Buffer.from(encodeEntryFile('state/salt', { value: new Uint8Array([1, 2]), revision: 3 }));
  t.match(bytes.subarray(0, -2).toString('latin1'), /^ccmesh-store\/1 3 2 [0-9a-f]{64} state\/salt\n$/);
  t.same([...bytes.subarray(-2)], [1, 2], 'the value follows the header verbatim');
});
