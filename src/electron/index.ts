/**
 * `leasehold/electron`: the main-process glue and the renderer contract. See main.ts, and renderer-api.ts
 * (also `leasehold/electron/renderer`, which a page with DOM-only types can import).
 */
export {
  createAppCoordinator,
  type AppCoordinator,
  type AppCoordinatorOptions,
  type AppLike,
  type IpcMainLike,
  type ShellLike,
  type WebContentsLike,
} from './main.js';
export { RendererBridge, validateRequest, type RendererBridgeOptions } from './bridge.js';
export {
  REQUEST_CHANNEL,
  EVENT_CHANNEL,
  BRIDGE_KEY,
  connectLeasehold,
  LeaseholdRendererError,
  type BridgeEvent,
  type BridgeReply,
  type BridgeRequest,
  type InstanceSummary,
  type InstanceView,
  type LeaseholdBridge,
  type LeaseholdRendererApi,
  type TimelineEntry,
} from './renderer-api.js';
