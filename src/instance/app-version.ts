/**
 * Comparing the app versions instances report (`join({ appVersion })`), so that during an auto-update the
 * newest version present is preferred as the successor (handover.ts).
 *
 * Versions are compared as semver-like dotted numbers: `1.10.0` > `1.9.2` > `1.9`; a pre-release
 * (`2.0.0-beta.1`) sorts below its release and is otherwise compared as a string; a version that does not
 * start with a number, and the empty string (not given), sort below every other. Not guaranteed: semver's
 * full precedence rules for pre-release identifiers.
 */
const PARSE = /^v?(\d+(?:\.\d+)*)(?:-(.*))?$/;

/** Negative when `a` is older than `b`, positive when newer, 0 when the same (or equally unknown). */
export function compareAppVersions(a: string, b: string): number {
  const pa = PARSE.exec(a);
  const pb = PARSE.exec(b);
  if (!pa || !pb) return (pa ? 1 : 0) - (pb ? 1 : 0);
  const na = pa[1]!.split('.').map(Number);
  const nb = pb[1]!.split('.').map(Number);
  for (let i = 0; i < Math.max(na.length, nb.length); i++) {
    const d = (na[i] ?? 0) - (nb[i] ?? 0);
    if (d !== 0) return Math.sign(d);
  }
  const ra = pa[2];
  const rb = pb[2];
  if (ra === undefined || rb === undefined) return (ra === undefined ? 1 : 0) - (rb === undefined ? 1 : 0);
  return ra < rb ? -1 : ra > rb ? 1 : 0;
}

/** The first of `items` whose version no other one exceeds (so the earliest among the newest). */
export function newest<T>(items: readonly T[], versionOf: (t: T) => string): T | undefined {
  let best: T | undefined;
  for (const t of items) if (best === undefined || compareAppVersions(versionOf(t), versionOf(best)) > 0) best = t;
  return best;
}
