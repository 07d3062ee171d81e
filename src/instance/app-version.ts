/**
 * Comparing the versions instances report (`join({ stateVersion, appVersion })`), so that during an
 * auto-update the newest code present is preferred as the successor, and an older owner steps down to it
 * (handover.ts): the state version its code knows first (none below any), then the app version.
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

/** What an instance's code is: the state version it knows (absent: none) and the app version it runs. */
export interface CodeVersion {
  stateVersion?: number | undefined;
  appVersion: string;
}

/** Negative when `a`'s code is older than `b`'s: by state version first, then by app version. */
export function compareCode(a: CodeVersion, b: CodeVersion): number {
  const d = (a.stateVersion ?? -1) - (b.stateVersion ?? -1);
  return d !== 0 ? Math.sign(d) : compareAppVersions(a.appVersion, b.appVersion);
}

/** The first of `items` whose code no other one's exceeds (so the earliest among the newest). */
export function newest<T>(items: readonly T[], codeOf: (t: T) => CodeVersion): T | undefined {
  let best: T | undefined;
  for (const t of items) if (best === undefined || compareCode(codeOf(t), codeOf(best)) > 0) best = t;
  return best;
}
