/*
 * Bounds on one REST answer in bytes, not only rows: content is at most 100,000
 * characters, but control characters come out of JSON six bytes each (\u0001), so a
 * page of 200 such messages would be 120 MB built in memory. Pages stop early at the
 * budget and say where to go on (next_cursor).
 */

/** JSON bytes of messages (or chats) one answer carries, past its first item. */
export const RESPONSE_BUDGET_BYTES = 4 * 1024 * 1024;

/** The UTF-8 size of a value's JSON. */
export function jsonBytes(value: unknown): number {
  return Buffer.byteLength(JSON.stringify(value));
}

/**
 * How many items, taken from the front, fit in the budget: always at least one (an
 * item alone is at most about 600 KB), so paging always moves.
 */
export function fitFromFront(items: readonly unknown[], budget = RESPONSE_BUDGET_BYTES): number {
  let used = 0;
  for (let i = 0; i < items.length; i++) {
    used += jsonBytes(items[i]) + 1;
    if (used > budget && i > 0) return i;
  }
  return items.length;
}

/** The same, counting from the back (a page read backwards keeps its newest items). */
export function fitFromBack(items: readonly unknown[], budget = RESPONSE_BUDGET_BYTES): number {
  let used = 0;
  for (let i = items.length - 1; i >= 0; i--) {
    used += jsonBytes(items[i]) + 1;
    if (used > budget && i < items.length - 1) return items.length - 1 - i;
  }
  return items.length;
}
