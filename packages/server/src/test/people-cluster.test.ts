import { describe } from 'node:test';
import { clusterServicesMissing, clusterSuite } from '../testing/cluster.js';
import { peopleSuite } from './people-support.js';

/*
 * PROTOCOL.md "People" on two cluster nodes (PostgreSQL, Redis, media in PostgreSQL): each
 * test's users talk to different nodes, so a block made on one node is seen refused on the
 * other right after the PUT answered.
 */
const missing = await clusterServicesMissing();

describe('people (cluster)', { skip: missing ?? false }, () => {
  const { nodes } = clusterSuite(2);
  peopleSuite(() => ({ a: nodes[0]!, b: nodes[1]! }));
});
