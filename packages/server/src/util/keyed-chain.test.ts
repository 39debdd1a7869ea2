import assert from 'node:assert/strict';
import { test } from 'node:test';
import { KeyedChain } from './keyed-chain.js';

test('keyed chain: one key runs its tasks in call order, even past a failure; other keys do not wait', async () => {
  const chain = new KeyedChain();
  const log: string[] = [];
  let releaseA!: () => void;
  const a1 = chain.run('a', async () => {
    log.push('a1 start');
    await new Promise<void>((r) => (releaseA = r));
    log.push('a1 end');
    throw new Error('a1 failed');
  });
  const a2 = chain.run('a', async () => {
    log.push('a2');
    return 2;
  });
  const b1 = chain.run('b', async () => {
    log.push('b1');
    return 1;
  });
  assert.equal(await b1, 1);
  assert.deepEqual(log, ['a1 start', 'b1'], 'the first task of an idle key starts at once; a2 waits for a1');
  releaseA();
  await assert.rejects(a1, /a1 failed/);
  assert.equal(await a2, 2);
  assert.deepEqual(log, ['a1 start', 'b1', 'a1 end', 'a2']);
});
