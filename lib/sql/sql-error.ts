/** Where something is in SQL text: 1-based line and column. */
export interface SourcePosition {
  readonly line: number;
  readonly column: number;
}

/**
 * A SQL job that cannot be compiled: a syntax error, an unsupported construct, an unknown column, a type
 * mismatch. The message is one line naming the construct and where it is, then what to do:
 * `examples/q.sql, line 4, column 3: JOIN is not supported — a job reads one table`.
 */
export class SqlError extends Error {
  constructor(
    readonly problem: string,
    readonly line: number,
    readonly column: number,
    /** The file (or Table API call) the text came from, when known. */
    readonly file?: string,
  ) {
    super(line > 0 ? `${file ? `${file}, ` : ''}line ${line}, column ${column}: ${problem}` : `${file ?? 'SQL'}: ${problem}`);
    this.name = 'SqlError';
  }

  /** The same error, naming the file the text came from. */
  inFile(file: string): SqlError {
    return new SqlError(this.problem, this.line, this.column, file);
  }
}

/** An error at a position (or without one: Table API expressions built in code have none). */
export const sqlError = (problem: string, at: SourcePosition | undefined): SqlError => new SqlError(problem, at?.line ?? 0, at?.column ?? 0);
