import { createServer } from 'node:http';
import { clusterServicesMissing, freshPgSchema } from '../../testing/services.js';
import { runMediaStoreContract } from './media-store.contract.js';
import { PgMediaStore } from './pg-media-store.js';

// Against the real PostgreSQL (a fresh schema), answering the store's URLs over real HTTP.
const missing = await clusterServicesMissing();
if (!missing) {
  runMediaStoreContract('postgres (a cluster without S3)', async () => {
    const schema = await freshPgSchema();
    const store = await PgMediaStore.open(schema.url);
    const http = createServer((req, res) => {
      void store.handle(req, res, new URL(req.url ?? '/', 'http://x')).then((mine) => {
        if (!mine) res.writeHead(404).end();
      });
    });
    await new Promise<void>((resolve) => http.listen(0, '127.0.0.1', resolve));
    const { port } = http.address() as { port: number };
    return {
      store,
      baseUrl: `http://127.0.0.1:${port}`,
      enforcesSize: true,
      cleanup: async () => {
        http.closeAllConnections();
        await new Promise((resolve) => http.close(resolve));
        await schema.drop();
      },
    };
  });
}
