import { planJob, PlanError, type JobDefinition } from 'shardflow';

/** The PlanError a job fails with (fails the test if it plans). */
export function planErrorOf(definition: JobDefinition): PlanError {
  try {
    planJob(definition);
  } catch (e) {
    if (e instanceof PlanError) return e;
    throw e;
  }
  throw new Error('the job planned without error');
}
