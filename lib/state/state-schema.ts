/**
 * The version of the state format: the shard logs and the state layout that describes them
 * (lib/plan/state-layout.ts). A shardflow reads state of this version or older; one that meets a newer
 * version (written by a newer shardflow) refuses to compare against it or run on it. Raise it when a change
 * makes older shardflows misread the state. Version 2: a keyed stage may keep its state in key groups
 * (logical shards, one log each); a job without them still writes version 1, which every shardflow reads
 * (`schemaVersionOf` in lib/plan/state-layout.ts).
 */
export const STATE_SCHEMA_VERSION = 2;

/**
 * A stage function whose shardflow is older than the state it meets: a newer shardflow's deploy recorded a
 * newer schema version in the state table, and this function (an older bundle: a rollback of the code alone,
 * a deploy that bypassed `shardflow deploy`) would misread the logs. The batch fails and Lambda retries it.
 */
export class StateSchemaTooNewError extends Error {
  constructor(
    /** Where the state is: `the state table NAME`. */
    readonly holder: string,
    readonly version: number,
  ) {
    super(
      `${holder} holds state of schema version ${version}, and this function's shardflow reads up to version ${STATE_SCHEMA_VERSION}: ` +
        'a newer shardflow wrote it — deploy the job with that shardflow (or a newer one); until then each batch fails and Lambda retries it, so the state is not misread',
    );
    this.name = 'StateSchemaTooNewError';
  }
}
