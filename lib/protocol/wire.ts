/**
 * Decoding untrusted RPC messages. ccmesh's gRPC messages are JSON objects (bytes as base64, certificates as PEM);
 * every handler first turns the raw object into a typed message here, so a malformed peer gets INVALID_ARGUMENT
 * naming the field, never a crash deep inside a handler.
 */

/** A field-level problem with a message. */
export class WireError extends Error {
  override readonly name = 'WireError';
}

/** Largest JSON message either side accepts (evidence and certificate chains are far smaller). */
export const MAX_MESSAGE_BYTES = 4 * 1024 * 1024;

/**
 * Largest UserAPI answer a client reads: `GetManifests` returns the whole history (every manifest and policy ever
 * set), which outgrows MAX_MESSAGE_BYTES after a few updates with large policies, and `set`, `verify` and `recover`
 * all start with it. Pods use only the MeshAPI and keep the smaller bound.
 */
export const MAX_HISTORY_ANSWER_BYTES = 64 * 1024 * 1024;

/** Reads typed fields of one incoming message object. */
export class WireReader {
  readonly #obj: Record<string, unknown>;
  readonly #what: string;

  constructor(what: string, value: unknown) {
    this.#what = what;
    if (typeof value !== 'object' || value === null || Array.isArray(value)) throw new WireError(`${what}: expected a JSON object`);
    this.#obj = value as Record<string, unknown>;
  }

  #fail(field: string, expected: string): never {
    throw new WireError(`${this.#what}.${field}: expected ${expected}`);
  }

  /** Base64 bytes with a length in [min, max]. */
  bytes(field: string, min: number, max: number): Uint8Array {
    const v = this.#obj[field];
    if (typeof v !== 'string' || v.length > Math.ceil(max / 3) * 4 + 4 || !/^[A-Za-z0-9+/]*={0,2}$/.test(v)) this.#fail(field, `base64 of ${min}-${max} bytes`);
    const b = new Uint8Array(Buffer.from(v, 'base64'));
    if (b.length < min || b.length > max) this.#fail(field, `base64 of ${min}-${max} bytes (got ${b.length})`);
    return b;
  }

  /** Optional base64 bytes. */
  optionalBytes(field: string, min: number, max: number): Uint8Array | undefined {
    return this.#obj[field] === undefined ? undefined : this.bytes(field, min, max);
  }

  /** A string of at most `max` characters. */
  string(field: string, max: number): string {
    const v = this.#obj[field];
    if (typeof v !== 'string' || v.length > max) this.#fail(field, `a string of at most ${max} characters`);
    return v;
  }

  /** Optional string. */
  optionalString(field: string, max: number): string | undefined {
    return this.#obj[field] === undefined ? undefined : this.string(field, max);
  }

  /** A list of base64 byte strings. */
  bytesList(field: string, maxItems: number, maxBytes: number): Uint8Array[] {
    const v = this.#obj[field];
    if (v === undefined) return [];
    if (!Array.isArray(v) || v.length > maxItems) this.#fail(field, `a list of at most ${maxItems} base64 strings`);
    return v.map((_, i) => new WireReader(`${this.#what}.${field}`, { [i]: v[i] }).bytes(String(i), 0, maxBytes));
  }

  /** A nested object. */
  object(field: string): WireReader {
    return new WireReader(`${this.#what}.${field}`, this.#obj[field]);
  }

  /** An optional nested object. */
  optionalObject(field: string): WireReader | undefined {
    return this.#obj[field] === undefined ? undefined : this.object(field);
  }

  /** One of a closed set. */
  oneOf<T extends string>(field: string, allowed: readonly T[]): T {
    const v = this.#obj[field];
    if (typeof v !== 'string' || !(allowed as readonly string[]).includes(v)) this.#fail(field, `one of ${allowed.join(', ')}`);
    return v as T;
  }
}

/** Base64 of bytes, for outgoing messages. */
export function b64(bytes: Uint8Array): string {
  return Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength).toString('base64');
}
