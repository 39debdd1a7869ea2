import { rmSync } from 'node:fs';
import { tempDir } from '../../testing/harness.js';
import { LocalMediaStore } from './local-media-store.js';
import { runMediaStoreContract, servedByHttp } from './media-store.contract.js';

runMediaStoreContract('local (DATA_DIR/media, signed URLs)', async () => {
  const dir = tempDir('sb-media-');
  return servedByHttp(new LocalMediaStore(dir), async () => rmSync(dir, { recursive: true, force: true }));
});
