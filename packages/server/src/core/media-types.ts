import contentType, { type ParsedMediaType } from 'content-type';

/*
 * Content types of uploads. A declared type is parsed by the RFC 9110 grammar (jshttp's
 * content-type, the parser Express uses) and kept as `type/subtype` in lower case, plus a
 * `charset` for text types (the one parameter that changes how the bytes read); every
 * other parameter is dropped. Anything that does not parse is refused: a type such as
 * `text/plain;, text/html` would otherwise be served inline and some browsers render it
 * as HTML. Which types may be shown inline is decided here too.
 */

/** Types a browser shows inline without running anything; every other type is served as a download (HTML, SVG, XML, JS...). */
const INLINE_TYPES = new Set(['image/jpeg', 'image/png', 'image/webp', 'image/gif', 'image/avif', 'text/plain', 'application/pdf']);
/** An RFC 9110 token: what a charset value must be to be kept. */
const TOKEN = /^[!#$%&'*+.^_`|~0-9a-z-]+$/;
/** What a record made before types were checked, and not parseable now, is served as. */
export const FALLBACK_TYPE = 'application/octet-stream';

/** The declared type in its stored form, or null when it is not a valid media type. */
export function normalizeType(declared: string): string | null {
  // Visible ASCII, space and tab only: the parser trims other whitespace (a newline) before it looks.
  if (/[^\t\x20-\x7e]/.test(declared)) return null;
  let parsed: ParsedMediaType;
  try {
    parsed = contentType.parse(declared);
  } catch {
    return null;
  }
  const type = parsed.type.toLowerCase();
  const charset = parsed.parameters.charset?.toLowerCase();
  return type.startsWith('text/') && charset && TOKEN.test(charset) ? `${type}; charset=${charset}` : type;
}

/**
 * The type a stored record is served with: its normalized form, or application/octet-stream
 * for one stored before types were checked that does not parse (such a value may hold
 * characters Node refuses in a header).
 */
export function safeType(stored: string): string {
  return normalizeType(stored) ?? FALLBACK_TYPE;
}

/** The bare MIME type (no parameters), lower case. */
export function baseType(type: string): string {
  return type.split(';')[0]!.trim().toLowerCase();
}

/** Inline only for types a browser shows without running anything (and audio, video); a download for everything else. */
export function isInline(type: string): boolean {
  const base = baseType(type);
  return INLINE_TYPES.has(base) || /^(video|audio)\//.test(base);
}
