/**
 * The simulated AMD platform: what `ccmesh attest simulate init --out DIR` creates and the simulated issuer signs
 * with. It exists because no developer or CI machine has SEV-SNP; it uses AMD's real formats so evidence goes
 * through the verifier's one code path, and its ARK is marked as simulated and never pinned anywhere.
 *
 * DIR layout (public files 0644, private keys 0600, every file written atomically):
 *   platform.json   product, chip id, TCB, defaults for policy / measurement / host data
 *   ark.pem         the simulated ARK — pass it explicitly (`attest verify --root`) to trust this platform
 *   cert_chain.pem  ASK then ARK, the layout AMD KDS serves
 *   vcek.der / vcek.pem
 *   ark.key ask.key vcek.key   PKCS#8 private keys
 */
import { createPrivateKey, randomBytes, type KeyObject, type webcrypto, type X509Certificate } from 'node:crypto';
import { readFile, stat } from 'node:fs/promises';
import { join } from 'node:path';
import { fromHex, toHex } from '../../lib/bytes.js';
import { JsonObjectReader } from '../../lib/config/json-reader.js';
import { CcmeshError, ConfigError, describeError, ErrorCode } from '../../lib/errors.js';
import { writeFileAtomic } from '../../lib/fs/atomic-write.js';
import { parseCertificate, parseCertificates } from '../x509/pem.js';
import { SNP_PRODUCTS, type SnpProduct } from '../snp/product.js';
import type { SnpTcb } from '../snp/tcb.js';
import {
  createArk,
  createIntermediate,
  createVek,
  generateAmdRsaKeys,
  generateVekKeys,
  toKeyObject,
} from './amd-certificates.js';
import { SIMULATED_ORGANIZATION } from './marker.js';
import { makeDirs } from '../../lib/fs/make-dirs.js';

export { SIMULATED_ORGANIZATION };

/** Schema tag of platform.json. */
export const PLATFORM_SCHEMA = 'ccmesh-simulated-platform/1';

/** The persisted description of a simulated platform. */
export interface SimulatedPlatformConfig {
  readonly product: SnpProduct;
  /** 64 bytes (Turin: 8 significant bytes, the rest zero). */
  readonly chipId: string;
  readonly reportedTcb: SnpTcb;
  /** Guest POLICY as 16 hex digits; default SMT allowed + reserved bit 17, no debug, no migration agent. */
  readonly policy: string;
  /** Default MEASUREMENT (48 bytes hex) when an issuance doesn't override it. */
  readonly measurement: string;
  /** Default HOST_DATA (32 bytes hex) when an issuance doesn't override it. */
  readonly hostData: string;
}

/** A loaded platform: configuration, the VCEK and its key, the chain. */
export interface SimulatedPlatform {
  readonly dir: string;
  readonly config: SimulatedPlatformConfig;
  readonly vcekDer: Uint8Array;
  readonly vcekKey: KeyObject;
  /** PEM bundle: ASK then ARK. */
  readonly chainPem: Uint8Array;
  readonly ark: X509Certificate;
}

/** Options of {@link initSimulatedPlatform}. */
export interface SimulatedPlatformOptions {
  readonly product?: SnpProduct;
  readonly measurement?: Uint8Array;
  readonly hostData?: Uint8Array;
  readonly policy?: bigint;
  /** RSA size of ARK and ASK; AMD uses 4096 (the default). Tests may use 2048 for speed. */
  readonly rsaBits?: 2048 | 3072 | 4096;
  /** Certificate validity; default from now for 10 years. */
  readonly notBefore?: Date;
  readonly notAfter?: Date;
  /** Called with a short status line during the slow steps (RSA key generation). */
  readonly progress?: (message: string) => void;
}

/** A plausible TCB per product (values in the range real firmware reports). */
const DEFAULT_TCB: Record<SnpProduct, SnpTcb> = {
  milan: { bootloader: 4, tee: 0, snp: 23, microcode: 213 },
  genoa: { bootloader: 9, tee: 0, snp: 23, microcode: 72 },
  turin: { fmc: 1, bootloader: 1, tee: 1, snp: 3, microcode: 77 },
};

const FILES = {
  config: 'platform.json',
  ark: 'ark.pem',
  chain: 'cert_chain.pem',
  vcekDer: 'vcek.der',
  vcekPem: 'vcek.pem',
  arkKey: 'ark.key',
  askKey: 'ask.key',
  vcekKey: 'vcek.key',
} as const;

