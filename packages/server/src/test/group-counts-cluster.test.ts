import { describe, test } from 'node:test';
import type { TestSocket } from '../testing/harness.js';
import { clusterSuite } from '../testing/cluster.js';
import { clusterServicesMissing } from '../testing/services.js';
import { COUNTS_FANOUT_THRESHOLD, largeGroupCounts, smallGroupCounts, type Nodes } from './group-counts-support.js';

/*
 * Group status_update counts (guarantee 6) on two cluster nodes (PostgreSQL, Redis), the
 * members' sockets spread over both, so acks reach the store through either node.
 */
const missing = await clusterServicesMissing();

describe('group receipt counts: cluster', { skip: missing ?? false }, () => {
  const { nodes: procs } = clusterSuite(2, { env: { FANOUT_THRESHOLD: String(COUNTS_FANOUT_THRESHOLD) } });
  const sockets: TestSocket[] = [];
  const nodes: Nodes = { urls: () => procs.map((p) => ({ baseUrl: p.baseUrl, wsUrl: p.wsUrl })), track: (s) => sockets.push(s) };

  test('a small group: each status_update counts the recipients that have and read the message', async () => {
    try {
      await smallGroupCounts(nodes);
    } finally {
      for (const s of sockets.splice(0)) s.terminate();
    }
  });
  test('a large group (fan-out queue, shared frames): the counts cover every recipient', async () => {
    try {
      await largeGroupCounts(nodes);
    } finally {
      for (const s of sockets.splice(0)) s.terminate();
    }
  });
});
