/**
 * Per-epoch secrets, their constant-time comparison, and the owner's proof: a follower presents the
 * secret (bearer) to be let in; the owner proves it holds it too, with an HMAC of the follower's nonce,
 * so a follower trusts nothing from a process that merely listens on a stale record's port.
 */
import { randomBytes, createHash, createHmac, timingSafeEqual } from 'node:crypto';

export function newSecret(): string {
  return randomBytes(32).toString('base64url');
}

/** Compares in constant time (hashing first, so lengths never leak through an early exit). */
export function secretsEqual(a: string, b: string): boolean {
  const ha = createHash('sha256').update(a).digest();
  const hb = createHash('sha256').update(b).digest();
  return timingSafeEqual(ha, hb);
}

/** A follower's nonce for one connection. */
export function newNonce(): string {
  return randomBytes(16).toString('hex');
}

/** The owner's proof that it holds `secret`, for the follower's `nonce`. */
export function ownerProof(secret: string, nonce: string): string {
  return createHmac('sha256', secret).update(nonce).digest('hex');
}

/** Whether `proof` is the owner's proof for `nonce` under `secret` (constant time). */
export function proofMatches(secret: string, nonce: string, proof: unknown): boolean {
  return typeof proof === 'string' && secretsEqual(proof, ownerProof(secret, nonce));
}

/** Extracts the secret from an `Authorization: Bearer <secret>` header. */
export function bearer(header: string | undefined): string | undefined {
  if (!header) return undefined;
  const m = /^Bearer ([A-Za-z0-9_-]{1,128})$/.exec(header.trim());
  return m?.[1];
}
