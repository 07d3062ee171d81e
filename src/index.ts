/**
 * leasehold: several instances of one desktop app, one owner, automatic failover.
 *
 * The public surface. Everything exported here is documented in docs/reference.md and follows semver.
 */
export { systemClock, type Clock, type Timer } from './clock.js';
export { LeaseholdError, ErrorCodes, isLeaseholdError, type ErrorCode, type LostReason } from './errors.js';
export { LeaseKey } from './lease/key.js';
export { redactRecord, RECORD_FORMAT, type LeaseRecord, type Meta } from './lease/record.js';
export type { AcquireOptions, FencingToken, Lease, LeaseState, LeaseStore, WaitOptions } from './lease/store.js';
export { FileLeaseStore, type FileLeaseStoreOptions, type LeaseFs } from './lease/file-store.js';
export { DEFAULT_TTL_MS, MIN_TTL_MS } from './lease/timing.js';
export { join, Instance, toHolder, type Holder, type InstanceEvent, type Role } from './instance/instance.js';
export { SharedState, type Change } from './state/shared-state.js';
export { RequestError, type RequestOptions } from './requests/requester.js';
export type { RequestContext, RequestHandler } from './requests/handlers.js';
export { forwardLaunch, handleLaunches, LAUNCH_REQUEST, type Launch, type LaunchAnswer, type LaunchHandler } from './requests/launch.js';
export type { Json, Mutation } from './state/document.js';
export type { Reducer, Reducers } from './state/reducers.js';
export type { Action, ActionLike, PayloadOf } from './state/json.js';
export type { JoinOptions } from './config.js';
export { CloseCode, PROTOCOL_VERSION, type InstanceInfo } from './transport/protocol.js';
export type { TransportKind } from './transport/endpoint.js';
