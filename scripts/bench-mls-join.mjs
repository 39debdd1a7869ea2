// Time for a new member to join an MLS group of N by a Welcome after a remove (the tree then
// has a filled direct path, so joinGroup verifies parent hashes): ts-mls alone, no server.
//   node scripts/bench-mls-join.mjs [N] [TS_MLS_DIST]    (default: this checkout's node_modules/ts-mls, patched;
//   pass an unpatched copy's dist/src to compare)         patches/README.md, docs/BENCHMARKS.md
import path from 'node:path';
import { fileURLToPath } from 'node:url';

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
const N = Number(process.argv[2] ?? 200);
const dist = process.argv[3] ?? path.join(root, 'node_modules/ts-mls/dist/src');
const m = await import(path.join(dist, 'index.js'));
const cs = await m.getCiphersuiteImpl(m.getCiphersuiteFromName('MLS_128_DHKEMX25519_AES128GCM_SHA256_Ed25519'));
const keyPackage = (name) =>
  m.generateKeyPackage(
    { credentialType: 'basic', identity: new TextEncoder().encode(name) },
    m.defaultCapabilities(),
    m.defaultLifetime,
    [],
    cs,
  );
const commit = async (state, proposals) =>
  await m.createCommit({ state, cipherSuite: cs }, { extraProposals: proposals, ratchetTreeExtension: true });

const creator = await keyPackage('creator');
let state = await m.createGroup(new TextEncoder().encode('group'), creator.publicPackage, creator.privatePackage, [], cs);
const members = [];
for (let i = 0; i < N; i++) members.push(await keyPackage(`member${i}`));
state = (
  await commit(
    state,
    members.map((k) => ({ proposalType: 'add', add: { keyPackage: k.publicPackage } })),
  )
).newState;
state = (await commit(state, [{ proposalType: 'remove', remove: { removed: 3 } }])).newState;
const late = await keyPackage('late');
const out = await commit(state, [{ proposalType: 'add', add: { keyPackage: late.publicPackage } }]);
const c0 = process.cpuUsage();
const t0 = performance.now();
await m.joinGroup(out.welcome, late.publicPackage, late.privatePackage, m.emptyPskIndex, cs);
const cpu = process.cpuUsage(c0);
console.log(
  `N ${N}: join ${(performance.now() - t0).toFixed(0)} ms (CPU ${((cpu.user + cpu.system) / 1000).toFixed(0)} ms), ts-mls at ${dist}`,
);
