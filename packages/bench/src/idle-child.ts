import WebSocket from 'ws';

/*
 * A child process of the `idle` scenario: opens its share of idle authenticated sockets
 * (from one loopback source address, so that many children do not exhaust one address's
 * ephemeral ports), waits for sync_complete on each, then holds them until told to close.
 * A process may hold fewer than `ulimit -n` sockets, hence several children.
 */

type In = { t: 'connect'; urls: string[]; count: number; localAddress?: string; concurrency: number; timeoutMs: number } | { t: 'close' };
export type IdleChildEvent =
  | { t: 'progress'; connected: number; failed: number }
  | { t: 'connected'; connected: number; failed: number; errors: Record<string, number>; seconds: number }
  | { t: 'closed'; droppedWhileIdle: number };

const sockets: WebSocket[] = [];
let closing = false;
let droppedWhileIdle = 0;
const send = (e: IdleChildEvent) => process.send?.(e);

function open(url: string, localAddress: string | undefined, timeoutMs: number): Promise<WebSocket> {
  return new Promise((resolve, reject) => {
    const ws = new WebSocket(url, { perMessageDeflate: false, localAddress });
    const timer = setTimeout(() => {
      ws.terminate();
      reject(new Error('timeout'));
    }, timeoutMs);
    let synced = false;
    ws.on('message', (data) => {
      if (synced) return;
      try {
        if (JSON.parse(data.toString()).type === 'sync_complete') {
          synced = true;
          clearTimeout(timer);
          resolve(ws);
        }
      } catch {
        /* ignore */
      }
    });
    ws.on('error', (err: NodeJS.ErrnoException) => {
      clearTimeout(timer);
      if (!synced) reject(err);
    });
    ws.on('close', () => {
      if (synced && !closing) droppedWhileIdle++;
    });
  });
}

process.on('message', async (raw) => {
  const m = raw as In;
  if (m.t === 'connect') {
    const t0 = performance.now();
    let next = 0;
    let failed = 0;
    const errors: Record<string, number> = {};
    const lane = async () => {
      for (;;) {
        const i = next++;
        if (i >= m.count) return;
        try {
          sockets.push(await open(m.urls[i % m.urls.length]!, m.localAddress, m.timeoutMs));
        } catch (err) {
          failed++;
          const code = (err as NodeJS.ErrnoException).code ?? (err as Error).message;
          errors[code] = (errors[code] ?? 0) + 1;
        }
      }
    };
    const progress = setInterval(() => send({ t: 'progress', connected: sockets.length, failed }), 500);
    await Promise.all(Array.from({ length: Math.min(m.concurrency, m.count) }, lane));
    clearInterval(progress);
    send({ t: 'connected', connected: sockets.length, failed, errors, seconds: (performance.now() - t0) / 1000 });
  } else if (m.t === 'close') {
    closing = true;
    for (const ws of sockets) ws.close(1000);
    setTimeout(() => {
      send({ t: 'closed', droppedWhileIdle });
      setTimeout(() => process.exit(0), 100);
    }, 500);
  }
});
