import { describe } from 'node:test';
import { startTestServer } from '../testing/harness.js';
import { mediaSuite, suiteMediaConfig } from './media-support.js';

/* Media in embedded mode: files under DATA_DIR/media, uploads and downloads served by the server itself. */
describe('media: embedded, files on disk', () => {
  mediaSuite(async () => {
    const srv = await startTestServer({ ...suiteMediaConfig });
    const node = { baseUrl: srv.baseUrl, wsUrl: srv.wsUrl };
    return { a: node, b: node, maxBytes: suiteMediaConfig.mediaMaxBytes, storeEnforcesSize: true, stop: () => srv.stop() };
  });
});
