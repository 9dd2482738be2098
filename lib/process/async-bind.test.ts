/**
 * The lean AsyncResource.bind (lib/process/async-bind.ts) behaves like Node's own for everything but the deprecated
 * `asyncResource` accessor: the same async scope (async hooks, AsyncLocalStorage), receiver, arguments, return value,
 * length and argument error — checked against the runtime's own bind in the same process, before and after install —
 * and HTTP/2 client requests (the caller it is for) keep their async context.
 */
import t from 'tap';
import { AsyncLocalStorage, AsyncResource, executionAsyncId } from 'node:async_hooks';
import { connect as h2Connect, createServer as createH2Server } from 'node:http2';
import type { AddressInfo } from 'node:net';
import { bindDefinesDeprecatedAccessor, installLeanAsyncBind, leanAsyncBindActive } from './async-bind.js';

const als = new AsyncLocalStorage<string>();

interface Observed {
  inScope: boolean;
  store: string | undefined;
  self: unknown;
  args: unknown[];
  result: unknown;
  length: number;
  error: string | undefined;
}

/** What one bind() does, through whichever bind() the process has now. */
function observe(thisArg?: unknown): Observed {
  const resource = als.run('created-here', () => new AsyncResource('ccmesh.test'));
  let inScope = false;
  let store: string | undefined;
  let self: unknown;
  let args: unknown[] = [];
  const target = function (this: unknown, a: unknown, b: unknown, c: unknown): string {
    inScope = executionAsyncId() === resource.asyncId();
    store = als.getStore();
    // eslint-disable-next-line @typescript-eslint/no-this-alias
    self = this;
    args = [a, b, c];
    return 'result';
  };
  // @types/node leaves out bind's second parameter (thisArg), which Node has had since v14.8.
  const bound = (resource.bind as (fn: typeof target, thisArg?: unknown) => typeof target)(target, thisArg);
  const receiver = { name: 'receiver' };
  const result = als.run('caller', () => (bound as (this: unknown, ...a: unknown[]) => unknown).call(receiver, 1, 'two', 3));
  let error: string | undefined;
  try {
    resource.bind(42 as unknown as () => void);
  } catch (err) {
    error = `${(err as Error).name} ${(err as { code?: string }).code}`;
  }
  return { inScope, store, self: self === receiver ? 'receiver' : self, args, result, length: bound.length, error };
}

void t.test('same behaviour as the runtime bind, without the deprecated accessor', (t) => {
  const runtimeHasAccessor = bindDefinesDeprecatedAccessor();
  t.notOk(leanAsyncBindActive(), 'not active before install');
  const thisArg = { name: 'bound-this' };
  const before = observe();
  const beforeThis = observe(thisArg);
  t.ok(before.inScope, 'runtime bind: runs in the resource scope');
  t.equal(before.store, 'created-here', 'runtime bind: AsyncLocalStorage of where the resource was created');

  t.equal(installLeanAsyncBind(), runtimeHasAccessor, 'installed exactly when the runtime bind defines the accessor');
  t.equal(leanAsyncBindActive(), runtimeHasAccessor, 'active state reported');
  t.equal(installLeanAsyncBind(), runtimeHasAccessor, 'idempotent');

  t.strictSame(observe(), before, 'receiver, arguments, scope, store, result, length and error as before');
  t.strictSame(observe(thisArg), beforeThis, 'with thisArg too');
  t.equal(beforeThis.self, thisArg, 'thisArg wins over the receiver');
  t.equal(before.error, 'TypeError ERR_INVALID_ARG_TYPE', 'a non-function is refused');
  if (runtimeHasAccessor) t.notOk(bindDefinesDeprecatedAccessor(), 'no deprecated accessor any more');
  t.equal(AsyncResource.bind((x: number) => x * 2)(21), 42, 'the static AsyncResource.bind still works');
  t.end();
});

void t.test('HTTP/2 client requests keep their async context through the lean bind', async (t) => {
  installLeanAsyncBind();
  const server = createH2Server();
  server.on('stream', (s) => {
    s.respond({ ':status': 200 });
    s.end('ok');
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  t.teardown(() => server.close());
  const session = h2Connect(`http://127.0.0.1:${(server.address() as AddressInfo).port}`);
  t.teardown(() => session.close());
  // Requested before the session connected: http2 runs the bound callback at 'connect', in the caller's context.
  const stores = await Promise.all(
    ['a', 'b', 'c'].map(
      (name) =>
        new Promise<string | undefined>((resolve, reject) =>
          als.run(name, () => {
            const req = session.request({ ':path': '/' });
            req.on('error', reject);
            // A body chunk arrives through the stream's own handle, created inside the bound callback: it carries
            // the context of the bind (the 'response' event has its own scope in http2 and would not show it).
            req.once('data', () => resolve(als.getStore()));
          }),
        ),
    ),
  );
  t.strictSame(stores, ['a', 'b', 'c'], 'each request sees its own caller context');
});
