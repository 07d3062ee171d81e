/** `leasehold/electron`: the main-process glue and the renderer contract. See main.ts and renderer-api.ts. */
export {
  createAppCoordinator,
  type AppCoordinator,
  type AppCoordinatorOptions,
  type AppLike,
  type IpcMainLike,
  type WebContentsLike,
} from './main.js';
export { RendererBridge, validateRequest, type RendererBridgeOptions } from './bridge.js';
export {
  REQUEST_CHANNEL,
  EVENT_CHANNEL,
  type BridgeEvent,
  type BridgeReply,
  type BridgeRequest,
  type InstanceView,
  type LeaseholdRendererApi,
  type TimelineEntry,
} from './renderer-api.js';
