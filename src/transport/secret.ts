/** Per-epoch secrets and their constant-time comparison. */
import { randomBytes, createHash, timingSafeEqual } from 'node:crypto';

export function newSecret(): string {
  return randomBytes(32).toString('base64url');
}

/** Compares in constant time (hashing first, so lengths never leak through an early exit). */
export function secretsEqual(a: string, b: string): boolean {
  const ha = createHash('sha256').update(a).digest();
  const hb = createHash('sha256').update(b).digest();
  return timingSafeEqual(ha, hb);
}

/** Extracts the secret from an `Authorization: Bearer <secret>` header. */
export function bearer(header: string | undefined): string | undefined {
  if (!header) return undefined;
  const m = /^Bearer ([A-Za-z0-9_-]{1,128})$/.exec(header.trim());
  return m?.[1];
}