async function pkcs8Pem(key: webcrypto.CryptoKey): Promise<string> {
  return toKeyObject(key).export({ type: 'pkcs8', format: 'pem' }) as string;
}

/** Creates a simulated platform in `dir` (created 0700 if missing; refuses to overwrite an existing platform). */
export async function initSimulatedPlatform(dir: string, opts: SimulatedPlatformOptions = {}): Promise<SimulatedPlatform> {
  const configPath = join(dir, FILES.config);
  if (await stat(configPath).then(() => true, () => false)) {
    throw new CcmeshError(ErrorCode.USAGE, `${dir} already holds a simulated platform (${FILES.config}); remove it or choose another directory`);
  }
  await makeDirs(dir, 0o700);
  const product = opts.product ?? 'milan';
  const chipId = new Uint8Array(64);
  chipId.set(randomBytes(product === 'turin' ? 8 : 64));
  const config: SimulatedPlatformConfig = {
    product,
    chipId: toHex(chipId),
    reportedTcb: DEFAULT_TCB[product],
    policy: (opts.policy ?? 0x30000n).toString(16).padStart(16, '0'),
    measurement: toHex(opts.measurement ?? new Uint8Array(48)),
    hostData: toHex(opts.hostData ?? new Uint8Array(32)),
  };
  const validity = {
    notBefore: opts.notBefore ?? new Date(Math.floor(Date.now() / 1000) * 1000 - 60_000),
    notAfter: opts.notAfter ?? new Date(Date.now() + 10 * 365 * 24 * 3600 * 1000),
  };
  const bits = opts.rsaBits ?? 4096;
  opts.progress?.(`generating the simulated ARK (RSA-${bits})`);
  const arkKeys = await generateAmdRsaKeys(bits);
  const ark = { cert: await createArk(product, arkKeys, validity, SIMULATED_ORGANIZATION), keys: arkKeys };
  opts.progress?.(`generating the simulated ASK (RSA-${bits})`);
  const askKeys = await generateAmdRsaKeys(bits);
  const ask = { cert: await createIntermediate(product, 'ask', askKeys, ark, validity, SIMULATED_ORGANIZATION), keys: askKeys };
  opts.progress?.('generating the simulated VCEK (P-384)');
  const vcekKeys = await generateVekKeys();
  const tcb = config.reportedTcb;
  const vcek = await createVek(
    {
      kind: 'vcek',
      product,
      spls: { blSPL: tcb.bootloader, teeSPL: tcb.tee, snpSPL: tcb.snp, ucodeSPL: tcb.microcode, ...(product === 'turin' ? { fmcSPL: tcb.fmc ?? 0 } : { spl_4: 0, spl_5: 0, spl_6: 0, spl_7: 0 }) },
      hwId: product === 'turin' ? chipId.subarray(0, 8) : chipId,
    },
    vcekKeys.publicKey,
    ask,
    validity,
    SIMULATED_ORGANIZATION,
  );
  // Private keys first: a crash before platform.json leaves no usable (half-made) platform behind.
  await writeFileAtomic(join(dir, FILES.arkKey), await pkcs8Pem(arkKeys.privateKey), 0o600);
  await writeFileAtomic(join(dir, FILES.askKey), await pkcs8Pem(askKeys.privateKey), 0o600);
  await writeFileAtomic(join(dir, FILES.vcekKey), await pkcs8Pem(vcekKeys.privateKey), 0o600);
  await writeFileAtomic(join(dir, FILES.ark), ark.cert.toString('pem') + '\n', 0o644);
  await writeFileAtomic(join(dir, FILES.chain), `${ask.cert.toString('pem')}\n${ark.cert.toString('pem')}\n`, 0o644);
  await writeFileAtomic(join(dir, FILES.vcekDer), new Uint8Array(vcek.rawData), 0o644);
  await writeFileAtomic(join(dir, FILES.vcekPem), vcek.toString('pem') + '\n', 0o644);
  await writeFileAtomic(configPath, JSON.stringify({ schema: PLATFORM_SCHEMA, ...config }, null, 2) + '\n', 0o644);
  return loadSimulatedPlatform(dir);
}

