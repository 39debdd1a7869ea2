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

describe('media: cluster, files in S3 (s3rver)', { skip: missing ?? false }, () => {
  mediaSuite(async () => {
    const [redis, pg, s3] = await Promise.all([startRedis(), freshPgSchema(), startS3()]);
    const env = {
      ...s3.env,
      MEDIA_MAX_BYTES: String(suiteMediaConfig.mediaMaxBytes),
      MEDIA_ORPHAN_AGE_MS: String(suiteMediaConfig.mediaOrphanAgeMs),
      MEDIA_SWEEP_INTERVAL_MS: String(suiteMediaConfig.mediaSweepIntervalMs),
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
      storeEnforcesSize: false,
      stop: async () => {
        await Promise.all(nodes.map((n) => n.kill('SIGTERM')));
        await Promise.all([redis.stop(), pg.drop(), s3.stop()]);
      },
    };
  });
});

/*
 * A cluster as PROTOCOL.md starts one (REDIS_URL and DATABASE_URL, nothing else): the
 * bytes go to PostgreSQL, so a file uploaded through one node is sent, checked and served
 * through the other.
 */
describe('media: cluster without S3, files in PostgreSQL', { skip: missing ?? false }, () => {
  mediaSuite(async () => {
    const [redis, pg] = await Promise.all([startRedis(), freshPgSchema()]);
    const env = {
      MEDIA_MAX_BYTES: String(suiteMediaConfig.mediaMaxBytes),
      MEDIA_ORPHAN_AGE_MS: String(suiteMediaConfig.mediaOrphanAgeMs),
      MEDIA_SWEEP_INTERVAL_MS: String(suiteMediaConfig.mediaSweepIntervalMs),
    };
    const prefix = testPrefix();
    const nodes: ServerProcess[] = [];
    nodes.push(await startNode({ redisUrl: redis.url, databaseUrl: pg.url, prefix, env }));
    nodes.push(await startNode({ redisUrl: redis.url, databaseUrl: pg.url, prefix, env }));
    const [a, b] = nodes.map((n) => ({ baseUrl: n.baseUrl, wsUrl: n.wsUrl }));
    return {
      a: a!,
      b: b!,
      maxBytes: suiteMediaConfig.mediaMaxBytes,
      storeEnforcesSize: true,
      stop: async () => {
        await Promise.all(nodes.map((n) => n.kill('SIGTERM')));
        await Promise.all([redis.stop(), pg.drop()]);
      },
    };
  });
});
