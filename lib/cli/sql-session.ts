/**
 * What `shardflow sql` remembers between statements, as Flink's SQL client does: the CREATE TABLE, CREATE
 * VIEW and SET statements so far, and how a SELECT, INSERT or EXPLAIN becomes a job over them. No I/O:
 * lib/cli/sql.ts reads the terminal and runs the jobs.
 */
import { describePlan } from '../plan/describe';
import { changelogOf, describeChangelog } from '../sql/changelog';
import { planJob } from '../plan/planner';
import type { JobDefinition } from '../api/graph';
import type { Statement } from '../sql/ast';
import { compileSql } from '../sql/compile';
import { parseSql } from '../sql/parser';
import { SqlError } from '../sql/sql-error';

/** The table a bare SELECT's rows are written to, so that they can be shown as they change. */
export const RESULTS_TABLE = 'sql_client_results';
const RESULTS_DDL = `CREATE TABLE ${RESULTS_TABLE} WITH ('connector' = 'dynamodb', 'table-name' = 'sql-client-results');`;

/** What the user typed, classified by its first words. */
export type ClientStatement =
  | { readonly kind: 'ddl'; readonly text: string }
  | { readonly kind: 'select' | 'insert'; readonly text: string }
  | { readonly kind: 'explain'; readonly text: string; readonly query: string }
  | { readonly kind: 'showTables' | 'help' | 'quit' }
  | { readonly kind: 'unknown'; readonly text: string };

/** A statement the client cannot take: one line per problem, positions inside the statement as typed. */
export class SqlClientError extends Error {
  constructor(readonly lines: readonly string[]) {
    super(lines.join('\n'));
    this.name = 'SqlClientError';
  }
}

/**
 * Splits typed text into complete statements (each ended by a `;` outside quotes and comments) and what
 * is left over, still being typed.
 */
export function splitStatements(text: string): { statements: string[]; rest: string } {
  const statements: string[] = [];
  let start = 0;
  let i = 0;
  while (i < text.length) {
    const c = text[i]!;
    const pair = text.slice(i, i + 2);
    if (c === "'" || c === '`' || c === '"') {
      // '' inside a string is a quote: the loop closes and reopens it.
      const end = text.indexOf(c, i + 1);
      i = end === -1 ? text.length : end + 1;
    } else if (pair === '--') {
      const end = text.indexOf('\n', i);
      i = end === -1 ? text.length : end + 1;
    } else if (pair === '/*') {
      const end = text.indexOf('*/', i + 2);
      i = end === -1 ? text.length : end + 2;
    } else if (c === ';') {
      const statement = text.slice(start, i).trim();
      if (statement) statements.push(statement);
      start = ++i;
    } else i++;
  }
  return { statements, rest: text.slice(start) };
}

