/**
 * The local runner of Lambda's Kinesis event source mapping (DESIGN §5). One concept per module
 * under `./esm/`; this file only re-exports.
 */
export { EventSourceMapping, type EventSourceMappingOptions } from './esm/event-source-mapping';
export { resolveMappingConfig, MappingConfigError, DEFAULT_POLL_INTERVAL_MS, DEFAULT_SHARD_SYNC_INTERVAL_MS, type EventSourceMappingConfig, type ResolvedMappingConfig } from './esm/config';
export { fileCheckpointStore, memoryCheckpointStore, checkpointKey, SHARD_END, type CheckpointStore } from './esm/checkpoint-store';
export type { Invoke, OnFailure, KinesisFailureRecord, DiscardCondition, MappingStats, ShardStats, ShardState } from './esm/types';
