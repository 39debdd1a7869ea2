import { rmSync } from 'node:fs';
import { createServer } from 'node:http';
import { tempDir } from '../../testing/harness.js';
import { LocalMediaStore } from './local-media-store.js';
import { runMediaStoreContract } from './media-store.contract.js';

runMediaStoreContract('local (DATA_DIR/media, signed URLs)', async () => {
  const dir = tempDir('sb-media-');
  const store = new LocalMediaStore(dir);
  // The server's part: answer the store's own URLs.
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
      rmSync(dir, { recursive: true, force: true });
    },
  };
});
