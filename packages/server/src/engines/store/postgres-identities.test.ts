import { test } from 'node:test';
import { freshPgSchema, postgresMissing } from '../../testing/services.js';
import { runIdentitiesContract } from './identities.contract.js';
import { PostgresStore } from './postgres-store.js';

// Skipped without a reachable PostgreSQL, unless SWITCHBOARD_REQUIRE_SERVICES=1 (then postgresMissing throws).
const reason = await postgresMissing();
if (reason) {
  test('postgres external identities', { skip: reason }, () => undefined);
} else {
  runIdentitiesContract('postgres', async () => {
    const { url, drop } = await freshPgSchema();
    const store = await PostgresStore.open(url);
    return { store, cleanup: async () => (await store.close(), await drop()) };
  });
}
