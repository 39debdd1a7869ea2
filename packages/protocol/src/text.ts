import { z } from 'zod';

/*
 * Storable text: every user-supplied string the server stores or looks up (message content,
 * ids, client_msg_id, display and device names, group names, search queries) must be text
 * that both stores can hold unchanged. PostgreSQL `text` cannot hold NUL (U+0000) at all,
 * and a lone UTF-16 surrogate cannot be encoded as UTF-8 (the drivers would silently turn
 * it into U+FFFD). Refusing both at the edge gives the same answer in embedded (SQLite) and
 * cluster (PostgreSQL) mode: `invalid_frame` on the socket, `400 invalid_request` over HTTP.
 * Every other character, control characters such as tab and newline included, is allowed.
 */

/** NUL, a high surrogate not followed by a low one, or a low surrogate not preceded by a high one. */
// eslint-disable-next-line no-control-regex -- NUL is exactly what this looks for
const UNSTORABLE_RE = /\u0000|[\ud800-\udbff](?![\udc00-\udfff])|(?<![\ud800-\udbff])[\udc00-\udfff]/;

export const UNSTORABLE_TEXT_MESSAGE = 'must not contain NUL (U+0000) or an unpaired UTF-16 surrogate';

/**
 * An optional field that a client may also send as `null` (what JSON encoders write for
 * "none"): both mean absent, and the parsed value is `undefined` either way.
 */
export function optional<T extends z.ZodType>(schema: T) {
  return z.preprocess((v) => v ?? undefined, schema.optional());
}

/** True when `s` has no NUL and every surrogate in it is half of a valid pair. */
export function isStorableText(s: string): boolean {
  return !UNSTORABLE_RE.test(s);
}

/** A zod string that refuses text the stores cannot hold (see isStorableText); chain min/max after it. */
export function storableText() {
  return z.string().refine(isStorableText, { message: UNSTORABLE_TEXT_MESSAGE });
}

/*
 * Names (display names, device names, group names, media file names) must not carry
 * Unicode Bidi_Control characters: U+202E (RIGHT-TO-LEFT OVERRIDE) turns
 * `invoice\u202Efdp.exe` into what reads as "invoiceexe.pdf", and the other embeddings,
 * isolates and marks can reorder a name just as well. A name is a label, not prose, so the
 * server refuses them (400 invalid_request) rather than guessing which were meant; clients
 * that take a name they did not type (a file's name from the OS) strip them first with
 * withoutBidiControls. Message content may carry them (right-to-left text needs them);
 * clients isolate it instead (`dir="auto"`, `<bdi>`).
 */
const BIDI_CONTROLS = '\u061c\u200e\u200f\u202a-\u202e\u2066-\u2069';
const BIDI_CONTROL_RE = new RegExp(`[${BIDI_CONTROLS}]`);
const BIDI_CONTROLS_RE = new RegExp(`[${BIDI_CONTROLS}]`, 'g');

export const BIDI_CONTROL_MESSAGE =
  'must not contain bidirectional control characters (U+061C, U+200E, U+200F, U+202A to U+202E, U+2066 to U+2069): they can make a name read as another';

/** True when `s` holds a Unicode Bidi_Control character (U+061C, U+200E, U+200F, U+202A-U+202E, U+2066-U+2069). */
export function hasBidiControl(s: string): boolean {
  return BIDI_CONTROL_RE.test(s);
}

/** `s` without its Bidi_Control characters (for names a client did not type, such as a file's). */
export function withoutBidiControls(s: string): string {
  return s.replace(BIDI_CONTROLS_RE, '');
}

/** A zod string for a name: storable text without bidirectional controls; chain min/max after it. */
export function nameText() {
  return storableText().refine((s) => !hasBidiControl(s), { message: BIDI_CONTROL_MESSAGE });
}

/**
 * How many characters (Unicode code points) `s` holds. PROTOCOL.md's lengths ("content
 * 1..100,000 characters", "password: 8 to 256 characters") count characters, not UTF-16
 * code units: an emoji is one character, though `.length` counts it twice.
 */
export function charCount(s: string): number {
  let n = s.length;
  // Each valid surrogate pair is one character in two code units; lone halves are refused elsewhere.
  for (let i = 0; i < s.length - 1; i++) {
    const c = s.charCodeAt(i);
    if (c >= 0xd800 && c <= 0xdbff) {
      const d = s.charCodeAt(i + 1);
      if (d >= 0xdc00 && d <= 0xdfff) {
        n--;
        i++;
      }
    }
  }
  return n;
}

/** True when `s` has more than `max` characters (code points); counts only when `.length` cannot tell. */
export function overChars(s: string, max: number): boolean {
  return s.length > max && charCount(s) > max;
}