/** Loads a platform made by {@link initSimulatedPlatform}; errors name the file and what is wrong with it. */
export async function loadSimulatedPlatform(dir: string): Promise<SimulatedPlatform> {
  const read = async (name: string): Promise<Buffer> => {
    try {
      return await readFile(join(dir, name));
    } catch (err) {
      throw new CcmeshError(ErrorCode.INPUT_UNREADABLE, `simulated platform ${dir}: cannot read ${name} (${describeError(err)}); create one with "ccmesh attest simulate init --out ${dir}"`, { cause: err });
    }
  };
  const config = parsePlatformConfig((await read(FILES.config)).toString('utf8'), join(dir, FILES.config));
  const vcekDer = new Uint8Array(await read(FILES.vcekDer));
  const chainPem = new Uint8Array(await read(FILES.chain));
  let vcekKey: KeyObject;
  let ark: X509Certificate;
  try {
    vcekKey = createPrivateKey(await read(FILES.vcekKey));
    parseCertificate(vcekDer, FILES.vcekDer);
    const chain = parseCertificates(chainPem, FILES.chain);
    if (chain.length !== 2) throw new Error(`${FILES.chain} must hold the ASK then the ARK`);
    ark = chain[1]!;
  } catch (err) {
    throw new CcmeshError(ErrorCode.INPUT_MALFORMED, `simulated platform ${dir} is damaged: ${describeError(err)}`, { cause: err });
  }
  const st = await stat(join(dir, FILES.vcekKey));
  if ((st.mode & 0o077) !== 0) {
    throw new CcmeshError(ErrorCode.INPUT_MALFORMED, `simulated platform ${dir}: ${FILES.vcekKey} is readable by others (mode ${(st.mode & 0o777).toString(8)}); expected 0600`);
  }
  return { dir, config, vcekDer, vcekKey, chainPem, ark };
}

/** Parses platform.json, reporting every problem with its field. */
export function parsePlatformConfig(text: string, source: string): SimulatedPlatformConfig {
  let json: unknown;
  try {
    json = JSON.parse(text);
  } catch (err) {
    throw new ConfigError(`simulated platform ${source}`, [{ field: '$', value: text.slice(0, 40), expected: `JSON (${describeError(err)})` }]);
  }
  const r = new JsonObjectReader('', json, 'a platform description object');
  r.allowOnly(['schema', 'product', 'chipId', 'reportedTcb', 'policy', 'measurement', 'hostData']);
  if (r.raw('schema') !== PLATFORM_SCHEMA) r.issue('schema', r.raw('schema'), JSON.stringify(PLATFORM_SCHEMA));
  const product = r.raw('product');
  if (!(SNP_PRODUCTS as readonly unknown[]).includes(product)) r.issue('product', product, `one of ${SNP_PRODUCTS.join(', ')}`);
  const chipId = r.hex('chipId', 64);
  const measurement = r.hex('measurement', 48);
  const hostData = r.hex('hostData', 32);
  const policy = r.raw('policy');
  if (typeof policy !== 'string' || !/^[0-9a-f]{16}$/.test(policy)) r.issue('policy', policy, '16 lowercase hex digits');
  const t = r.object('reportedTcb', 'an object {bootloader, tee, snp, microcode, fmc?}');
  const tcb: Record<string, number> = {};
  if (t) {
    t.allowOnly(['bootloader', 'tee', 'snp', 'microcode', 'fmc']);
    for (const k of ['bootloader', 'tee', 'snp', 'microcode', 'fmc']) {
      const v = t.int(k, 255);
      if (v === undefined && k !== 'fmc') t.issue(k, t.raw(k), 'an integer 0-255');
      if (v !== undefined) tcb[k] = v;
    }
  } else {
    r.issue('reportedTcb', undefined, 'an object {bootloader, tee, snp, microcode, fmc?}');
  }
  if (r.issues.length > 0) throw new ConfigError(`simulated platform ${source}`, r.issues);
  return Object.freeze({
    product: product as SnpProduct,
    chipId: chipId!,
    reportedTcb: Object.freeze(tcb as unknown as SnpTcb),
    policy: policy as string,
    measurement: measurement!,
    hostData: hostData!,
  });
}

/** Decodes a hex field of the config that {@link parsePlatformConfig} already validated. */
export function configBytes(hex: string): Uint8Array {
  return fromHex(hex) ?? new Uint8Array(0);
}

