import { describe } from 'node:test';
import { suiteServer } from '../testing/harness.js';
import { peopleSuite } from './people-support.js';

/* PROTOCOL.md "People" on one embedded server (SQLite, local media). */
describe('people (embedded)', () => {
  const { srv } = suiteServer();
  peopleSuite(() => ({ a: srv, b: srv }));
});
