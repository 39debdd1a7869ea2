import type { ServerConfig } from '../../config.js';
import type { MediaStore } from './media-store.js';

/**
 * Configuration → media store: S3 when S3_BUCKET is set (imported lazily); else, in a
 * cluster, PostgreSQL (a file on one node's disk would be missing on every other node);
 * else files under DATA_DIR/media.
 */
export async function createMediaStore(config: ServerConfig): Promise<MediaStore> {
  if (config.s3Bucket) {
    const { S3MediaStore } = await import('./s3-media-store.js');
    return new S3MediaStore({
      bucket: config.s3Bucket,
      endpoint: config.s3Endpoint,
      region: config.s3Region,
      accessKeyId: config.s3AccessKeyId,
      secretAccessKey: config.s3SecretAccessKey,
      forcePathStyle: config.s3ForcePathStyle,
      prefix: config.s3Prefix,
    });
  }
  if (config.redisUrl && config.databaseUrl) {
    const { PgMediaStore } = await import('./pg-media-store.js');
    return PgMediaStore.open(config.databaseUrl);
  }
  const { LocalMediaStore } = await import('./local-media-store.js');
  return new LocalMediaStore(config.dataDir);
}
