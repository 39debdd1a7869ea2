import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { directChatId } from '@switchboard/protocol';
import { http, login, registerUser, TestSocket, type ServerProcess, type TestUser } from '../testing/harness.js';
import { clusterServicesMissing } from '../testing/services.js';
import { clusterSuite } from '../testing/cluster.js';
import { waitForSyncComplete } from './delivery-support.js';
import { attachmentsAmongPlainSends, everyDeviceSendsAtOnce, membershipChurnUnderSends, resendsAmongNewSends } from './order-support.js';

/*
 * Guarantee 3 for one device on two real server processes (PostgreSQL, Redis): the
 * embedded checks of order.test.ts with the devices spread over both nodes, so each
 * node's append batches mix its own devices' sends with the other node's commits.
 */
const missing = await clusterServicesMissing();

describe('cluster: one device’s sends keep their order', { skip: missing ?? false }, () => {
  const { nodes } = clusterSuite(2, { env: { RATE_LIMITS: 'off' } });
  const sockets: TestSocket[] = [];
  const open = async (node: ServerProcess, u: TestUser): Promise<TestSocket> => {
    const s = await TestSocket.connect(node.wsUrl, u.token);
    sockets.push(s);
    await waitForSyncComplete(s);
    return s;
  };

  test('four devices on two nodes sending into one chat at once each get their acks in send order', async () => {
    const [n1, n2] = nodes as [ServerProcess, ServerProcess];
    const a1 = await registerUser(n1.baseUrl, 'cpa');
    const b1 = await registerUser(n2.baseUrl, 'cpb');
    const [a2, b2] = await Promise.all([
      login(n2.baseUrl, a1.username, a1.password, 'a2'),
      login(n1.baseUrl, b1.username, b1.password, 'b2'),
    ]);
    const socks = await Promise.all([open(n1, a1), open(n2, a2), open(n2, b1), open(n1, b2)]);
    try {
      await everyDeviceSendsAtOnce(socks, directChatId(a1.user_id, b1.user_id), 6, 200);
    } finally {
      for (const s of socks) s.terminate();
    }
  });

  test('answers a device’s repeated sends among its new ones in the order it sent them', async () => {
    const [n1, n2] = nodes as [ServerProcess, ServerProcess];
    const a = await registerUser(n1.baseUrl, 'cra');
    const b = await registerUser(n2.baseUrl, 'crb');
    const [sa, sb] = await Promise.all([open(n1, a), open(n2, b)]);
    try {
      await resendsAmongNewSends(sa, sb, directChatId(a.user_id, b.user_id), 6);
    } finally {
      sa.terminate();
      sb.terminate();
    }
  });

  test('a send with attachments keeps its place before the plain sends that follow it', async () => {
    const [n1, n2] = nodes as [ServerProcess, ServerProcess];
    const a = await registerUser(n1.baseUrl, 'cma');
    const b = await registerUser(n2.baseUrl, 'cmb');
    const [sa, sb] = await Promise.all([open(n1, a), open(n2, b)]);
    try {
      await attachmentsAmongPlainSends(n1.baseUrl, a, sa, sb, directChatId(a.user_id, b.user_id));
    } finally {
      sa.terminate();
      sb.terminate();
    }
  });

  test('a member’s acks keep their order while another node changes the group’s membership under its sends', async () => {
    const [n1, n2] = nodes as [ServerProcess, ServerProcess];
    const [admin, a, ...extra] = await Promise.all(Array.from({ length: 5 }, (_, i) => registerUser(n2.baseUrl, `cg${i}`)));
    const created = await http(n2.baseUrl, 'POST', '/v1/groups', {
      token: admin!.token,
      body: { name: 'churn', member_ids: [a!.user_id] },
    });
    assert.equal(created.status, 201, JSON.stringify(created.body));
    const sa = await open(n1, a!);
    try {
      await membershipChurnUnderSends(
        n2.baseUrl,
        admin!,
        created.body,
        extra.map((u) => u.user_id),
        sa,
        6,
      );
    } finally {
      sa.terminate();
    }
  });
});
