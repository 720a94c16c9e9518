/**
 * A job definition that cannot run, found at plan time. The message names the operator, the problem
 * and what to do: `window#3: sliding size 5000ms is not a multiple of slide 2000ms — pick a slide that divides the size`.
 */
export class PlanError extends Error {
  constructor(
    readonly operator: string,
    readonly problem: string,
    readonly hint: string,
  ) {
    super(`${operator}: ${problem} — ${hint}`);
    this.name = 'PlanError';
  }
}
