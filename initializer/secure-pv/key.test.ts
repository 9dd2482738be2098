/**
 * The keyslot passphrase of an encrypted volume: HKDF-SHA256 of the workload secret with the volume's name in the
 * label. The known-answer vector pins the label and salt: changing either would lock every existing volume.
 */
import t from 'tap';
import { CcmeshError, ErrorCode } from '../../lib/errors.js';
import { deriveVolumeKey, VOLUME_KEY_BYTES } from './key.js';

const secret = Buffer.alloc(64, 7);

void t.test('known answer: the label and salt are part of every existing volume', async (t) => {
  // HKDF-SHA256(ikm = 64 × 0x07, salt = "ccmesh secure-pv keyslot v1", info = "ccmesh/secure-pv/v1/volume=data", 32)
  t.equal(deriveVolumeKey(secret, 'data').toString('hex'), 'c34e2cc9fd69fede1b6e298ec733765cad44e330da2165bf8130cf2893f7db2e');
  t.equal(deriveVolumeKey(secret, 'data').length, VOLUME_KEY_BYTES);
});

void t.test('the volume name and the secret both change the key', async (t) => {
  const a = deriveVolumeKey(secret, 'data');
  t.not(deriveVolumeKey(secret, 'data2').toString('hex'), a.toString('hex'), 'another volume of the same workload');
  const other = Buffer.from(secret);
  other[63] = (other[63] ?? 0) ^ 1;
  t.not(deriveVolumeKey(other, 'data').toString('hex'), a.toString('hex'), 'another workload secret');
});

void t.test('a short secret or a malformed volume name is refused, naming the field', async (t) => {
  const short = ((): unknown => {
    try {
      return deriveVolumeKey(Buffer.alloc(16), 'data');
    } catch (e) {
      return e;
    }
  })();
  t.ok(short instanceof CcmeshError && short.code === ErrorCode.SECURE_PV_FAILED, 'SECURE_PV_FAILED');
  t.match(String((short as Error).message), /workload secret: got 16 bytes, expected at least 32/);
  t.throws(() => deriveVolumeKey(secret, 'Data/x'), /volume name: got "Data\/x", expected a Kubernetes volume name/);
});
