import { describe, test } from 'node:test';
import { suiteServer } from '../testing/harness.js';
import { COUNTS_FANOUT_THRESHOLD, largeGroupCounts, smallGroupCounts, type Nodes } from './group-counts-support.js';

/* Group status_update counts (guarantee 6) on one embedded server: see group-counts-support.ts. */

describe('group receipt counts: embedded', () => {
  const { srv, track } = suiteServer({ fanoutThreshold: COUNTS_FANOUT_THRESHOLD });
  const nodes: Nodes = { urls: () => [{ baseUrl: srv.baseUrl, wsUrl: srv.wsUrl }], track };

  test('a small group: each status_update counts the recipients that have and read the message', () => smallGroupCounts(nodes));
  test('a large group (fan-out queue, shared frames): the counts cover every recipient', () => largeGroupCounts(nodes));
});
