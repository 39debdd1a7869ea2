/*
 * The one way tests wait for something that happens eventually: poll, with a deadline
 * and a failure that says what was awaited and what was last seen.
 */

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

/** Polls until cond() is true; fails with label (and the detail, if given) after timeoutMs. */
export async function waitUntil(cond: () => boolean, timeoutMs: number, label: string, detail?: () => string, everyMs = 5): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    if (cond()) return;
    if (Date.now() > deadline) throw new Error(`timed out after ${timeoutMs} ms waiting for ${label}${detail ? `: ${detail()}` : ''}`);
    await sleep(everyMs);
  }
}

/** Calls fn until ok(its answer), every 50 ms; answers that value, or fails with the last one after timeoutMs. */
export async function pollUntil<T>(label: string, fn: () => Promise<T>, ok: (v: T) => boolean, timeoutMs = 5000): Promise<T> {
  let last!: T;
  await waitForAsync(
    async () => ok((last = await fn())),
    timeoutMs,
    label,
    () => `last value ${JSON.stringify(last)?.slice(0, 2000)}`,
  );
  return last;
}

async function waitForAsync(cond: () => Promise<boolean>, timeoutMs: number, label: string, detail: () => string): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    if (await cond()) return;
    if (Date.now() > deadline) throw new Error(`timed out after ${timeoutMs} ms waiting for ${label}: ${detail()}`);
    await sleep(50);
  }
}
