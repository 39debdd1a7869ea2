import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import pg from 'pg';
import { SignJWT } from 'jose';
import { http } from '../testing/harness.js';
import { clusterServicesMissing } from '../testing/services.js';
import { clusterSuite } from '../testing/cluster.js';

/*
 * Signing in from the host app in cluster mode: two server processes on one PostgreSQL.
 * The same app user signing in on both nodes at the same moment must end as one user
 * (the store's unique (issuer, subject)), with a device on each.
 */
const missing = await clusterServicesMissing();

const SECRET = 'a host app secret of at least 32 bytes!';
const ISSUER = 'https://app.example.com';
const AUDIENCE = 'switchboard';

const assertion = (claims: Record<string, unknown>) =>
  new SignJWT(claims)
    .setProtectedHeader({ alg: 'HS256' })
    .setIssuer(ISSUER)
    .setAudience(AUDIENCE)
    .setExpirationTime('5m')
    .sign(new TextEncoder().encode(SECRET));

describe('cluster: signing in from the host app', { skip: missing ?? false }, () => {
  const { nodes, databaseUrl } = clusterSuite(2, {
    env: { AUTH_JWT_SECRET: SECRET, AUTH_JWT_ISSUER: ISSUER, AUTH_JWT_AUDIENCE: AUDIENCE, PASSWORD_LOGIN: 'off' },
  });

  test('one (iss, sub) signing in on both nodes at once, many times over, is one user', async () => {
    for (let round = 0; round < 10; round++) {
      const sub = `cluster-user-${process.pid}-${round}`;
      // Odd rounds name no preferred_username: each node makes up its own username, so only
      // the unique (iss, sub) can keep the two from creating two users.
      const claims = round % 2 === 0 ? { sub, preferred_username: `race_${process.pid}_${round}`.slice(0, 32) } : { sub };
      const token = await assertion(claims);
      const answers = await Promise.all(
        [0, 1, 0, 1].map((i) => http(nodes[i]!.baseUrl, 'POST', '/v1/sessions', { body: { assertion: token, device_name: `d${i}` } })),
      );
      for (const a of answers) assert.equal(a.status, 201, JSON.stringify(a.body));
      assert.equal(new Set(answers.map((a) => a.body.user_id)).size, 1, `round ${round}: one user`);
      assert.equal(new Set(answers.map((a) => a.body.device_id)).size, 4, `round ${round}: a device per sign-in`);
    }
    const db = new pg.Client({ connectionString: databaseUrl() });
    await db.connect();
    try {
      const { rows } = await db.query<{ n: number }>('SELECT count(*)::int AS n FROM external_identities');
      assert.equal(rows[0]!.n, 10);
      const users = await db.query<{ n: number }>('SELECT count(*)::int AS n FROM users');
      assert.equal(users.rows[0]!.n, 10, 'no orphaned user rows from lost races');
    } finally {
      await db.end();
    }
  });

  test('PASSWORD_LOGIN=off holds on every node; a bad assertion is 401 there too', async () => {
    for (const node of nodes) {
      assert.equal(
        (await http(node.baseUrl, 'POST', '/v1/users', { body: { username: 'pw_cluster', password: 'correct horse battery' } })).status,
        403,
      );
      const bad = await http(node.baseUrl, 'POST', '/v1/sessions', { body: { assertion: 'x.y.z' } });
      assert.equal(bad.status, 401);
      assert.equal(bad.body.error, 'invalid_credentials');
    }
  });
});
