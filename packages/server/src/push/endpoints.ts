/*
 * Which Web Push endpoints the server will POST to (WEBPUSH_ALLOWED_ENDPOINTS). Without
 * this a client could make the server send requests anywhere (SSRF). An entry is a URL
 * prefix; `https://*.example.com/` matches every subdomain of example.com. Compared on
 * the parsed URL (origin, then path), never as raw text, so `https://allowed@evil/` or
 * `https://allowed.evil/` cannot pass for `https://allowed/`.
 */
interface Rule {
  protocol: string;
  /** Exact host, or a suffix starting with a dot for `*.` rules. */
  host: string;
  wildcard: boolean;
  port: string;
  path: string;
}

export class EndpointAllowList {
  private readonly rules: Rule[];

  constructor(prefixes: readonly string[]) {
    this.rules = prefixes.map((prefix) => {
      const wildcard = /^[a-z]+:\/\/\*\./i.test(prefix);
      const url = new URL(wildcard ? prefix.replace('*.', 'wildcard.') : prefix);
      return {
        protocol: url.protocol,
        host: wildcard ? url.hostname.slice('wildcard'.length) : url.hostname,
        wildcard,
        port: url.port,
        path: url.pathname,
      };
    });
  }

  /** Null when the endpoint is allowed, else why not. */
  check(endpoint: string): string | null {
    let url: URL;
    try {
      url = new URL(endpoint);
    } catch {
      return 'endpoint is not a URL';
    }
    // https only, unless the operator allowed a plain-http prefix on purpose (a local test service).
    if (url.protocol !== 'https:' && !this.rules.some((r) => r.protocol === url.protocol)) return 'endpoint must be https';
    if (url.username || url.password) return 'endpoint must not carry credentials';
    const allowed = this.rules.some(
      (r) =>
        r.protocol === url.protocol &&
        r.port === url.port &&
        (r.wildcard ? url.hostname.endsWith(r.host) && url.hostname.length > r.host.length : url.hostname === r.host) &&
        url.pathname.startsWith(r.path),
    );
    return allowed ? null : 'endpoint is not one of the push services this server allows (WEBPUSH_ALLOWED_ENDPOINTS)';
  }
}

/** An endpoint fit for a log line: its origin only (the path is the subscription's secret). */
export function redactEndpoint(endpoint: string): string {
  try {
    return `${new URL(endpoint).origin}/…`;
  } catch {
    return '(unparseable endpoint)';
  }
}
