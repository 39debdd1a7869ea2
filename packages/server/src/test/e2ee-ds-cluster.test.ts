import { describe } from 'node:test';
import { clusterServicesMissing, clusterSuite } from '../testing/cluster.js';
import { e2eeSuite } from './e2ee-support.js';

/*
 * docs/e2ee.md on two cluster nodes (PostgreSQL, Redis): commits racing for one epoch on
 * both nodes, key packages claimed on both, frames and welcomes across nodes.
 */
const missing = await clusterServicesMissing();

describe('MLS delivery service (cluster)', { skip: missing ?? false }, () => {
  const { nodes } = clusterSuite(2);
  e2eeSuite(() => ({ a: nodes[0]!, b: nodes[1]! }));
});
