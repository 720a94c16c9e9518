import { METRICS_NAMESPACE, readEmf, type DeadLetterSample, type LateRecordSample } from '../../io/metrics';

/** One metric of one stage, since the run started: what a CloudWatch chart would aggregate. */
export interface MetricFigure {
  /** Sum of every value (counts add up). */
  readonly sum: number;
  /** How many values (EMF lines) carried it. */
  readonly samples: number;
  readonly last: number;
  readonly max: number;
  /** Processing time of the last value. */
  readonly lastAtMs: number;
}

/** A late record or dead letter a function logged, with the stage and when. */
export type LoggedLate = LateRecordSample & { readonly stage: string; readonly atMs: number };
export type LoggedDeadLetter = DeadLetterSample & { readonly stage: string; readonly atMs: number };

const KEEP_LOGGED = 20;

/**
 * The functions' figures as CloudWatch would see them: reads every line the function workers write
 * (their stdout is the local CloudWatch Logs), keeps the EMF metrics per stage, and the late records
 * and dead letters the functions log by name. The local dashboard shows exactly what the handlers
 * emit, so a metric they stop emitting goes missing here too, not only on AWS.
 */
export class FunctionFigures {
  private readonly byStage = new Map<string, Map<string, MetricFigure>>();
  private readonly late: LoggedLate[] = [];
  private readonly deadLetters: LoggedDeadLetter[] = [];

  constructor(private readonly clock: () => number = Date.now) {}

  /** A worker's log line, with or without FunctionHost's `[function-name] ` prefix. */
  ingest(line: string): void {
    if (!line.includes('{"')) return;
    const emf = readEmf(line);
    if (emf) {
      const stage = emf.dimensions.stage;
      if (emf.namespace !== METRICS_NAMESPACE || !stage) return;
      let figures = this.byStage.get(stage);
      if (!figures) this.byStage.set(stage, (figures = new Map()));
      const atMs = emf.timestampMs || this.clock();
      for (const [name, value] of emf.values) {
        const f = figures.get(name);
        figures.set(name, { sum: (f?.sum ?? 0) + value, samples: (f?.samples ?? 0) + 1, last: value, max: Math.max(f?.max ?? value, value), lastAtMs: atMs });
      }
      return;
    }
    this.ingestLog(line);
  }

  /** The Powertools Logger's `late records` and `dead letters` warnings (see functions/operator.ts). */
  private ingestLog(line: string): void {
    if (!line.includes('"late records"') && !line.includes('"dead letters"')) return;
    let doc: { message?: unknown; stage?: unknown; sample?: unknown; timestamp?: unknown };
    try {
      doc = JSON.parse(line.slice(line.indexOf('{"'))) as typeof doc;
    } catch {
      return;
    }
    if (typeof doc.stage !== 'string' || !Array.isArray(doc.sample)) return;
    const atMs = typeof doc.timestamp === 'string' ? Date.parse(doc.timestamp) || this.clock() : this.clock();
    const into = doc.message === 'late records' ? this.late : doc.message === 'dead letters' ? this.deadLetters : undefined;
    if (!into) return;
    for (const s of doc.sample as Record<string, unknown>[]) (into as unknown as Record<string, unknown>[]).push({ ...s, stage: doc.stage, atMs });
    into.splice(0, Math.max(0, into.length - KEEP_LOGGED));
  }

  /** A stage's metrics by name (empty until its function has emitted). */
  stage(stage: string): Readonly<Record<string, MetricFigure>> {
    return Object.fromEntries(this.byStage.get(stage) ?? []);
  }

  /** The latest late records and dead letters the functions logged, newest first. */
  logged(): { readonly late: readonly LoggedLate[]; readonly deadLetters: readonly LoggedDeadLetter[] } {
    return { late: [...this.late].reverse(), deadLetters: [...this.deadLetters].reverse() };
  }
}
