/** shardflow: Flink's programming model on Kinesis, Lambda and DynamoDB. The public API. */
export { job, JobBuilder, DataStream, KeyedStream, WindowedStream, ConnectedStreams, KeyedConnectedStreams, IntervalJoin, JoinBuilder, WindowJoin } from './api/builder';
export { kinesisSource, type KinesisSourceOptions, type KeySelector, type SourceSpec } from './api/source';
export { dynamoSink, kinesisSink, logSink, type SinkSpec, type DynamoSinkOptions } from './api/sink';
export { tumbling, sliding, cumulative, session, countWindow, type TimeWindowOptions } from './api/windows';
export { valueState, listState, mapState, type StateDescriptor, type ValueState, type ListState, type MapState } from './api/state';
export { outputTag } from './api/functions';
export type { AggregateFunction, AsyncCallContext, CoGroupFunction, JoinContext, JoinFunction, KeyedCoProcessFunction, KeyedContext, KeyedProcessFunction, MapAsyncOptions, NumericField, OutputTag, WindowContext, WindowMeta } from './api/functions';
export type { JobDefinition, OperatorNode } from './api/graph';
export type { JobOptions, StageSettings, StreamMode } from './api/settings';
export type { Duration } from './time/duration';
export type { TimeWindow } from './time/window';
export { planJob } from './plan/planner';
export { PlanError } from './plan/plan-error';
export type { Plan, Stage } from './plan/plan';
export { compileSql, SqlError, changelogOf, describeChangelog, scalarFunction, type CompileSqlOptions, type Changelog, type RowKind, type ScalarFunction, type FunctionValue } from './sql';
export { from, kinesisTable, $, lit, Tumble, Slide, Session, Expression, Table, WindowedTable, GroupedTable, ResultTable } from './sql';
export type { GroupWindow, InsertOptions, KinesisTableOptions, TableSource } from './sql';
