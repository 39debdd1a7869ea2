import { clusterServicesMissing, freshPgSchema } from '../../testing/services.js';
import { runMediaStoreContract, servedByHttp } from './media-store.contract.js';
import { PgMediaStore } from './pg-media-store.js';

// Against the real PostgreSQL (a fresh schema), answering the store's URLs over real HTTP.
const missing = await clusterServicesMissing();
if (!missing) {
  runMediaStoreContract('postgres (a cluster without S3)', async () => {
    const schema = await freshPgSchema();
    return servedByHttp(await PgMediaStore.open(schema.url), () => schema.drop());
  });
}
