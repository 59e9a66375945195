/**
 * What Envoy's jwt_authn filter does in the bootstrap we render, for the local sidecar: a bearer
 * token in `Authorization` is verified against a local JWKS (jose); its payload goes to dynamic
 * metadata at envoy.filters.http.jwt_authn → jwt_payload, where the Wasm filter reads claims.
 * No token: no claims, and the policy decides. A token that does not verify: 401, as Envoy.
 */
import { readFileSync } from 'node:fs';
import { createLocalJWKSet, type JSONWebKeySet, type JWTPayload, jwtVerify } from 'jose';

export type JwtOutcome = { kind: 'none' } | { kind: 'verified'; payload: JWTPayload } | { kind: 'rejected'; reason: string };

export class JwtVerifier {
  private constructor(
    private readonly keys: ReturnType<typeof createLocalJWKSet>,
    private readonly issuer: string | undefined,
    /** As jwt_authn's `audiences`: the token's `aud` must name one of them; none given, any audience. */
    private readonly audiences: readonly string[],
  ) {}

  static fromFile(jwksFile: string, issuer?: string, audiences: readonly string[] = []): JwtVerifier {
    let jwks: JSONWebKeySet;
    try {
      jwks = JSON.parse(readFileSync(jwksFile, 'utf8')) as JSONWebKeySet;
    } catch (e) {
      throw new Error(`${jwksFile}: not a JWKS (${(e as Error).message})`);
    }
    if (!Array.isArray(jwks.keys)) throw new Error(`${jwksFile}: a JWKS has a "keys" array`);
    return new JwtVerifier(createLocalJWKSet(jwks), issuer, audiences);
  }

  async verify(authorization: string | undefined): Promise<JwtOutcome> {
    const m = /^Bearer\s+(\S+)$/i.exec(authorization ?? '');
    if (!m) return { kind: 'none' };
    try {
      const { payload } = await jwtVerify(m[1] as string, this.keys, {
        ...(this.issuer ? { issuer: this.issuer } : {}),
        ...(this.audiences.length ? { audience: [...this.audiences] } : {}),
      });
      return { kind: 'verified', payload };
    } catch (e) {
      return { kind: 'rejected', reason: (e as Error).message };
    }
  }
}
