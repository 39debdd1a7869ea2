import { fork } from 'node:child_process';
import net from 'node:net';
import { fileURLToPath } from 'node:url';

/*
 * What one small loopback write costs on this machine, twice: written back to back (both
 * processes stay awake) and one every millisecond (both fall asleep between writes, so
 * each write wakes the reader and each timer wakes the writer). The second is what a chat
 * server pays per frame at moderate load, and machines differ in it by an order of
 * magnitude (a virtual CPU that halts when idle pays an exit to the hypervisor on every
 * wake-up), which is why the same commit's figures move between machine kinds. Printed
 * with the bench's header so every run says what kind of machine it ran on.
 */

export interface WakeupCost {
  /** CPU (user+system, µs) of the writing process per write, written back to back. */
  busyUs: number;
  /** The same with one write per millisecond timer. */
  asleepUs: number;
}

const PAYLOAD = Buffer.alloc(100, 0x61);

/** Writes `count` payloads to a reader in a child process, `perTurn` per turn, turns `gapMs` apart; answers CPU µs per write. */
async function measure(count: number, perTurn: number, gapMs: number): Promise<number> {
  const server = net.createServer();
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  const port = (server.address() as net.AddressInfo).port;
  const child = fork(fileURLToPath(import.meta.url), ['--wakeup-reader', String(port)], { stdio: 'ignore' });
  try {
    const socket = await new Promise<net.Socket>((resolve) => server.once('connection', resolve));
    socket.setNoDelay(true);
    const start = process.cpuUsage();
    let written = 0;
    await new Promise<void>((resolve) => {
      const turn = () => {
        for (let i = 0; i < perTurn && written < count; i++, written++) socket.write(PAYLOAD);
        if (written >= count) resolve();
        else if (gapMs > 0) setTimeout(turn, gapMs);
        else setImmediate(turn);
      };
      turn();
    });
    const used = process.cpuUsage(start);
    socket.destroy();
    return (used.user + used.system) / count;
  } finally {
    child.kill();
    server.close();
  }
}

export async function probeWakeupCost(): Promise<WakeupCost> {
  return { busyUs: await measure(20_000, 10, 0), asleepUs: await measure(1_000, 1, 1) };
}

export function describeWakeupCost(c: WakeupCost): string {
  return `loopback write: ${c.busyUs.toFixed(0)} µs CPU when both sides stay busy, ${c.asleepUs.toFixed(0)} µs when each write wakes the reader (${(c.asleepUs / c.busyUs).toFixed(0)}×)`;
}

// The reader: connects and reads until killed.
if (process.argv[2] === '--wakeup-reader') {
  const socket = net.connect(Number(process.argv[3]), '127.0.0.1');
  socket.on('data', () => {});
  socket.on('error', () => process.exit(0));
  socket.on('close', () => process.exit(0));
}
