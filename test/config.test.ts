/**
 * The one timing object: defaults, the derived timings, and every relation refused with EINVALIDCONFIG
 * naming the option that breaks it.
 */
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import {
  DESIGNATE_AFTER_MS,
  HANDOVER_LINGER_MAX_MS,
  HANDOVER_POLL_MS,
  resolveInstanceTiming,
  resolveJoinOptions,
  RETRY_MAX_MS,
  RETRY_MIN_MS,
  type Timing,
} from '../src/config.js';
import { LeaseholdError } from '../src/errors.js';
import { DEFAULT_TTL_MS, MIN_TTL_MS } from '../src/lease/timing.js';

const refusedFor = (field: string) => (e: unknown) => e instanceof LeaseholdError && e.code === 'EINVALIDCONFIG' && e.field === field;

describe('resolveInstanceTiming', () => {
  it('derives every timing from the ttl by default', () => {
    const t = resolveInstanceTiming({});
    assert.equal(t.ttlMs, DEFAULT_TTL_MS);
    assert.equal(t.renewIntervalMs, Math.floor(DEFAULT_TTL_MS / 3));
    assert.equal(t.heartbeatIntervalMs, 1000);
    assert.equal(t.handoverTimeoutMs, DEFAULT_TTL_MS / 5);
    assert.equal(t.handoverLingerMs, HANDOVER_LINGER_MAX_MS);
    assert.equal(t.connectTimeoutMs, 2000);
    assert.equal(t.designateAfterMs, DESIGNATE_AFTER_MS);
    assert.equal(t.handoverPollMs, HANDOVER_POLL_MS);
    assert.deepEqual([t.retryMinMs, t.retryMaxMs], [RETRY_MIN_MS, RETRY_MAX_MS]);
  });

  it('keeps the derived relations for every accepted ttl and handover timeout', () => {
    const holds = (t: Timing) =>
      t.renewIntervalMs * 2 <= t.ttlMs &&
      t.heartbeatIntervalMs * 2 < t.ttlMs &&
      t.handoverTimeoutMs < t.ttlMs &&
      t.handoverLingerMs <= t.handoverTimeoutMs &&
      t.connectTimeoutMs >= t.heartbeatIntervalMs * 2 &&
      t.retryMinMs <= t.retryMaxMs;
    for (const ttlMs of [MIN_TTL_MS, 101, 250, 1000, 5000, 60_000])
      for (const handoverTimeoutMs of [undefined, 1, 20, ttlMs - 1]) {
        const t = resolveInstanceTiming({ ttlMs, handoverTimeoutMs });
        assert.ok(holds(t), JSON.stringify(t));
      }
    assert.equal(
      resolveInstanceTiming({ ttlMs: 1000, handoverTimeoutMs: 30 }).handoverLingerMs,
      30,
      'the linger never outlasts the timeout',
    );
  });

  it('refuses each broken relation, naming the option', () => {
    const cases: [Parameters<typeof resolveInstanceTiming>[0], string][] = [
      [{ ttlMs: MIN_TTL_MS - 1 }, 'ttlMs'],
      [{ ttlMs: 1000.5 }, 'ttlMs'],
      [{ ttlMs: 1000, renewIntervalMs: 501 }, 'renewIntervalMs'],
      [{ ttlMs: 1000, renewIntervalMs: 0 }, 'renewIntervalMs'],
      [{ ttlMs: 1000, heartbeatIntervalMs: 500 }, 'heartbeatIntervalMs'],
      [{ ttlMs: 1000, heartbeatIntervalMs: 0 }, 'heartbeatIntervalMs'],
      [{ ttlMs: 1000, handoverTimeoutMs: 1000 }, 'handoverTimeoutMs'],
      [{ ttlMs: 1000, handoverTimeoutMs: 5000 }, 'handoverTimeoutMs'],
      [{ handoverTimeoutMs: 0 }, 'handoverTimeoutMs'],
      [{ authTimeoutMs: 0 }, 'authTimeoutMs'],
      [{ authTimeoutMs: Infinity }, 'authTimeoutMs'],
    ];
    for (const [options, field] of cases) assert.throws(() => resolveInstanceTiming(options), refusedFor(field), JSON.stringify(options));
    // The boundaries themselves are accepted.
    assert.doesNotThrow(() =>
      resolveInstanceTiming({ ttlMs: 1000, renewIntervalMs: 500, heartbeatIntervalMs: 499, handoverTimeoutMs: 999 }),
    );
  });

  it('is what join() options resolve to', () => {
    const o = resolveJoinOptions({ dataRoot: '/tmp', ttlMs: 2000, handoverTimeoutMs: 300 });
    assert.deepEqual(o.timing, resolveInstanceTiming({ ttlMs: 2000, handoverTimeoutMs: 300 }));
    assert.throws(() => resolveJoinOptions({ dataRoot: '/tmp', ttlMs: 2000, handoverTimeoutMs: 2000 }), refusedFor('handoverTimeoutMs'));
    assert.equal(o.maxFollowerBacklogBytes, 8 * 2 ** 20);
  });
});
