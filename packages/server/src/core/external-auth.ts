import { createRemoteJWKSet, decodeProtectedHeader, jwtVerify, type JWTPayload } from 'jose';
import { isStorableText } from '@switchboard/protocol';
import { DomainError } from './errors.js';

/*
 * Signing in from the host app (PROTOCOL.md "Signing in from your own app"): the app signs
 * a short-lived JWT naming its user; the server verifies it with AUTH_JWT_SECRET (HS256) or
 * the keys at AUTH_JWKS_URL (RS256, ES256, EdDSA). `jose` does the verification: algorithm
 * allow-lists per key source (so neither `none` nor an HS256 token "signed" with a public
 * key passes), exp/nbf with clock tolerance, iss and aud.
 */

export interface ExternalAuthSettings {
  secret?: string;
  jwksUrl?: string;
  issuer: string;
  audience: string;
}

/** Who the app says signs in. */
export interface ExternalClaims {
  issuer: string;
  subject: string;
  preferredUsername?: string;
  name?: string;
}

/** The most clock skew between the app and this server that an `exp` or `nbf` may be off by (seconds). */
const CLOCK_TOLERANCE_S = 60;
const JWKS_ALGORITHMS = ['RS256', 'ES256', 'EdDSA', 'Ed25519'];
/**
 * After a JWKS fetch, a token with an unknown `kid` fetches again only after this long.
 * Short, so a rotated key works within a second; each fetch is one GET of the app's keys,
 * and failing assertions count against the caller's address like failed logins.
 */
const JWKS_REFETCH_COOLDOWN_MS = 1000;
/** A `sub` is stored and looked up: storable text, bounded. */
const MAX_SUBJECT_CHARS = 255;

export class ExternalAuth {
  private readonly hmacKey: Uint8Array | undefined;
  private readonly jwks: ReturnType<typeof createRemoteJWKSet> | undefined;

  constructor(private readonly settings: ExternalAuthSettings) {
    this.hmacKey = settings.secret ? new TextEncoder().encode(settings.secret) : undefined;
    this.jwks = settings.jwksUrl
      ? createRemoteJWKSet(new URL(settings.jwksUrl), { cooldownDuration: JWKS_REFETCH_COOLDOWN_MS })
      : undefined;
  }

  /** The claims of a valid assertion; anything else throws invalid_credentials. */
  async verify(assertion: string): Promise<ExternalClaims> {
    const options = {
      issuer: this.settings.issuer,
      audience: this.settings.audience,
      clockTolerance: CLOCK_TOLERANCE_S,
      requiredClaims: ['exp', 'sub'],
    };
    let payload: JWTPayload;
    try {
      // The header picks the key source; each source then accepts only its own algorithms.
      const { alg } = decodeProtectedHeader(assertion);
      if (alg === 'HS256' && this.hmacKey) {
        ({ payload } = await jwtVerify(assertion, this.hmacKey, { ...options, algorithms: ['HS256'] }));
      } else if (this.jwks && alg !== undefined && JWKS_ALGORITHMS.includes(alg)) {
        ({ payload } = await jwtVerify(assertion, this.jwks, { ...options, algorithms: JWKS_ALGORITHMS }));
      } else {
        throw new Error(`algorithm ${String(alg)} is not accepted`);
      }
    } catch (err) {
      throw new DomainError('invalid_credentials', `invalid assertion: ${err instanceof Error ? err.message : 'not a valid JWT'}`);
    }
    const sub = payload.sub;
    if (typeof sub !== 'string' || sub.length === 0 || sub.length > MAX_SUBJECT_CHARS || !isStorableText(sub)) {
      throw new DomainError('invalid_credentials', 'invalid assertion: sub must be 1 to 255 characters');
    }
    const text = (v: unknown): string | undefined => (typeof v === 'string' && isStorableText(v) ? v : undefined);
    return { issuer: this.settings.issuer, subject: sub, preferredUsername: text(payload.preferred_username), name: text(payload.name) };
  }
}
