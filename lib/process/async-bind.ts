/**
 * A lean `AsyncResource.prototype.bind` for Node versions whose own one is expensive.
 *
 * `http2`'s `ClientHttp2Session.request()` binds one callback to an `AsyncResource` per stream. In Node 20 (and still
 * in 22.23 and 24.22) every `bind()` also defines the deprecated `asyncResource` accessor (DEP0172) on the bound function, wrapping its getter
 * and setter in two fresh `deprecate()` closures. Profiles of the sidecar put that at ~11 % of the egress's busy time
 * when every app connection opens a tunnel stream, and at a similar share of every L7 request (one stream each);
 * a micro-benchmark of HTTP/2 requests over TLS in one process measured 30–45 % less CPU per request without it
 * (docs/proxy.md, "Runtime").
 *
 * The replacement keeps everything a caller can rely on: the function runs in the resource's async scope
 * (`runInAsyncScope`, so async hooks, `executionAsyncId()` and AsyncLocalStorage see the same as before), `this`
 * is the caller's receiver or `thisArg`, arguments and the return value pass through, `length` is the target's,
 * and a non-function is refused with `ERR_INVALID_ARG_TYPE`. Only the deprecated accessor is missing.
 *
 * Installed once per process by the sidecar (`startProxy`), and only where the runtime's own `bind` defines that
 * accessor; a runtime without it keeps its own `bind`.
 */
import { AsyncResource } from 'node:async_hooks';

const LEAN = Symbol.for('ccmesh.lean-async-bind');

type BindFn = (this: AsyncResource, fn: (...args: unknown[]) => unknown, thisArg?: unknown) => (...args: unknown[]) => unknown;

function notAFunction(fn: unknown): TypeError {
  const shown = fn === null ? 'null' : typeof fn === 'object' ? 'an instance of ' + ((fn as object).constructor?.name ?? 'Object') : `type ${typeof fn}`;
  const err = new TypeError(`The "fn" argument must be of type function. Received ${shown}`) as TypeError & { code: string };
  err.code = 'ERR_INVALID_ARG_TYPE';
  return err;
}

const leanBind: BindFn = function bind(this: AsyncResource, fn, thisArg) {
  if (typeof fn !== 'function') throw notAFunction(fn);
  // The bound function needs both the resource and its own caller's `this`.
  // eslint-disable-next-line @typescript-eslint/no-this-alias
  const resource = this;
  const bound =
    thisArg === undefined
      ? function (this: unknown, ...args: unknown[]): unknown {
          return resource.runInAsyncScope(fn, this, ...args);
        }
      : (...args: unknown[]): unknown => resource.runInAsyncScope(fn, thisArg, ...args);
  Object.defineProperty(bound, 'length', { value: fn.length, configurable: true, enumerable: false, writable: false });
  return bound;
};
Object.defineProperty(leanBind, LEAN, { value: true });

/** Whether this process's `AsyncResource.prototype.bind` is the lean one. */
export function leanAsyncBindActive(): boolean {
  return (AsyncResource.prototype.bind as unknown as Record<symbol, unknown>)[LEAN] === true;
}

/** Whether the process's current `AsyncResource.prototype.bind` defines the deprecated `asyncResource` accessor. */
export function bindDefinesDeprecatedAccessor(): boolean {
  const probe = new AsyncResource('ccmesh.bind-probe', { requireManualDestroy: true });
  const sample = probe.bind(() => undefined) as unknown as object;
  probe.emitDestroy();
  return Object.getOwnPropertyDescriptor(sample, 'asyncResource') !== undefined;
}

/**
 * Replaces `AsyncResource.prototype.bind` with the lean one when the runtime's own defines the deprecated
 * `asyncResource` accessor. Returns whether the lean one is active afterwards. Idempotent.
 */
export function installLeanAsyncBind(): boolean {
  if (leanAsyncBindActive()) return true;
  if (!bindDefinesDeprecatedAccessor()) return false;
  Object.defineProperty(AsyncResource.prototype, 'bind', { value: leanBind, configurable: true, enumerable: false, writable: true });
  return true;
}
