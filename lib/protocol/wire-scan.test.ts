import t from 'tap';
import type { MethodDefinition } from '@grpc/grpc-js';
import { FIELD_NUMBERS, PROTO_DEFINITION, PROTO_PACKAGE } from './services.js';
import { scanMessage } from './wire-scan.js';

/** protobufjs's own decoder of UserAPI.Attest's request, as grpc-js would call it without the scan. */
const attest = (PROTO_DEFINITION[`${PROTO_PACKAGE}.UserAPI`] as Record<string, MethodDefinition<{ nonce: Buffer }, unknown>>).Attest!;

void t.test('a tag or length wider than 5 bytes is refused: protobufjs would decode another message than the one scanned', (t) => {
  // nonce (field 1) with its length 32 written in 6 bytes, 32 bytes of 1s, then an unknown field 9 of 2 zero bytes.
  const smuggled = Buffer.concat([Buffer.from([0x0a, 0xa0, 0x80, 0x80, 0x80, 0x80, 0x00]), Buffer.alloc(32, 1), Buffer.from([0x4a, 0x02, 0x00, 0x00])]);
  // What protobufjs makes of it: the nonce starts 4 bytes late and swallows the "unknown field" (the disagreement).
  t.same([...attest.requestDeserialize(smuggled).nonce], [...Buffer.alloc(28, 1), 0x4a, 0x02, 0x00, 0x00]);
  t.equal(scanMessage(FIELD_NUMBERS, 'AttestRequest', smuggled, 'Attest'), 'Attest.nonce: malformed length (expected a varint of at most 5 bytes)');

  const wideTag = Buffer.concat([Buffer.from([0x8a, 0x80, 0x80, 0x80, 0x80, 0x00, 0x20]), Buffer.alloc(32, 1)]);
  t.equal(scanMessage(FIELD_NUMBERS, 'AttestRequest', wideTag, 'Attest'), 'Attest: malformed field tag');
  const wideUnknown = Buffer.concat([Buffer.from([0x4a, 0x81, 0x80, 0x80, 0x80, 0x80, 0x00]), Buffer.alloc(1)]);
  t.equal(scanMessage(FIELD_NUMBERS, 'AttestRequest', wideUnknown, 'Attest'), 'Attest: unknown field 9: malformed length (expected a varint of at most 5 bytes)');

  // The widest form protobufjs reads the same way (5 bytes, the fifth without "more") is still accepted.
  const fiveBytes = Buffer.concat([Buffer.from([0x0a, 0xa0, 0x80, 0x80, 0x80, 0x00]), Buffer.alloc(32, 1)]);
  t.equal(scanMessage(FIELD_NUMBERS, 'AttestRequest', fiveBytes, 'Attest'), undefined);
  t.same([...attest.requestDeserialize(fiveBytes).nonce], [...Buffer.alloc(32, 1)], 'and decodes to what was scanned');
  t.end();
});
