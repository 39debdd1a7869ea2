import { startS3 } from '../../testing/s3.js';
import { runMediaStoreContract } from './media-store.contract.js';
import { S3MediaStore } from './s3-media-store.js';

// Against s3rver, started here: an S3-compatible server in Node, no service needed.
runMediaStoreContract('s3 (s3rver)', async () => {
  const s3 = await startS3();
  const store = new S3MediaStore({
    endpoint: s3.endpoint,
    bucket: s3.bucket,
    region: 'us-east-1',
    accessKeyId: 'S3RVER',
    secretAccessKey: 'S3RVER',
    forcePathStyle: true,
  });
  return { store, baseUrl: '', enforcesSize: false, cleanup: () => s3.stop() };
});
