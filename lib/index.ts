/** shardflow: Flink's programming model on Kinesis, Lambda and DynamoDB. The public API. */
export { job, JobBuilder, DataStream, KeyedStream, WindowedStream } from './api/builder';
export { kinesisSource, type KinesisSourceOptions, type KeySelector, type SourceSpec } from './api/source';
export { dynamoSink, kinesisSink, logSink, type SinkSpec, type DynamoSinkOptions } from './api/sink';
export { tumbling, sliding, session, countWindow, type TimeWindowOptions } from './api/windows';
export { valueState, listState, mapState, type StateDescriptor, type ValueState, type ListState, type MapState } from './api/state';
export type { AggregateFunction, AsyncCallContext, KeyedContext, KeyedProcessFunction, MapAsyncOptions, NumericField, WindowContext, WindowMeta } from './api/functions';
export type { JobDefinition, OperatorNode } from './api/graph';
export type { StageSettings } from './api/settings';
export type { Duration } from './time/duration';
export type { TimeWindow } from './time/window';
export { planJob } from './plan/planner';
export { PlanError } from './plan/plan-error';
export type { Plan, Stage } from './plan/plan';
export { compileSql, SqlError, type CompileSqlOptions } from './sql';
export { from, kinesisTable, $, lit, Tumble, Slide, Session, Expression, Table, WindowedTable, GroupedTable, ResultTable } from './sql';
export type { GroupWindow, InsertOptions, KinesisTableOptions, TableSource } from './sql';
