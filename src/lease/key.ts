/**
 * Lease keys: hierarchical names such as `/app/notes/owner` or `/system/updater`.
 *
 * Guarantees: a key is `/system/<segment>...` or `/app/<name>/<segment>...`; every segment is non-empty and
 * free of whitespace and control characters; `LeaseKey.parse(String(key))` gives an equal key; the
 * escaped form uses only `[A-Za-z0-9._~%-]` in a segment, so it is safe as a path component on every OS
 * (segments that are `.`/`..`-like are escaped too). Not guaranteed: that two keys differing only in case
 * map to different directories on a case-insensitive file system.
 */
import { LeaseholdError } from '../errors.js';

const NAMESPACES = ['system', 'app'] as const;
const FORBIDDEN = /[\s\p{Cc}]/u;
const SAFE = /^[A-Za-z0-9_~-]$/;

function escapeSegment(segment: string): string {
  let out = '';
  for (const ch of segment) {
    // '.' is escaped only at the start, so no segment can read as '.' or '..'.
    if (SAFE.test(ch) || (ch === '.' && out.length > 0)) out += ch;
    else for (const byte of Buffer.from(ch, 'utf8')) out += '%' + byte.toString(16).toUpperCase().padStart(2, '0');
  }
  return out;
}

function invalid(key: string, why: string): LeaseholdError {
  return new LeaseholdError('EINVALIDKEY', `invalid lease key ${JSON.stringify(key)}: ${why}`, { key });
}

export class LeaseKey {
  readonly segments: readonly string[];
  readonly #text: string;

  private constructor(segments: string[], text: string) {
    this.segments = Object.freeze(segments);
    this.#text = text;
  }

  /** Builds a key from raw (unescaped) segments, e.g. `LeaseKey.of('app', 'my app?', 'owner')`. */
  static of(...segments: string[]): LeaseKey {
    const text = '/' + segments.map(escapeSegment).join('/');
    LeaseKey.#validate(segments, text);
    return new LeaseKey([...segments], text);
  }

  /** Parses the string form (`/app/notes/owner`); throws EINVALIDKEY naming the key. */
  static parse(text: string): LeaseKey {
    if (typeof text !== 'string') throw invalid(String(text), 'a key is a string');
    if (!text.startsWith('/')) throw invalid(text, 'a key starts with "/"');
    if (FORBIDDEN.test(text)) throw invalid(text, 'whitespace and control characters are not allowed');
    const raw = text.slice(1).split('/');
    const segments = raw.map((part) => {
      if (part === '') throw invalid(text, 'empty segment');
      if (!/^(?:[A-Za-z0-9._~-]|%[0-9A-Fa-f]{2})+$/.test(part)) throw invalid(text, `segment "${part}" is not escaped`);
      try {
        return decodeURIComponent(part);
      } catch {
        throw invalid(text, `segment "${part}" is not valid percent-encoded UTF-8`);
      }
    });
    const key = LeaseKey.of(...segments);
    return key;
  }

  /** Accepts a key or its string form. */
  static from(key: LeaseKey | string): LeaseKey {
    return key instanceof LeaseKey ? key : LeaseKey.parse(key);
  }

  /** The default key for an app: `/app/<name>/owner`. */
  static forApp(name: string): LeaseKey {
    return LeaseKey.of('app', name, 'owner');
  }

  static #validate(segments: string[], text: string): void {
    if (segments.length === 0) throw invalid(text, 'a key has at least one segment after the namespace');
    for (const s of segments) {
      if (typeof s !== 'string' || s === '') throw invalid(text, 'empty segment');
      if (FORBIDDEN.test(s)) throw invalid(text, 'whitespace and control characters are not allowed');
    }
    const ns = segments[0]!;
    if (!(NAMESPACES as readonly string[]).includes(ns)) throw invalid(text, `the first segment must be one of ${NAMESPACES.join(', ')}`);
    if (ns === 'system' && segments.length < 2) throw invalid(text, '/system needs a name: /system/<name>');
    if (ns === 'app' && segments.length < 3) throw invalid(text, '/app needs a name and a lease: /app/<name>/<lease>');
    if (text.length > 512) throw invalid(text, 'keys are at most 512 characters');
  }

  /** Escaped segments, usable as path components. */
  pathSegments(): string[] {
    return this.#text.slice(1).split('/');
  }

  equals(other: LeaseKey): boolean {
    return this.#text === other.#text;
  }

  toString(): string {
    return this.#text;
  }

  toJSON(): string {
    return this.#text;
  }
}
