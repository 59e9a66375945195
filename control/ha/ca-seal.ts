/**
 * The mesh CA's key as it lives in etcd: sealed with AES-256-GCM under a key derived (scrypt)
 * from a secret the operator provides (`--ca-key-file`), so a copy of etcd, a backup or a
 * member's disk gives no one the power to issue SVIDs. The authentication tag makes any change
 * to the sealed text, or the wrong secret, an error rather than a different key.
 */
import { createCipheriv, createDecipheriv, randomBytes, scryptSync } from 'node:crypto';
import { fail, ok, type Result } from '../../contracts/problem.js';

const VERSION = 'perimeter-seal-v1';
/** scrypt's cost: about 50 ms once per replica start, and 2^15 guesses a second per core for an attacker. */
const SCRYPT = { N: 1 << 15, r: 8, p: 1, maxmem: 64 * 1024 * 1024 };
/** Shorter secrets are refused: the seal is only as strong as what it is derived from. */
export const MIN_SECRET_BYTES = 16;

export function sealKey(keyPem: string, secret: Uint8Array): string {
  const salt = randomBytes(16);
  const iv = randomBytes(12);
  const c = createCipheriv('aes-256-gcm', derive(secret, salt), iv);
  c.setAAD(Buffer.from(VERSION));
  const body = Buffer.concat([c.update(keyPem, 'utf8'), c.final()]);
  return [VERSION, salt, iv, c.getAuthTag(), body].map((x) => (typeof x === 'string' ? x : x.toString('base64'))).join(':');
}

export function unsealKey(sealed: string, secret: Uint8Array): Result<string> {
  const parts = sealed.split(':');
  if (parts.length !== 5 || parts[0] !== VERSION) return fail('', `the stored CA key is not sealed as ${VERSION}`);
  const [salt, iv, tag, body] = parts.slice(1).map((p) => Buffer.from(p, 'base64')) as [Buffer, Buffer, Buffer, Buffer];
  try {
    const d = createDecipheriv('aes-256-gcm', derive(secret, salt), iv);
    d.setAAD(Buffer.from(VERSION));
    d.setAuthTag(tag);
    return ok(Buffer.concat([d.update(body), d.final()]).toString('utf8'));
  } catch {
    return fail('', 'the stored CA key does not open with this --ca-key-file (a different secret, or the stored key was altered)');
  }
}

function derive(secret: Uint8Array, salt: Buffer): Buffer {
  return scryptSync(secret, salt, 32, SCRYPT);
}
