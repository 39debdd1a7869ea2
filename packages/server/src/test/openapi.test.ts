import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { validate, compileErrors } from '@readme/openapi-parser';
import { http, suiteServer } from '../testing/harness.js';

/*
 * The API description (PROTOCOL.md "API description"): GET /v1/openapi.json must be a valid
 * OpenAPI 3.1 document that describes every route the running server registers, and
 * GET /v1/frames.schema.json a JSON Schema of every socket frame.
 */

/** /v1/users/:id and /v1/users/{user_id} name the same path: compare with the parameter names left out. */
const shape = (path: string) => path.replace(/:[a-z_]+|\{[^}]+\}/g, '{}');

describe('API description', () => {
  const { srv } = suiteServer({ adminToken: 'an admin token of at least thirty-two characters' });

  test('GET /v1/openapi.json (no token) is a valid OpenAPI 3.1 document', async () => {
    const res = await http(srv.baseUrl, 'GET', '/v1/openapi.json');
    assert.equal(res.status, 200);
    assert.equal(res.body.openapi, '3.1.0');
    const result = await validate(structuredClone(res.body));
    assert.ok(result.valid, compileErrors(result));
    assert.ok(res.body.components.securitySchemes.bearer && res.body.components.securitySchemes.adminBearer);
  });

  test('every route the running server registers is described (a route without docs fails here, by name)', async () => {
    const doc = (await http(srv.baseUrl, 'GET', '/v1/openapi.json')).body as { paths: Record<string, Record<string, unknown>> };
    const described = new Set(
      Object.entries(doc.paths).flatMap(([path, ops]) => Object.keys(ops).map((m) => `${m.toUpperCase()} ${shape(path)}`)),
    );
    const routes = srv.server.routes();
    assert.ok(routes.length > 30, `the router lists its routes (${routes.length})`);
    const missing = routes.filter((r) => !described.has(`${r.method} ${shape(r.pattern)}`)).map((r) => `${r.method} ${r.pattern}`);
    assert.deepEqual(missing, [], `routes missing from GET /v1/openapi.json (describe them in gateway/openapi.ts): ${missing.join(', ')}`);
    // And the other way: nothing is described that the server does not serve.
    const registered = new Set(routes.map((r) => `${r.method} ${shape(r.pattern)}`));
    const extra = [...described].filter((d) => !registered.has(d));
    assert.deepEqual(extra, [], `described in GET /v1/openapi.json but not served: ${extra.join(', ')}`);
  });

  test('request bodies come from the schemas that validate them; answers and errors are described', async () => {
    const doc = (await http(srv.baseUrl, 'GET', '/v1/openapi.json')).body;
    const register = doc.paths['/v1/users'].post;
    const body = register.requestBody.content['application/json'].schema;
    assert.deepEqual(body.required, ['username', 'password']);
    assert.equal(body.properties.username.pattern, '^[a-z0-9_.]{3,32}$');
    assert.equal(register.responses['409'].content['application/json'].schema.$ref, '#/components/schemas/Error');
    const sessions = doc.paths['/v1/sessions'].post.requestBody.content['application/json'].schema;
    assert.equal(sessions.oneOf.length, 2, 'password or assertion');
    assert.ok(sessions.oneOf.some((s: { required: string[] }) => s.required.includes('assertion')));
    const history = doc.paths['/v1/chats/{chat_id}/messages'].get;
    assert.ok(history.responses['200'].content['application/json'].schema.properties.messages);
    assert.deepEqual(history.security, [{ bearer: [] }]);
    assert.deepEqual(doc.paths['/v1/admin/webhooks'].post.security, [{ adminBearer: [] }]);
    assert.deepEqual(doc.paths['/v1/sessions'].post.security, []);
  });

  test('GET /v1/frames.schema.json describes every client and server frame', async () => {
    const res = await http(srv.baseUrl, 'GET', '/v1/frames.schema.json');
    assert.equal(res.status, 200);
    const defs = res.body.$defs as Record<string, { properties?: Record<string, { const?: string }>; required?: string[] }>;
    for (const t of [
      'send_message',
      'edit_message',
      'delete_message',
      'react',
      'ack_delivered',
      'ack_read',
      'typing',
      'presence_subscribe',
      'presence_unsubscribe',
      'ping',
    ]) {
      assert.equal(defs[`client.${t}`]?.properties?.type?.const, t, `client frame ${t}`);
    }
    for (const t of [
      'new_message',
      'message_update',
      'ack_sent',
      'status_update',
      'read_sync',
      'typing',
      'presence',
      'group_update',
      'chat_settings',
      'sync_complete',
      'pong',
      'error',
    ]) {
      assert.equal(defs[`server.${t}`]?.properties?.type?.const, t, `server frame ${t}`);
    }
    assert.deepEqual(defs['client.send_message']!.required!.sort(), ['chat_id', 'client_msg_id', 'content', 'type']);
    assert.equal((res.body.$defs.ClientFrame.oneOf as unknown[]).length, 10);
  });
});
