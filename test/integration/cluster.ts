/** A cluster of `leasehold instance` processes on one data root, observed through their JSON lines. */
import { outPath, spawnNode, killAll, type Proc, type SpawnOptions } from './proc.js';
import { tempRoot, delay } from '../helpers.js';

export const BIN = outPath('../../../bin/leasehold.cjs');

export interface Member {
  proc: Proc;
  name: string;
  role: string;
  epoch: number;
  connectedEpoch: number;
  /** Every epoch in which this member reported being owner. */
  ownedEpochs: number[];
}

export class Cluster {
  readonly members: Member[] = [];
  /** All lines of all members, with the member's name, in arrival order. */
  readonly log: (Record<string, unknown> & { name: string })[] = [];
  #n = 0;
  private constructor(
    readonly dataRoot: string,
    readonly remove: () => Promise<void>,
    readonly extraArgs: string[],
  ) {}

  /** On a new temporary data root, or on `dataRoot` (left in place by stop()). */
  static async create(extraArgs: string[] = [], dataRoot?: string): Promise<Cluster> {
    if (dataRoot) return new Cluster(dataRoot, async () => undefined, extraArgs);
    const root = await tempRoot('leasehold-cluster-');
    return new Cluster(root.dir, root.remove, extraArgs);
  }

  /** Starts a member; `bin` runs another build of the command (default: this one). */
  start(args: string[] = [], options: SpawnOptions & { bin?: string } = {}): Member {
    const name = `i${++this.#n}`;
    const m: Member = { proc: undefined as unknown as Proc, name, role: 'starting', epoch: 0, connectedEpoch: 0, ownedEpochs: [] };
    m.proc = spawnNode(
      options.bin ?? BIN,
      ['instance', '--data-root', this.dataRoot, '--name', name, ...this.extraArgs, ...args],
      (line) => {
        this.log.push({ ...line, name });
        if (line.event === 'role') {
          m.role = line.role as string;
          m.epoch = line.epoch as number;
          if (m.role === 'owner') {
            m.connectedEpoch = m.epoch;
            m.ownedEpochs.push(m.epoch);
          }
        } else if (line.event === 'connected') m.connectedEpoch = line.epoch as number;
        else if (line.event === 'disconnected') m.connectedEpoch = 0;
      },
      options,
    );
    this.members.push(m);
    return m;
  }

  live(): Member[] {
    return this.members.filter((m) => m.proc.child.exitCode === null && m.proc.child.signalCode === null);
  }

  owners(): Member[] {
    return this.live().filter((m) => m.role === 'owner');
  }

  /** One owner above epoch `after`, every other live member a follower connected to its epoch. */
  settled(after = 0): Member | undefined {
    const owners = this.owners();
    if (owners.length !== 1) return undefined;
    const o = owners[0]!;
    if (o.epoch <= after) return undefined;
    return this.live().every((m) => m === o || (m.role === 'follower' && m.connectedEpoch === o.epoch && m.epoch === o.epoch))
      ? o
      : undefined;
  }

  async waitSettled(after = 0, timeoutMs = 15_000, exclude?: Member): Promise<Member> {
    const end = Date.now() + timeoutMs;
    for (;;) {
      const o = this.settled(after);
      if (o && o !== exclude) return o;
      if (Date.now() > end)
        throw new Error(
          `errors: ${this.log
            .filter((l) => l.event === 'error' || l.event === 'lost')
            .slice(-12)
            .map((l) => `${l.name} ${l.event} ${l.code ?? l.reason}: ${String(l.message).slice(0, 200)}`)
            .join('\n')}\ncluster did not settle above epoch ${after} in ${timeoutMs} ms: ${this.live()
            .map((m) => `${m.name}:${m.role}@${m.epoch}/c${m.connectedEpoch}`)
            .join(' ')}\n${this.log
            .slice(-15)
            .map((l) => JSON.stringify(l))
            .join('\n')}`,
        );
      await delay(3);
    }
  }

  /** Epochs in which more than one member reported owning. */
  doubleOwners(): { epoch: number; names: string[] }[] {
    const by = new Map<number, Set<string>>();
    for (const m of this.members) for (const e of m.ownedEpochs) (by.get(e) ?? by.set(e, new Set()).get(e)!).add(m.name);
    return [...by.entries()].filter(([, s]) => s.size > 1).map(([epoch, s]) => ({ epoch, names: [...s] }));
  }

  async stop(): Promise<void> {
    await killAll(this.members.map((m) => m.proc));
    await this.remove();
  }
}
