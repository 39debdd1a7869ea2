/**
 * How deep a frame or REST body's JSON may nest. No request of the protocol nests past
 * 3; JSON.parse of deep nesting costs time out of proportion to its size (a 400 KB
 * frame of 200,000 nested arrays takes about 200 ms of the event loop), so deeper input
 * is refused before it is parsed.
 */
export const MAX_JSON_DEPTH = 32;

/** True when `text` nests arrays and objects at most `max` deep (a linear scan; strings are skipped). */
export function jsonDepthWithin(text: string, max = MAX_JSON_DEPTH): boolean {
  // Fast path (native regex): with no more than `max` brackets at all, nothing nests deeper.
  const opening = /[[{]/g;
  let seen = 0;
  while (opening.exec(text) !== null) if (++seen > max) break;
  if (seen <= max) return true;
  let depth = 0;
  let inString = false;
  for (let i = 0; i < text.length; i++) {
    const c = text.charCodeAt(i);
    if (inString) {
      if (c === 92)
        i++; // backslash: skip the escaped character
      else if (c === 34) inString = false;
    } else if (c === 34) {
      inString = true;
    } else if (c === 91 || c === 123) {
      if (++depth > max) return false;
    } else if (c === 93 || c === 125) {
      depth--;
    }
  }
  return true;
}