/** The statement's kind, by its first words (comments skipped). */
export function classify(text: string): ClientStatement {
  const words = text.replace(/--[^\n]*|\/\*[\s\S]*?\*\//g, ' ').trim();
  const [first = '', second = ''] = words.split(/\s+/, 2).map((w) => w.toUpperCase());
  if (['QUIT', 'EXIT'].includes(first)) return { kind: 'quit' };
  if (first === 'HELP') return { kind: 'help' };
  if (first === 'SHOW' && second === 'TABLES') return { kind: 'showTables' };
  if (first === 'CREATE' || first === 'SET') return { kind: 'ddl', text };
  if (first === 'SELECT' || first === 'INSERT') return { kind: first === 'SELECT' ? 'select' : 'insert', text };
  if (first === 'EXPLAIN') {
    // EXPLAIN [PLAN FOR] query: the rest of the statement, from where its first word starts.
    const query = text.replace(/^[\s\S]*?\bEXPLAIN\s+(?:PLAN\s+FOR\s+)?/i, '');
    return { kind: 'explain', text, query };
  }
  return { kind: 'unknown', text };
}

export const HELP = `statements end with ';' and may span lines:
  CREATE TABLE name (…) WITH (…);   CREATE VIEW name AS SELECT …;   SET 'key' = 'value';
                       remembered for the statements after them (SHOW TABLES; lists them)
  SELECT …;            runs on the embedded runtime; its rows are shown as they change; Ctrl-C stops it
  INSERT INTO t SELECT …;   runs the job; rows of a dynamodb table t are shown as they change
  EXPLAIN SELECT …;    the stages, streams and tables it runs as (shardflow plan)
  QUIT;                leaves`;

/** The statements so far, and the jobs made of them. */
export class SqlSession {
  private readonly declared: { readonly text: string; readonly statement: Statement }[] = [];

  /** Takes a CREATE or SET statement (after checking it parses and names nothing twice); says what it did. */
  declare(text: string): string {
    const statements = this.parse(text);
    if (statements.length !== 1) throw new SqlClientError([`one statement at a time: this is ${statements.length}`]);
    const statement = statements[0]!;
    if (statement.kind === 'insert') throw new SqlClientError(['INSERT runs as a query: type it on its own']);
    if (statement.kind === 'createTable' || statement.kind === 'createView') {
      const clash = this.declared.find((d) => 'name' in d.statement && d.statement.name === statement.name);
      if (clash) throw new SqlClientError([`${statement.name} is declared already (${firstLine(clash.text)}) — choose another name`]);
    }
    this.declared.push({ text, statement });
    if (statement.kind === 'set') return `set '${statement.key}' = '${statement.value}'`;
    return `${statement.kind === 'createTable' ? 'table' : 'view'} ${statement.name} created`;
  }

  /** The tables and views declared so far, in order. */
  tables(): string[] {
    return this.declared.flatMap((d) => (d.statement.kind === 'createTable' || d.statement.kind === 'createView' ? [d.statement.name] : []));
  }

  /** A SELECT or INSERT as a job script: the declarations, then the query (a SELECT writes to RESULTS_TABLE). */
  script(query: string): { text: string; queryLine: number } {
    const head = [...this.declared.map((d) => `${d.text};`), ...(classify(query).kind === 'select' ? [RESULTS_DDL, `INSERT INTO ${RESULTS_TABLE}`] : [])].join('\n');
    return { text: `${head}\n${query}`, queryLine: lineCount(head) + 1 };
  }

  /** The query compiled over the declarations; a SqlError's positions are re-told inside the statement they are in. */
  compile(query: string): JobDefinition {
    const { text, queryLine } = this.script(query);
    try {
      return compileSql(text);
    } catch (e) {
      if (!(e instanceof SqlError)) throw e;
      throw new SqlClientError(e.problems.map((p) => this.locate(p, queryLine)));
    }
  }

  /** What `shardflow plan` prints for the query's job. */
  explain(query: string): string {
    // As `shardflow plan` prints it: the stages, then what the query writes (append-only, or updating by a key).
    const definition = this.compile(query);
    const changelog = changelogOf(definition);
    return `${describePlan(planJob(definition))}${changelog ? `\n${describeChangelog(changelog)}` : ''}`;
  }

  private parse(text: string): Statement[] {
    try {
      return parseSql(text);
    } catch (e) {
      if (!(e instanceof SqlError)) throw e;
      throw new SqlClientError(e.problems.map((p) => (p.line > 0 ? `line ${p.line}, column ${p.column}: ${p.problem}` : p.problem)));
    }
  }

  /** A problem's line in the composed script, told as a line of the query or of the declaration it is in. */
  private locate(p: { problem: string; line: number; column: number }, queryLine: number): string {
    if (p.line <= 0) return p.problem;
    if (p.line >= queryLine) return `line ${p.line - queryLine + 1}, column ${p.column}: ${p.problem}`;
    let line = 1;
    for (const d of this.declared) {
      const lines = lineCount(d.text);
      if (p.line < line + lines) return `in ${firstLine(d.text)} (declared earlier), line ${p.line - line + 1}, column ${p.column}: ${p.problem}`;
      line += lines;
    }
    return p.problem;
  }
}

const lineCount = (text: string): number => text.split('\n').length;
const firstLine = (text: string): string => {
  const line = text.trim().split('\n')[0]!.trim();
  return line.length > 80 ? `${line.slice(0, 79)}…` : line;
};
