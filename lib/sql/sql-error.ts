/** Where something is in SQL text: 1-based line and column. */
export interface SourcePosition {
  readonly line: number;
  readonly column: number;
}

/** One problem in SQL text: what is wrong and what to write instead, at a line and column (0 when unknown). */
export interface SqlProblem {
  readonly problem: string;
  readonly line: number;
  readonly column: number;
}

/** Why a construct Flink runs is refused for now: the SQL compiler does not yet chain keyed stages for it. */
export const NEEDS_CHAINED_STAGES = 'it needs keyed stages chained after one another, which the SQL compiler does not build for it yet';

const located = (p: SqlProblem, file: string | undefined): string =>
  p.line > 0 ? `${file ? `${file}, ` : ''}line ${p.line}, column ${p.column}: ${p.problem}` : `${file ?? 'SQL'}: ${p.problem}`;

/**
 * A SQL job that cannot be compiled: syntax errors, unsupported constructs, unknown columns, type
 * mismatches — every one found, in the order they are written, one per line naming the construct and
 * where it is, then what to do:
 * `examples/q.sql, line 4, column 3: JOIN is not supported yet — …`.
 * `problem`, `line` and `column` are the first one's; `problems` has them all.
 */
export class SqlError extends Error {
  readonly problems: readonly SqlProblem[];

  constructor(
    readonly problem: string,
    readonly line: number,
    readonly column: number,
    /** The file (or Table API call) the text came from, when known. */
    readonly file?: string,
    more: readonly SqlProblem[] = [],
  ) {
    const problems = [{ problem, line, column }, ...more];
    super(problems.map((p) => located(p, file)).join('\n'));
    this.problems = problems;
    this.name = 'SqlError';
  }

  /** The same error, naming the file the text came from. */
  inFile(file: string): SqlError {
    return new SqlError(this.problem, this.line, this.column, file, this.problems.slice(1));
  }

  /** Several errors as one, by position (the same problem at the same place once). */
  static of(errors: readonly SqlError[]): SqlError {
    const seen = new Set<string>();
    const problems = errors
      .flatMap((e) => e.problems)
      .filter((p) => {
        const key = `${p.line}:${p.column}:${p.problem}`;
        if (seen.has(key)) return false;
        seen.add(key);
        return true;
      })
      .sort((a, b) => a.line - b.line || a.column - b.column);
    const [first, ...more] = problems;
    return new SqlError(first!.problem, first!.line, first!.column, errors[0]!.file, more);
  }
}

/** An error at a position (or without one: Table API expressions built in code have none). */
export const sqlError = (problem: string, at: SourcePosition | undefined): SqlError => new SqlError(problem, at?.line ?? 0, at?.column ?? 0);

/**
 * Collects the SqlErrors of independent steps (statements, clauses, select items) so that one run reports
 * them all; `check()` throws them together.
 */
export class SqlProblems {
  private readonly errors: SqlError[] = [];

  /** Runs a step; its SqlError is kept and `fallback` returned instead. Other errors pass through. */
  attempt<T>(step: () => T, fallback: T): T {
    try {
      return step();
    } catch (e) {
      if (!(e instanceof SqlError)) throw e;
      this.errors.push(e);
      return fallback;
    }
  }

  add(error: SqlError): void {
    this.errors.push(error);
  }

  get any(): boolean {
    return this.errors.length > 0;
  }

  /** Throws every error kept, as one SqlError. */
  check(): void {
    if (this.errors.length > 0) throw SqlError.of(this.errors);
  }
}
