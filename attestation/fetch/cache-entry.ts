/**
 * The on-disk form of one cached collateral response: a magic line, one line of JSON metadata, then the body
 * bytes exactly as served. The metadata records the body's length and SHA-256, so a truncated, partially
 * written or bit-rotted file is recognised and ignored instead of being handed to the verifier.
 */
import { createHash } from 'node:crypto';
import { COLLATERAL_KINDS, type CollateralKind } from './collateral-request.js';
import { decodeExactText, encodeText } from './text.js';

/** One cached response and what is needed to judge its freshness. */
export interface CacheEntry {
  readonly kind: CollateralKind;
  /** {@link requestKey} of the request it answers. */
  readonly key: string;
  /** When it was fetched, by the cache's clock. */
  readonly fetchedAtMs: number;
  /** nextUpdate of the document itself, when it has one that could be read. */
  readonly nextUpdateMs: number | undefined;
  /** URL-decoded PEM issuer chain, for the Intel kinds that come with one. */
  readonly issuerChain: string | undefined;
  readonly body: Uint8Array;
}

/** Outcome of reading a cache file: the entry, or why the file was not trusted. */
export type DecodedCacheEntry = { readonly ok: true; readonly entry: CacheEntry } | { readonly ok: false; readonly problem: string };

const MAGIC = encodeText('ccmesh-collateral-cache/1\n');
/** The metadata line holds at most an issuer chain of a few KiB; anything longer is not ours. */
const MAX_META_BYTES = 64 * 1024;

/** Kinds whose response comes with an issuer-chain header that must be kept with the body. */
export function hasIssuerChain(kind: CollateralKind): boolean {
  return kind === 'intel-tcb-info' || kind === 'intel-qe-identity' || kind === 'intel-pck-crl';
}

/** Kinds whose body is text (PEM or JSON) and must decode as UTF-8. */
export function isTextKind(kind: CollateralKind): boolean {
  return kind === 'amd-chain' || kind === 'intel-tcb-info' || kind === 'intel-qe-identity';
}

function sha256Hex(b: Uint8Array): string {
  return createHash('sha256').update(b).digest('hex');
}

/** Serialises an entry for {@link decodeCacheEntry}. */
export function encodeCacheEntry(e: CacheEntry): Uint8Array {
  const meta = JSON.stringify({
    key: e.key,
    kind: e.kind,
    fetchedAtMs: e.fetchedAtMs,
    nextUpdateMs: e.nextUpdateMs ?? null,
    issuerChain: e.issuerChain ?? null,
    bodyLength: e.body.length,
    bodySha256: sha256Hex(e.body),
  });
  return Buffer.concat([MAGIC, encodeText(meta + '\n'), e.body]);
}

function isTime(v: unknown): v is number {
  return typeof v === 'number' && Number.isSafeInteger(v) && v >= 0;
}

/** Parses a cache file, requiring it to answer the request `expected` and to be complete. */
export function decodeCacheEntry(bytes: Uint8Array, expected: { readonly key: string; readonly kind: CollateralKind }): DecodedCacheEntry {
  const bad = (problem: string): DecodedCacheEntry => ({ ok: false, problem });
  if (bytes.length < MAGIC.length || !Buffer.from(bytes.subarray(0, MAGIC.length)).equals(MAGIC)) return bad('not a ccmesh cache file');
  const newline = bytes.indexOf(0x0a, MAGIC.length);
  if (newline < 0 || newline - MAGIC.length > MAX_META_BYTES) return bad('metadata line missing or too long');
  let meta: Record<string, unknown>;
  try {
    const parsed: unknown = JSON.parse(Buffer.from(bytes.subarray(MAGIC.length, newline)).toString('utf8'));
    if (typeof parsed !== 'object' || parsed === null || Array.isArray(parsed)) return bad('metadata is not an object');
    meta = parsed as Record<string, unknown>;
  } catch {
    return bad('metadata is not JSON');
  }
  const { key, kind, fetchedAtMs, nextUpdateMs, issuerChain, bodyLength, bodySha256 } = meta;
  // The key and kind guard against a file renamed or copied under another request's name.
  if (key !== expected.key || kind !== expected.kind || !(COLLATERAL_KINDS as readonly unknown[]).includes(kind)) {
    return bad('entry answers a different request');
  }
  if (!isTime(fetchedAtMs)) return bad('fetchedAtMs missing');
  if (nextUpdateMs !== null && !isTime(nextUpdateMs)) return bad('nextUpdateMs malformed');
  if (hasIssuerChain(expected.kind) ? typeof issuerChain !== 'string' : issuerChain !== null) return bad('issuer chain missing or unexpected');
  const body = bytes.subarray(newline + 1);
  if (bodyLength !== body.length) return bad(`body is ${body.length} bytes, metadata says ${String(bodyLength)} (partial write?)`);
  if (bodySha256 !== sha256Hex(body)) return bad('body checksum mismatch');
  if (isTextKind(expected.kind) && decodeExactText(body) === undefined) return bad('text body is not UTF-8');
  return {
    ok: true,
    entry: {
      kind: expected.kind,
      key: expected.key,
      fetchedAtMs,
      nextUpdateMs: nextUpdateMs ?? undefined,
      issuerChain: typeof issuerChain === 'string' ? issuerChain : undefined,
      body: body.slice(),
    },
  };
}
