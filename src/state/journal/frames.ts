/**
 * Framed records, as every journal file holds them:
 *
 *   ┌──────────────┬──────────────┬───────────────────────────┐
 *   │ u32 LE length│ u32 LE crc32 │ payload: length bytes JSON │
 *   └──────────────┴──────────────┴───────────────────────────┘
 *
 * No record is empty: a zero header followed only by zeros is the end of the records (a part's
 * preallocated zeros). Files are read through a `read(offset, length)` function a chunk at a time, so
 * that scanning a file of any length holds at most one chunk (or one record, if larger) in memory.
 * Guaranteed: a record is returned only if its checksum matches and its payload is a JSON object; the
 * first other frame stops the scan and is described with its byte offset.
 */
import { crc32 } from 'node:zlib';
import { LeaseholdError } from '../../errors.js';

export const HEADER = 8;
/** How much of a file a scan reads at a time. */
export const SCAN_CHUNK_BYTES = 1 << 20;

export function frame(payload: unknown): Buffer {
  return frameJson(JSON.stringify(payload));
}

/** A frame around JSON text already serialized. */
export function frameJson(json: string): Buffer {
  const len = Buffer.byteLength(json);
  const buf = Buffer.allocUnsafe(HEADER + len);
  buf.write(json, HEADER, 'utf8');
  buf.writeUInt32LE(len, 0);
  buf.writeUInt32LE(crc32(buf.subarray(HEADER)), 4);
  return buf;
}

/** Reads up to `length` bytes at `offset` (fewer only at the end of the file). */
export type ReadAt = (offset: number, length: number) => Buffer;

export interface Scanned {
  /** Where the records end: the first bad frame, the preallocated zeros, or `limit`. */
  goodLength: number;
  /** The first bad frame; `end` is where it claims to end (a torn write always reaches the end of the file). */
  bad?: { offset: number; why: string; end: number };
}

/**
 * Calls `onRecord` for each framed record in the first `limit` bytes, in order; stops at the first bad or
 * incomplete frame, or at the zeros.
 */
export function scanFrames(
  read: ReadAt,
  limit: number,
  onRecord: (value: Record<string, unknown>, offset: number, bytes: number) => void,
  chunk = SCAN_CHUNK_BYTES,
): Scanned {
  let base = 0;
  let buf: Buffer = Buffer.alloc(0);
  /** Makes buf hold [from, to), reading a chunk (or more) at `from` when it does not. */
  const hold = (from: number, to: number): void => {
    if (from >= base && to <= base + buf.length) return;
    base = from;
    buf = read(from, Math.min(limit - from, Math.max(chunk, to - from)));
  };
  let off = 0;
  while (off < limit) {
    if (off + HEADER > limit) return { goodLength: off, bad: { offset: off, why: 'incomplete header', end: limit } };
    hold(off, off + HEADER);
    if (buf.length < off + HEADER - base) return { goodLength: off, bad: { offset: off, why: 'incomplete header', end: limit } };
    const len = buf.readUInt32LE(off - base);
    const sum = buf.readUInt32LE(off - base + 4);
    if (len === 0 && sum === 0 && zerosUpTo(read, off, limit, chunk)) return { goodLength: off };
    const end = off + HEADER + len;
    if (end > limit) return { goodLength: off, bad: { offset: off, why: 'incomplete record', end: limit } };
    hold(off, end);
    if (buf.length < end - base) return { goodLength: off, bad: { offset: off, why: 'incomplete record', end: limit } };
    const body = buf.subarray(off + HEADER - base, end - base);
    if (crc32(body) !== sum) return { goodLength: off, bad: { offset: off, why: 'checksum mismatch', end } };
    let value: unknown;
    try {
      value = JSON.parse(body.toString('utf8'));
    } catch (err) {
      return { goodLength: off, bad: { offset: off, why: notJson(body, err, off + HEADER), end } };
    }
    if (typeof value !== 'object' || value === null || Array.isArray(value))
      return { goodLength: off, bad: { offset: off, why: 'not an object', end } };
    onRecord(value as Record<string, unknown>, off, end - off);
    off = end;
  }
  return { goodLength: off };
}

/** The records of a buffer held in memory, as {@link scanFrames} finds them. */
export function parseFrames(buf: Buffer, limit = buf.length): Scanned & { records: { offset: number; value: Record<string, unknown> }[] } {
  const records: { offset: number; value: Record<string, unknown> }[] = [];
  const scanned = scanFrames(
    (o, n) => buf.subarray(o, o + n),
    limit,
    (value, offset) => records.push({ offset, value }),
  );
  return { records, ...scanned };
}

/** True when bytes [from, to) read through `read` are all zero. */
export function zerosUpTo(read: ReadAt, from: number, to: number, chunk = SCAN_CHUNK_BYTES): boolean {
  for (let off = from; off < to;) {
    const got = read(off, Math.min(chunk, to - off));
    if (got.length === 0) return true; // the file ends sooner: nothing but zeros (none) there
    if (!allZero(got, 0, got.length)) return false;
    off += got.length;
  }
  return true;
}

/** True when buf[from, to) holds only zero bytes. */
export function allZero(buf: Buffer, from: number, to: number): boolean {
  for (let off = from; off < to; off += ZEROS.length) {
    const n = Math.min(ZEROS.length, to - off);
    if (buf.compare(ZEROS, 0, n, off, off + n) !== 0) return false;
  }
  return true;
}
/** Zeros to compare with, and to write ahead of a part's records. */
export const ZEROS = Buffer.alloc(64 * 1024);

/**
 * What is wrong with a payload that does not parse, naming the file offset of the bad byte when the parser
 * says where it is (its position counts UTF-16 units of the text; the offset counts bytes of the file).
 */
function notJson(body: Buffer, err: unknown, payloadOffset: number): string {
  const at = /at position (\d+)/.exec(String((err as Error)?.message))?.[1];
  if (at === undefined) return 'not JSON';
  const text = body.toString('utf8');
  return `not JSON: bad byte at offset ${payloadOffset + Buffer.byteLength(text.slice(0, Number(at)))}`;
}

/** ECORRUPT naming the file and the byte offset of the damage, as message and as fields (`path`, `offset`). */
export function corrupt(path: string, offset: number, why: string, what = 'journal file'): LeaseholdError {
  return new LeaseholdError('ECORRUPT', `${what} ${path} is damaged at offset ${offset} (${why}); it was left as it is for inspection`, {
    path,
    offset,
  });
}
