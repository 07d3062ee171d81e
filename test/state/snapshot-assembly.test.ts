/**
 * A follower joining a streamed snapshot: any cut of the text into parts gives back the document, and
 * every stream an owner would not send is refused with 4000, or 1009 past the limit, without a throw.
 */
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import { SnapshotAssembly, type Refusal } from '../../src/state/snapshot-assembly.js';
import { CloseCode } from '../../src/transport/protocol.js';

/** The parts of `text` cut at `cuts` (positions, any order, duplicates ignored). */
function cut(text: string, cuts: number[]): string[] {
  const at = [...new Set(cuts.map((c) => c % text.length))].filter((c) => c > 0).sort((a, b) => a - b);
  const parts: string[] = [];
  let from = 0;
  for (const c of [...at, text.length]) {
    parts.push(text.slice(from, c));
    from = c;
  }
  return parts;
}

function stream(a: SnapshotAssembly, v: number, parts: string[]) {
  for (let i = 0; i < parts.length; i++) assert.equal(a.part({ v, i, text: parts[i]! }), undefined, `part ${i}`);
  return a.end({ v, parts: parts.length, chars: parts.reduce((n, p) => n + p.length, 0) });
}

const code = (r: unknown) => (r as Refusal | undefined)?.refused.code;

describe('snapshot assembly', () => {
  it('joins any cut of the text, inside surrogate pairs too, into the document', () => {
    fc.assert(
      fc.property(fc.jsonValue({ maxDepth: 4 }), fc.array(fc.nat(), { maxLength: 20 }), fc.nat(1000), (value, cuts, v) => {
        const text = JSON.stringify({ x: value, emoji: '😀🎉 ünïcode' });
        const done = stream(new SnapshotAssembly(), v, cut(text, cuts));
        assert.deepEqual(done, { v, state: JSON.parse(text) });
      }),
    );
  });

  it('takes one stream after another, and refuses at the first thing out of place', () => {
    const a = new SnapshotAssembly();
    assert.deepEqual(stream(a, 3, ['{"a"', ':1}']), { v: 3, state: { a: 1 } });
    assert.deepEqual(stream(a, 5, ['[1,2]']), { v: 5, state: [1, 2] });
    const cases: [string, (a: SnapshotAssembly) => unknown][] = [
      ['a part other than 0 first', (a) => a.part({ v: 1, i: 1, text: '{}' })],
      ['a gap', (a) => (a.part({ v: 1, i: 0, text: '{' }), a.part({ v: 1, i: 2, text: '}' }))],
      ['a repeat', (a) => (a.part({ v: 1, i: 0, text: '{' }), a.part({ v: 1, i: 0, text: '{' }))],
      ['another version', (a) => (a.part({ v: 1, i: 0, text: '{' }), a.part({ v: 2, i: 1, text: '}' }))],
      ['an end without a stream', (a) => a.end({ v: 1, parts: 1, chars: 2 })],
      ['an end of another version', (a) => (a.part({ v: 1, i: 0, text: '{}' }), a.end({ v: 2, parts: 1, chars: 2 }))],
      ['an end counting other parts', (a) => (a.part({ v: 1, i: 0, text: '{}' }), a.end({ v: 1, parts: 2, chars: 2 }))],
      ['an end counting other characters', (a) => (a.part({ v: 1, i: 0, text: '{}' }), a.end({ v: 1, parts: 1, chars: 3 }))],
      ['text that is not JSON', (a) => (a.part({ v: 1, i: 0, text: '{"a":' }), a.end({ v: 1, parts: 1, chars: 5 }))],
      ['a change in the middle', (a) => (a.part({ v: 1, i: 0, text: '{' }), a.interrupts('changes'))],
      ['an ack in the middle', (a) => (a.part({ v: 1, i: 0, text: '{' }), a.interrupts('acks'))],
      ['synced in the middle', (a) => (a.part({ v: 1, i: 0, text: '{' }), a.interrupts('synced'))],
    ];
    for (const [name, run] of cases) {
      const a = new SnapshotAssembly();
      assert.equal(code(run(a)), CloseCode.PROTOCOL, name);
      assert.equal(a.receiving, false, `${name}: nothing kept`);
      assert.deepEqual(stream(a, 9, ['{}']), { v: 9, state: {} }, `${name}: the next stream starts afresh`);
    }
    const idle = new SnapshotAssembly();
    assert.equal(idle.interrupts('changes'), undefined, 'changes between streams');
    idle.part({ v: 1, i: 0, text: '{' });
    assert.equal(idle.interrupts('presence'), undefined, 'presence in the middle');
  });

  it('refuses with 1009 the part that takes a stream past its limit, and keeps nothing', () => {
    const a = new SnapshotAssembly(10);
    assert.equal(a.part({ v: 1, i: 0, text: '["abcd",' }), undefined);
    assert.equal(a.part({ v: 1, i: 1, text: '1' }), undefined);
    assert.equal(code(a.part({ v: 1, i: 2, text: '2]' })), CloseCode.TOO_BIG);
    assert.equal(a.receiving, false);
    assert.equal(code(a.part({ v: 1, i: 0, text: 'x'.repeat(11) })), CloseCode.TOO_BIG, 'one part over it');
    assert.deepEqual(stream(a, 2, ['[1,', '2]']), { v: 2, state: [1, 2] }, 'within it');
  });
});
