import t from 'tap';
import { ErrorCode } from '../../lib/errors.js';
import type { ManifestHash, TransitionHash } from './hashes.js';
import type { Transition } from './transition.js';
import { walkTransitions } from './walk.js';

const h = (c: string): TransitionHash => c.repeat(64) as TransitionHash;
const m = 'f'.repeat(64) as ManifestHash;

void t.test('a cycle (possible only with a broken hash check) is refused, not looped', async (t) => {
  const links: Record<string, Transition> = {
    [h('a')]: { manifestHash: m, previousTransitionHash: h('b') },
    [h('b')]: { manifestHash: m, previousTransitionHash: h('c') },
    [h('c')]: { manifestHash: m, previousTransitionHash: h('a') },
  };
  const seen: string[] = [];
  await t.rejects(
    (async () => {
      for await (const s of walkTransitions(h('a'), async (x) => links[x]!)) {
        seen.push(s.hash);
        // A walk that does not notice the cycle fails here, not by hanging the test.
        if (seen.length > 10) throw new Error('the walk went round the cycle');
      }
    })(),
    { code: ErrorCode.STORE_CORRUPT, message: /cycle at transition a{64}/ },
  );
  t.same(seen, [h('a'), h('b'), h('c')]);
});

void t.test('a self-loop is a cycle too; a chain ending in "" stops', async (t) => {
  const self = { manifestHash: m, previousTransitionHash: h('d') };
  await t.rejects((async () => {
    let steps = 0;
    for await (const _ of walkTransitions(h('d'), async () => self)) if (++steps > 10) throw new Error('the walk went round the self-loop');
  })(), { code: ErrorCode.STORE_CORRUPT });
  const out: string[] = [];
  for await (const s of walkTransitions(h('e'), async () => ({ manifestHash: m, previousTransitionHash: '' }))) out.push(s.hash);
  t.same(out, [h('e')]);
});
