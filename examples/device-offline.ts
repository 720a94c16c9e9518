/**
 * The seed's device-offline alert: an alert when a device sends nothing for 30 s of processing time.
 * Every heartbeat moves its device's processing-time timer to 30 s after the heartbeat arrived; a timer
 * that fires means none came in between. With no events at all, the watermark function's ticks bring
 * the keyed stage the records that fire it (docs/processing-time.md).
 */
import { dynamoSink, job, kinesisSource, valueState } from 'shardflow';

export type Heartbeat = { deviceId: string; ts: number };
export type OfflineAlert = { deviceId: string; lastHeartbeatTs: number; silentSinceMs: number; alertAtMs: number };

export const OFFLINE_AFTER_MS = 30_000;

const state = {
  /** The pending timer's time (0: none), to move it at the next heartbeat. */
  deadline: valueState(0),
  lastHeartbeatTs: valueState(0),
};

export default job('device-offline')
  .source(kinesisSource<Heartbeat>('heartbeats', { eventTime: (h) => h.ts, idleAfter: '10s' }))
  .keyBy((h) => h.deviceId)
  .process<typeof state, OfflineAlert>({
    state,
    onEvent(heartbeat, ctx) {
      const previous = ctx.state.deadline.value();
      if (previous) ctx.timers.deleteProcessingTime(previous);
      const deadline = ctx.processingTime + OFFLINE_AFTER_MS;
      ctx.timers.registerProcessingTime(deadline);
      ctx.state.deadline.update(deadline);
      ctx.state.lastHeartbeatTs.update(heartbeat.ts);
    },
    onTimer(at, ctx) {
      ctx.emit({ deviceId: ctx.key, lastHeartbeatTs: ctx.state.lastHeartbeatTs.value(), silentSinceMs: at - OFFLINE_AFTER_MS, alertAtMs: at });
      ctx.state.deadline.clear();
    },
  })
  // One alert per device and silence: a replayed batch rewrites the same item.
  .sink(dynamoSink('device-offline-alerts', { key: (a) => `${String(a.deviceId)}@${String(a.silentSinceMs)}` }));
