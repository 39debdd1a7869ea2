import { describe } from 'node:test';
import { suiteServer } from '../testing/harness.js';
import { e2eeSuite } from './e2ee-support.js';

/* docs/e2ee.md, the MLS Delivery Service, on the embedded server (SQLite). */
describe('MLS delivery service (embedded)', () => {
  const { srv } = suiteServer();
  e2eeSuite(() => ({ a: srv, b: srv }));
});
