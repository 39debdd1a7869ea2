import { test } from 'node:test';
import { freshPgSchema, postgresMissing } from '../../testing/services.js';
import { runPeopleContract } from './people.contract.js';
import { PostgresStore } from './postgres-store.js';

// Skipped without a reachable PostgreSQL, unless SWITCHBOARD_REQUIRE_SERVICES=1 (then postgresMissing throws).
const reason = await postgresMissing();
if (reason) {
  test('postgres people store', { skip: reason }, () => undefined);
} else {
  runPeopleContract('postgres', async () => {
    const { url, drop } = await freshPgSchema();
    const store = await PostgresStore.open(url);
    return { store, cleanup: async () => (await store.close(), await drop()) };
  });
}
