/**
 * LeaseFs: the part of `node:fs` the file lease store uses, proper-lockfile's calls and the change
 * notifications included. Every file operation of the store (file-store.ts, file-mutex.ts,
 * record-file.ts, epoch-claims.ts) goes through one injected object of this type, so that fault tests
 * can replace any of them; test/source-rules.test.ts keeps it that way.
 */
import type * as nodeFs from 'node:fs';

/** Inject another for fault tests. @default node:fs */
export type LeaseFs = Pick<
  typeof nodeFs,
  | 'mkdirSync'
  | 'readFileSync'
  | 'openSync'
  | 'writeSync'
  | 'fdatasyncSync'
  | 'fstatSync'
  | 'closeSync'
  | 'renameSync'
  | 'unlinkSync'
  | 'readdirSync'
  | 'statSync'
  | 'lstatSync'
  | 'chmodSync'
  | 'accessSync'
  | 'rmSync'
  | 'rmdirSync'
  | 'utimesSync'
  | 'watch'
>;
