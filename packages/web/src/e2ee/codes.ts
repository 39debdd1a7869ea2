/*
 * The security code of each (chat, other member) as it was last shown on the "Security code"
 * screen, in localStorage per own user: a code that differs now is worth a notice (that
 * person's devices changed, or someone added a device in their name).
 */
const key = (userId: string) => `switchboard.codes.${userId}`;

function load(userId: string): Record<string, string> {
  try {
    const v = JSON.parse(localStorage.getItem(key(userId)) ?? '{}') as unknown;
    return v && typeof v === 'object' ? (v as Record<string, string>) : {};
  } catch {
    return {};
  }
}

export function lastShownCode(me: string, chatId: string, userId: string): string | undefined {
  return load(me)[`${chatId}\n${userId}`];
}

export function rememberShownCodes(me: string, chatId: string, codes: { userId: string; code: string }[]): void {
  const all = load(me);
  for (const c of codes) all[`${chatId}\n${c.userId}`] = c.code;
  try {
    localStorage.setItem(key(me), JSON.stringify(all));
  } catch {
    // Storage full or off: the notice then cannot tell a change, nothing else is lost.
  }
}
