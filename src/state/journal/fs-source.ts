/**
 * The journal's directory as a {@link LogSource}: files opened without following a link (a symbolic link
 * is refused with EIO, private-files.ts), each once per recovery, read a chunk at a time.
 */
import { join } from 'node:path';
import { ioError } from '../../errors.js';
import { READ, openPrivate } from '../../private-files.js';
import type { JournalFs } from './fs.js';
import type { LogSource } from './recovery.js';

export function fsSource(dir: string, fs: JournalFs): LogSource & { close(): void } {
  const open = new Map<string, { fd: number; size: number }>();
  const file = (name: string) => {
    let f = open.get(name);
    if (f) return f;
    const path = join(dir, name);
    let fd: number | undefined;
    try {
      fd = openPrivate(fs, path, READ);
      f = { fd, size: fs.fstatSync(fd).size };
    } catch (err) {
      if (fd !== undefined) fs.closeSync(fd);
      throw ioError('read', path, err);
    }
    open.set(name, f);
    return f;
  };
  return {
    list() {
      try {
        return fs.readdirSync(dir);
      } catch (err) {
        if ((err as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
        throw ioError('list', dir, err);
      }
    },
    path: (name) => join(dir, name),
    size: (name) => file(name).size,
    read(name, offset, length) {
      const { fd, size } = file(name);
      const buf = Buffer.allocUnsafe(Math.max(0, Math.min(length, size - offset)));
      try {
        for (let got = 0; got < buf.length;) {
          const n = fs.readSync(fd, buf, got, buf.length - got, offset + got);
          if (n === 0) return buf.subarray(0, got);
          got += n;
        }
      } catch (err) {
        throw ioError('read', join(dir, name), err);
      }
      return buf;
    },
    close() {
      for (const { fd } of open.values())
        try {
          fs.closeSync(fd);
        } catch {
          // already closed
        }
      open.clear();
    },
  };
}
