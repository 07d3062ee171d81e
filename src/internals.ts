/**
 * What tests and fault injection (cli/faults.ts) reach inside an instance: the resources of its current
 * role and the replica's internal side. Not exported from src/index.ts, nor from any entry point of the
 * package: nothing here is part of the public surface, and none of it may be used by applications.
 */
import { termsOf, type Instance } from './instance/instance.js';
import type { OwnerHandover } from './instance/handover.js';
import type { Lease } from './lease/store.js';
import type { FollowerLink } from './transport/client.js';
import type { OwnerServer } from './transport/server.js';
import { replicaOf, type Replica } from './state/shared-state.js';

export interface Internals {
  /** The owner's server while this instance owns. */
  server: OwnerServer | undefined;
  /** The held lease while this instance owns. */
  lease: Lease | undefined;
  /** The handover's state while this instance owns and serves. */
  handover: OwnerHandover | undefined;
  /** The link to the owner while this instance follows and is connected. */
  link: FollowerLink | undefined;
  /** The replica's internal side (what the owner's answers drive). */
  replica: Replica;
}

/** A view of `instance` as of now (read it again after a role change). */
export function internals<S>(instance: Instance<S>): Internals {
  const { owner, follower } = termsOf(instance as Instance<unknown>);
  return {
    server: owner?.server,
    lease: owner?.lease,
    handover: owner?.handover,
    link: follower?.link,
    replica: replicaOf(instance.state),
  };
}
