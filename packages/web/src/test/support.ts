import { existsSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import type { Browser, BrowserContext, Page } from 'playwright-core';

/*
 * Browser test support: Debian's chromium driven by playwright-core, pages of the web app
 * served by a real server. Accessible names are how the tests find everything, so the
 * names the app promises are proven by every step.
 */

export const CHROMIUM = process.env.CHROMIUM_PATH ?? '/usr/bin/chromium';
export const repoRoot = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../../../..');
export const webDist = path.join(repoRoot, 'packages/web/dist/app');

/** Why the browser suite cannot run here, or null; with SWITCHBOARD_REQUIRE_SERVICES=1 it runs (and fails) anyway. */
export function skipReason(): string | null {
  if (process.env.SWITCHBOARD_REQUIRE_SERVICES === '1') return null;
  if (!existsSync(CHROMIUM)) return `no chromium at ${CHROMIUM} (apt-get install -y chromium)`;
  if (!existsSync(path.join(webDist, 'index.html'))) return 'the web app is not built (npm run build)';
  return null;
}

export async function launch(): Promise<Browser> {
  const { chromium } = await import('playwright-core');
  return chromium.launch({ executablePath: CHROMIUM, args: ['--no-sandbox'], headless: true });
}

export async function newPage(browser: Browser, baseUrl: string): Promise<{ ctx: BrowserContext; page: Page }> {
  const ctx = await browser.newContext({ baseURL: baseUrl, viewport: { width: 1000, height: 680 } });
  ctx.setDefaultTimeout(15_000);
  const page = await ctx.newPage();
  await page.goto('/');
  return { ctx, page };
}

/** Creates an account through the login form; leaves the page in the app. */
export async function register(page: Page, username: string, password = 'correct horse battery'): Promise<void> {
  await page.getByLabel('Username').fill(username);
  await page.getByLabel('Password').fill(password);
  await page.getByRole('button', { name: 'Create account' }).click();
  await page.getByRole('button', { name: 'Log out' }).waitFor();
}

export async function login(page: Page, username: string, password = 'correct horse battery'): Promise<void> {
  await page.getByLabel('Username').fill(username);
  await page.getByLabel('Password').fill(password);
  await page.getByRole('button', { name: 'Log in' }).click();
  await page.getByRole('button', { name: 'Log out' }).waitFor();
}

/** Opens the direct chat with `username` through "New chat". */
export async function startChat(page: Page, username: string): Promise<void> {
  await page.getByRole('button', { name: 'New chat' }).click();
  await page.getByLabel('Username').fill(username);
  await page.getByRole('button', { name: 'Start chat' }).click();
  await page.getByLabel('Message').waitFor();
}

export async function send(page: Page, text: string): Promise<void> {
  await page.getByLabel('Message').fill(text);
  await page.getByRole('button', { name: 'Send' }).click();
}

/** The message rows (in the open conversation) whose text is exactly `text`. */
export function messages(page: Page, text: string) {
  return page
    .getByRole('log', { name: 'Chat history' })
    .locator('li.msg')
    .filter({ has: page.getByText(text, { exact: true }) });
}

/** Polls `fn` until it returns true (or throws its last failure after `timeoutMs`). */
export async function eventually(fn: () => Promise<boolean>, timeoutMs = 15_000, what = 'condition'): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    if (await fn()) return;
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 100));
  }
}

/**
 * What a page does from now on (console, page errors, failed requests, its WebSocket frames),
 * with milliseconds since the call, the latest 200 lines: printed when a wait on it fails.
 */
export function watchPage(page: Page): string[] {
  const lines: string[] = [];
  const t0 = Date.now();
  const note = (line: string) => {
    lines.push(`${Date.now() - t0} ${line.slice(0, 300)}`);
    if (lines.length > 200) lines.shift();
  };
  page.on('console', (m) => note(`console ${m.type()}: ${m.text()}`));
  page.on('pageerror', (e) => note(`page error: ${e.message}`));
  page.on('requestfailed', (r) => note(`request failed: ${r.method()} ${r.url()} ${r.failure()?.errorText ?? ''}`));
  page.on('response', (r) => note(`${r.status()} ${r.request().method()} ${r.url()}`));
  page.on('websocket', (ws) => {
    note(`ws open ${ws.url()}`);
    ws.on('framesent', (f) => note(`ws sent ${String(f.payload)}`));
    ws.on('framereceived', (f) => note(`ws received ${String(f.payload)}`));
    ws.on('socketerror', (e) => note(`ws error ${e}`));
    ws.on('close', () => note('ws closed'));
  });
  return lines;
}
