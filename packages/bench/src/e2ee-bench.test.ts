import assert from 'node:assert/strict';
import { test } from 'node:test';
import { runE2eeBench } from './e2ee.js';

/*
 * `npm run bench -- e2ee` in miniature, against the spawned server it always uses: groups of
 * 3 and 6, two encrypted and two plaintext pairs for a second. The figures must come from
 * what went over the wire (sizes that grow with the group, a Welcome only where someone
 * was added) and every message must arrive, decrypted where encrypted.
 */

test(
  'e2ee bench: commit, Welcome and GroupInfo sizes from the wire; encrypted and plaintext 1:1 all delivered',
  { timeout: 240_000 },
  async () => {
    const r = await runE2eeBench(
      { sizes: [3, 6], joiners: null, pairs: 2, rate: 20, seconds: 1, contentBytes: 16, quietMessages: 4 },
      { nodeArgs: [], env: {}, keepData: false, quiet: true },
      () => {},
    );
    const [small, big] = r.groups;
    for (const g of [small!, big!]) {
      const c = g.create.sizes;
      assert.equal(c.welcomeDevices, g.size - 1, 'the creating commit welcomes every other device');
      for (const part of [c.commit, c.welcome!, c.groupInfo]) assert.equal(part.b64, 4 * Math.ceil(part.bytes / 3));
      assert.deepEqual([g.joins.sampled, g.joins.of], [g.size - 1, g.size - 1]);
      assert.ok(g.joins.ms.p50 > 0 && g.create.buildMs > 0 && g.create.acceptMs > 0);
      assert.equal(g.remove.sizes.welcome, null, 'a remove welcomes nobody');
      assert.equal(g.add.sizes.welcomeDevices, 1);
      assert.ok(g.addJoin.ms > 0);
      assert.ok(g.memberProcess && g.memberProcess.removeMs > 0 && g.memberProcess.addMs > 0);
    }
    // Three more key packages travel in the bigger group's creating commit, and three more leaves in its tree.
    assert.ok(big!.create.sizes.commit.bytes > small!.create.sizes.commit.bytes + 3 * 200);
    assert.ok(big!.create.sizes.groupInfo.bytes > small!.create.sizes.groupInfo.bytes + 3 * 200);

    assert.deepEqual(
      r.latency.map((l) => [l.kind, l.sent, l.received]),
      [
        ['plaintext', 20, 20],
        ['encrypted', 20, 20],
      ],
    );
    const enc = r.latency[1]!;
    assert.equal(enc.encryptMs!.count, 20);
    assert.equal(enc.decryptMs!.count, 20);
    assert.equal(r.quiet!.encryptCpuMs.count, 4);
    assert.equal(r.quiet!.decryptCpuMs.count, 4);
    assert.ok(r.quiet!.ciphertextChars > 16);
  },
);
