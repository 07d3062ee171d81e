// Preloaded (node --require) into Electron's installer, whose only report of a failure is `err.stack`. A
// failed download's stack says just "fetch failed": the reason (no DNS, connection refused, a proxy, a TLS
// error) is in `err.cause`, which a stack leaves out. This puts the chain of causes into the stack's first
// line, so that the one sentence `npm start` prints names the real cause.
'use strict';

/** How many causes deep the first line goes: a chain longer than this is a loop or noise. */
const MAX_CAUSES = 4;

const describe = (e) => (e instanceof Error ? `${e.name}: ${e.message}` : String(e));

Error.prepareStackTrace = (error, frames) => {
  let head = describe(error);
  let cause = error instanceof Error ? error.cause : undefined;
  for (let depth = 0; cause !== undefined && cause !== null && depth < MAX_CAUSES; depth++) {
    head += ` (caused by ${describe(cause)})`;
    cause = cause instanceof Error ? cause.cause : undefined;
  }
  return [head, ...frames.map((frame) => `    at ${frame}`)].join('\n');
};
