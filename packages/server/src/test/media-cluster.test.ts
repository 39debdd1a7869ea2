import { describe } from 'node:test';
import type { ServerProcess } from '../testing/harness.js';
import { startNode, testPrefix } from '../testing/cluster.js';
import { startS3 } from '../testing/s3.js';
import { clusterServicesMissing, freshPgSchema, startRedis } from '../testing/services.js';
import { mediaSuite, suiteMediaConfig } from './media-support.js';

/*
 * Media in cluster mode: two server processes on Redis and PostgreSQL, files in an
 * S3-compatible store (s3rver, started here). Alice's and Bob's sockets sit on different
 * nodes; uploads and downloads go to the store through pre-signed URLs.
 */
const missing = await clusterServicesMissing();

/** Two nodes on a private Redis and a fresh schema, with `extra` services (S3) and their environment. */
async function twoNodes(extra: { env: Record<string, string>; stop: () => Promise<void> }, storeEnforcesSize: boolean) {
  const [redis, pg] = await Promise.all([startRedis(), freshPgSchema()]);
  const env = {
    ...extra.env,
    MEDIA_MAX_BYTES: String(suiteMediaConfig.mediaMaxBytes),
    MEDIA_ORPHAN_AGE_MS: String(suiteMediaConfig.mediaOrphanAgeMs),
    MEDIA_SWEEP_INTERVAL_MS: String(suiteMediaConfig.mediaSweepIntervalMs),
    MEDIA_MAX_REFS: String(suiteMediaConfig.mediaMaxRefs),
  };
  const prefix = testPrefix();
  const nodes: ServerProcess[] = [];
  // The first node migrates the schema; the second starts after it.
  nodes.push(await startNode({ redisUrl: redis.url, databaseUrl: pg.url, prefix, env }));
  nodes.push(await startNode({ redisUrl: redis.url, databaseUrl: pg.url, prefix, env }));
  const [a, b] = nodes.map((n) => ({ baseUrl: n.baseUrl, wsUrl: n.wsUrl }));
  return {
    a: a!,
    b: b!,
    maxBytes: suiteMediaConfig.mediaMaxBytes,
    storeEnforcesSize,
    stop: async () => {
      await Promise.all(nodes.map((n) => n.kill('SIGTERM')));
      await Promise.all([redis.stop(), pg.drop(), extra.stop()]);
    },
  };
}

describe('media: cluster, files in S3 (s3rver)', { skip: missing ?? false }, () => {
  mediaSuite(async () => twoNodes(await startS3(), false));
});

/*
 * A cluster as PROTOCOL.md starts one (REDIS_URL and DATABASE_URL, nothing else): the
 * bytes go to PostgreSQL, so a file uploaded through one node is sent, checked and served
 * through the other.
 */
describe('media: cluster without S3, files in PostgreSQL', { skip: missing ?? false }, () => {
  mediaSuite(async () => twoNodes({ env: {}, stop: async () => {} }, true));
});
