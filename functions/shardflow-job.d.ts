/** The job a function bundle runs: esbuild aliases `shardflow-job` to the job file at bundle time. */
declare module 'shardflow-job' {
  import type { JobDefinition } from '../lib/api/graph';
  const job: JobDefinition;
  export default job;
}
