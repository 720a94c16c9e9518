/**
 * A recursive-descent parser for shardflow's Flink SQL subset. It knows more of SQL than it accepts, so
 * that what the subset lacks (JOIN, ORDER BY, subqueries, OVER windows, …) is reported by name at the
 * place it was written, rather than as "unexpected token". See docs/sql.md for the grammar.
 */
import type { BinaryOp, ColumnDef, Expr, FromClause, JoinType, OrderKey, OverFrame, OverWindow, SelectItem, SelectQuery, Statement, TableOption, WindowSpec } from './ast';
import { tokenize, type Token } from './lexer';
import { substituteColumns } from './views';
import { parseDecimal } from './decimal';
import { NEEDS_CHAINED_STAGES, SqlProblems, sqlError, type SqlError, type SourcePosition } from './sql-error';
import { declaredDecimal, intervalMs, timestampMs, typeOf, type SqlType } from './types';

/** Words that end an expression or a clause: never taken as a column name or an implicit alias. */
const RESERVED = new Set([
  'ALL', 'AND', 'AS', 'BETWEEN', 'BY', 'CASE', 'CROSS', 'DISTINCT', 'ELSE', 'END', 'ESCAPE', 'EXCEPT', 'EXISTS', 'FETCH', 'FILTER',
  'FOR', 'FROM', 'FULL', 'GROUP', 'HAVING', 'IN', 'INNER', 'INTERSECT', 'INTERVAL', 'IS', 'JOIN', 'LATERAL', 'LEFT', 'LIKE', 'LIMIT',
  'MATCH_RECOGNIZE', 'MINUS', 'NATURAL', 'NOT', 'NULL', 'OFFSET', 'ON', 'OR', 'ORDER', 'OUTER', 'OVER', 'QUALIFY', 'RIGHT', 'SELECT',
  'THEN', 'UNION', 'USING', 'WHEN', 'WHERE', 'WINDOW', 'WITH', 'TABLE', 'TRUE', 'FALSE', 'VALUES', 'TO',
]);

const JOIN_WORDS = new Set(['JOIN', 'INNER', 'LEFT', 'RIGHT', 'FULL', 'CROSS', 'NATURAL']);
const SET_OPERATIONS = new Set(['UNION', 'INTERSECT', 'EXCEPT', 'MINUS']);
const AGGREGATE_HINT = 'supported: COUNT, SUM, MIN, MAX, AVG and the window functions';
/** Ranking functions: with OVER in a subquery filtered on the rank, Flink's Top-N and deduplication. */
const RANKING = new Set(['ROW_NUMBER', 'RANK', 'DENSE_RANK']);
const TOP_N_HINT = 'write Top-N as Flink does: SELECT … FROM (SELECT *, ROW_NUMBER() OVER (PARTITION BY … ORDER BY … DESC) AS rn FROM …) WHERE rn <= N';
/** The aggregates an OVER window takes (Flink's streaming OVER aggregation). */
const OVER_AGGREGATES = new Set(['COUNT', 'SUM', 'MIN', 'MAX', 'AVG']);
const FRAME_END_HINT = 'a streaming OVER aggregation emits each row once the watermark passes it, as Flink does: end the frame at CURRENT ROW';

/**
 * Parses a whole SQL script: CREATE TABLE, CREATE VIEW, SET and INSERT INTO statements separated by
 * semicolons. Every problem is reported, not only the first: a statement that does not parse is skipped
 * to its semicolon, and an unsupported construct is noted and read past where its shape is known.
 */
export function parseSql(text: string): Statement[] {
  const p = new Parser(text);
  const statements: Statement[] = [];
  for (;;) {
    while (p.acceptOp(';'));
    if (p.peek().kind === 'eof') break;
    const statement = p.problems.attempt(() => p.statement(), undefined);
    if (statement) statements.push(statement);
    if (!statement || (p.peek().kind !== 'eof' && !p.problems.attempt(() => p.expectOp(';', 'between statements'), undefined))) p.skipStatement();
  }
  p.problems.check();
  return statements;
}

/** Parses one expression (the Table API's `where('clicks > 0')`). */
export function parseExpression(text: string): Expr {
  const p = new Parser(text);
  const e = p.expression();
  p.expectEnd();
  p.problems.check();
  return e;
}

/** Parses a select list (`'userId, SUM(clicks) AS clicks'`), for the Table API's `select(...)`. */
export function parseSelectItems(text: string): SelectItem[] {
  const p = new Parser(text);
  const items = p.selectItems();
  p.expectEnd();
  p.problems.check();
  return items;
}

/** A token's position alone (the AST keeps positions, not tokens). */
const at = (t: SourcePosition): SourcePosition => ({ line: t.line, column: t.column });

const describe = (t: Token): string =>
  t.kind === 'eof' ? 'the end of the text' : t.kind === 'string' ? `'${t.text}'` : t.kind === 'quoted' ? `\`${t.text}\`` : `'${t.text}'`;

class Parser {
  private readonly tokens: Token[];
  private i = 0;
  /** Problems noted while parsing on (unsupported constructs whose extent is known), and statements that failed. */
  readonly problems = new SqlProblems();

  constructor(text: string) {
    this.tokens = tokenize(text);
  }

  // ——— tokens ———

  peek(ahead = 0): Token {
    return this.tokens[Math.min(this.i + ahead, this.tokens.length - 1)]!;
  }
  private next(): Token {
    const t = this.peek();
    if (t.kind !== 'eof') this.i += 1;
    return t;
  }
  private isWord(word: string, ahead = 0): boolean {
    const t = this.peek(ahead);
    return t.kind === 'ident' && t.upper === word;
  }
  private acceptWord(...words: string[]): boolean {
    if (!words.every((w, k) => this.isWord(w, k))) return false;
    this.i += words.length;
    return true;
  }
  private expectWord(word: string, context: string): Token {
    const t = this.peek();
    if (!this.isWord(word)) throw this.error(`expected ${word} ${context}, found ${describe(t)}`, t);
    return this.next();
  }
  private isOp(op: string, ahead = 0): boolean {
    const t = this.peek(ahead);
    return t.kind === 'op' && t.text === op;
  }
  acceptOp(op: string): boolean {
    if (!this.isOp(op)) return false;
    this.i += 1;
    return true;
  }
  expectOp(op: string, context: string): Token {
    const t = this.peek();
    if (!this.isOp(op)) throw this.error(`expected '${op}' ${context}, found ${describe(t)}`, t);
    return this.next();
  }
  expectEnd(): void {
    const t = this.peek();
    if (t.kind !== 'eof') {
      this.rejectClauseWord(t);
      throw this.error(`unexpected ${describe(t)}`, t);
    }
  }
  private error(problem: string, at: SourcePosition): SqlError {
    return sqlError(problem, at);
  }
  private unsupported(construct: string, at: SourcePosition, hint?: string): SqlError {
    return sqlError(`${construct} is not supported${hint ? ` — ${hint}` : ''}`, at);
  }
  /** Something Flink runs that shardflow will: named as such, with the reason. */
  private notYet(construct: string, at: SourcePosition, hint = NEEDS_CHAINED_STAGES): SqlError {
    return sqlError(`${construct} is not supported yet — ${hint}`, at);
  }
  /** Skips to the end of the statement (after a problem that stops it). */
  skipStatement(): void {
    let depth = 0;
    for (let t = this.peek(); t.kind !== 'eof'; t = this.peek()) {
      if (t.kind === 'op' && t.text === ';' && depth <= 0) return;
      if (t.kind === 'op' && t.text === '(') depth += 1;
      if (t.kind === 'op' && t.text === ')') depth -= 1;
      this.i += 1;
    }
  }
  /** Skips a parenthesised group, the next token being its '(' (an OVER window, a join condition in parentheses). */
  private skipGroup(): void {
    let depth = 0;
    do {
      const t = this.next();
      if (t.kind === 'eof') return;
      if (t.kind === 'op' && t.text === '(') depth += 1;
      if (t.kind === 'op' && t.text === ')') depth -= 1;
    } while (depth > 0);
  }
  /** A name: an identifier that is not a keyword, or a `quoted` one. */
  private name(what: string): { name: string; pos: SourcePosition } {
    const t = this.peek();
    if (t.kind === 'quoted' || (t.kind === 'ident' && !RESERVED.has(t.upper))) {
      this.next();
      return { name: t.text, pos: at(t) };
    }
    throw this.error(`expected ${what}, found ${describe(t)}`, t);
  }

  // ——— statements ———

  statement(): Statement {
    const t = this.peek();
    if (t.kind !== 'ident') throw this.error(`expected a statement (CREATE TABLE, CREATE VIEW, SET or INSERT INTO), found ${describe(t)}`, t);
    switch (t.upper) {
      case 'CREATE':
        if (this.isWord('VIEW', 1) || (this.isWord('TEMPORARY', 1) && this.isWord('VIEW', 2))) return this.createView();
        if (this.isWord('FUNCTION', 1) || (this.isWord('TEMPORARY', 1) && this.isWord('FUNCTION', 2)) || (this.isWord('TEMPORARY', 1) && this.isWord('SYSTEM', 2))) {
          return this.createFunction();
        }
        return this.createTable();
      case 'SET':
        return this.set();
      case 'INSERT':
        return this.insert();
      case 'SELECT':
        throw this.error('a job writes its results to a table: write INSERT INTO <sink table> SELECT …', t);
      case 'WITH':
        throw this.error('a job writes its results to a table: write INSERT INTO <sink table> WITH … SELECT …', t);
      case 'BEGIN':
      case 'EXECUTE':
        throw this.unsupported('STATEMENT SET', t, 'one INSERT per job: write a job per query');
      default:
        throw this.unsupported(`${t.upper} statement`, t, 'a job is CREATE TABLE, SET and one INSERT INTO');
    }
  }

  /** CREATE [TEMPORARY [SYSTEM]] FUNCTION [IF NOT EXISTS] name AS 'module': a scalar function in TypeScript. */
  private createFunction(): Statement {
    const start = this.next();
    this.acceptWord('TEMPORARY');
    this.acceptWord('SYSTEM');
    this.expectWord('FUNCTION', 'after CREATE');
    if (this.acceptWord('IF')) {
      this.expectWord('NOT', 'in IF NOT EXISTS');
      this.expectWord('EXISTS', 'in IF NOT EXISTS');
    }
    const { name } = this.name('a function name');
    this.expectWord('AS', `after CREATE FUNCTION ${name}`);
    const module = this.peek();
    if (module.kind !== 'string') throw this.error(`expected the function's module in quotes after AS, as in CREATE FUNCTION ${name} AS './${name}.ts', found ${describe(module)}`, module);
    this.next();
    if (this.isWord('LANGUAGE')) {
      const language = this.peek(1);
      throw this.unsupported(`LANGUAGE ${language.upper || describe(language)}`, this.peek(), `a function is a TypeScript (or JavaScript) module: CREATE FUNCTION ${name} AS './${name}.ts'`);
    }
    return { kind: 'createFunction', name, module: module.text, pos: at(start), modulePos: at(module) };
  }

  /** CREATE [TEMPORARY] VIEW [IF NOT EXISTS] name AS SELECT …: a named query, inlined where it is read. */
  private createView(): Statement {
    const start = this.next();
    this.acceptWord('TEMPORARY');
    this.next();
    if (this.acceptWord('IF')) {
      this.expectWord('NOT', 'in IF NOT EXISTS');
      this.expectWord('EXISTS', 'in IF NOT EXISTS');
    }
    const { name } = this.tableName();
    if (this.isOp('(')) throw this.unsupported('a view column list', this.peek(), 'name the columns with AS in the SELECT');
    this.expectWord('AS', `after CREATE VIEW ${name}`);
    const selectToken = this.peek();
    if (!this.isWord('SELECT')) throw this.error(`expected SELECT after CREATE VIEW ${name} AS, found ${describe(selectToken)}`, selectToken);
    const query = this.selectBody();
    this.endOfQuery();
    return { kind: 'createView', name, query, pos: at(start) };
  }

  private set(): Statement {
    const start = this.next();
    const key = this.peek();
    if (key.kind !== 'string') throw this.error(`expected a quoted key after SET, as in SET 'pipeline.name' = 'my-job'`, key);
    this.next();
    this.expectOp('=', `after SET '${key.text}'`);
    const value = this.peek();
    if (value.kind !== 'string') throw this.error(`expected a quoted value for SET '${key.text}'`, value);
    this.next();
    return { kind: 'set', key: key.text, value: value.text, pos: at(start) };
  }

  private createTable(): Statement {
    const start = this.next();
    this.acceptWord('TEMPORARY');
    const what = this.peek();
    if (!this.isWord('TABLE')) {
      throw this.unsupported(`CREATE ${what.kind === 'ident' ? what.upper : describe(what)}`, what, 'declare tables with CREATE TABLE');
    }
    this.next();
    if (this.acceptWord('IF')) {
      this.expectWord('NOT', 'in IF NOT EXISTS');
      this.expectWord('EXISTS', 'in IF NOT EXISTS');
    }
    const { name } = this.tableName();
    const columns: ColumnDef[] = [];
    let watermark: Extract<Statement, { kind: 'createTable' }>['watermark'];
    if (this.acceptOp('(')) {
      do {
        const t = this.peek();
        if (this.isWord('WATERMARK')) {
          if (watermark) throw this.error('a table has one WATERMARK', t);
          watermark = this.watermark();
        } else if (this.isWord('PRIMARY') || this.isWord('CONSTRAINT') || this.isWord('UNIQUE')) {
          throw this.unsupported('PRIMARY KEY', t, 'results are keyed by the GROUP BY key and the window start');
        } else {
          columns.push(this.columnDef());
        }
      } while (this.acceptOp(','));
      this.expectOp(')', `to close the columns of ${name}`);
    }
    const after = this.peek();
    if (this.isWord('COMMENT')) {
      this.next();
      if (this.peek().kind === 'string') this.next();
    }
    if (this.isWord('PARTITIONED')) throw this.unsupported('PARTITIONED BY', after, 'a Kinesis table is partitioned by its records’ partition keys');
    if (this.isWord('LIKE')) throw this.unsupported('CREATE TABLE … LIKE', this.peek(), 'declare the columns');
    if (this.isWord('AS')) throw this.unsupported('CREATE TABLE … AS SELECT', this.peek(), 'declare the sink table, then INSERT INTO it');
    const withToken = this.peek();
    if (!this.isWord('WITH')) throw this.error(`expected WITH ('connector' = 'kinesis' | 'dynamodb', …) after the columns of ${name}, found ${describe(withToken)}`, withToken);
    this.next();
    this.expectOp('(', 'after WITH');
    const options: TableOption[] = [];
    do {
      const key = this.peek();
      if (key.kind !== 'string') throw this.error(`expected a quoted option name, as in 'connector' = 'kinesis', found ${describe(key)}`, key);
      this.next();
      this.expectOp('=', `after '${key.text}'`);
      const value = this.peek();
      if (value.kind !== 'string') throw this.error(`expected a quoted value for '${key.text}', found ${describe(value)}`, value);
      this.next();
      options.push({ key: key.text, value: value.text, pos: at(key) });
    } while (this.acceptOp(','));
    this.expectOp(')', 'to close WITH (…)');
    return { kind: 'createTable', name, columns, watermark, options, pos: at(start) };
  }

  private tableName(): { name: string; pos: SourcePosition } {
    const n = this.name('a table name');
    if (this.isOp('.')) throw this.unsupported('a qualified table name (catalog.database.table)', this.peek(), 'name the table alone');
    return n;
  }

  private columnDef(): ColumnDef {
    const { name, pos } = this.name('a column name');
    if (this.isWord('AS')) throw this.unsupported('a computed column', this.peek(), 'TIMESTAMP(3) columns read epoch ms and ISO-8601 strings as they are');
    const typeToken = this.peek();
    if (typeToken.kind !== 'ident') throw this.error(`expected the type of column ${name}, found ${describe(typeToken)}`, typeToken);
    this.next();
    const type = typeOf(typeToken.upper);
    if (!type) {
      throw this.unsupported(`type ${typeToken.upper}`, typeToken, 'use STRING, VARCHAR, INT, BIGINT, DOUBLE, DECIMAL, BOOLEAN or TIMESTAMP(3)');
    }
    const { declared, decimal } = this.typeRest(typeToken);
    let notNull = false;
    if (this.acceptWord('NOT', 'NULL')) notNull = true;
    else this.acceptWord('NULL');
    if (this.isWord('METADATA')) throw this.unsupported('a METADATA column', this.peek(), 'read fields from the JSON record');
    if (this.isWord('PRIMARY')) throw this.unsupported('PRIMARY KEY', this.peek(), 'results are keyed by the GROUP BY key and the window start');
    if (this.isWord('COMMENT')) {
      this.next();
      if (this.peek().kind === 'string') this.next();
    }
    return { name, type, declared, notNull, decimal, pos };
  }

  /** A type's parameters and suffixes after its name: DECIMAL(23, 3), VARCHAR(20), TIMESTAMP(3) WITHOUT TIME ZONE. */
  private typeRest(typeToken: Token): { declared: string; decimal: ReturnType<typeof declaredDecimal> } {
    let declared = typeToken.upper;
    if (typeToken.upper === 'DOUBLE') this.acceptWord('PRECISION');
    const params: string[] = [];
    if (this.acceptOp('(')) {
      do {
        const n = this.peek();
        if (n.kind !== 'number') throw this.error(`expected a number in ${typeToken.upper}(…), found ${describe(n)}`, n);
        params.push(this.next().text);
      } while (this.acceptOp(','));
      this.expectOp(')', `to close ${typeToken.upper}(…)`);
      declared += `(${params.join(', ')})`;
    }
    const decimal = declaredDecimal(typeToken.upper, params.map(Number));
    if (typeOf(typeToken.upper) === 'DECIMAL' && !decimal) throw this.error(`${declared} is not a decimal type: write DECIMAL(p, s) with 1 ≤ p ≤ 38 and 0 ≤ s ≤ p`, typeToken);
    if (this.acceptWord('WITHOUT', 'TIME', 'ZONE')) declared += ' WITHOUT TIME ZONE';
    else if (this.acceptWord('WITH', 'LOCAL', 'TIME', 'ZONE')) declared += ' WITH LOCAL TIME ZONE';
    return { declared, decimal };
  }

  /** WATERMARK FOR ts AS ts [- INTERVAL 'n' UNIT]: bounded out-of-orderness, the only strategy here. */
  private watermark(): { column: string; delayMs: number; pos: SourcePosition } {
    const start = this.next();
    this.expectWord('FOR', 'in WATERMARK FOR column AS column - INTERVAL …');
    const { name: column } = this.name('the event-time column after WATERMARK FOR');
    this.expectWord('AS', `in WATERMARK FOR ${column} AS ${column} - INTERVAL …`);
    const exprStart = this.peek();
    const e = this.expression();
    const shape = `WATERMARK FOR ${column} AS ${column} - INTERVAL 'n' SECOND (or AS ${column})`;
    if (e.kind === 'column' && e.name === column) return { column, delayMs: 0, pos: at(start) };
    if (e.kind === 'binary' && e.op === '-' && e.left.kind === 'column' && e.left.name === column && e.right.kind === 'interval') {
      return { column, delayMs: e.right.ms, pos: at(start) };
    }
    throw this.unsupported('this watermark strategy', exprStart, `write ${shape}`);
  }

  private insert(): Statement {
    const start = this.next();
    if (this.isWord('OVERWRITE')) throw this.unsupported('INSERT OVERWRITE', this.peek(), 'write INSERT INTO');
    this.expectWord('INTO', 'after INSERT');
    const { name } = this.tableName();
    if (this.isOp('(')) throw this.unsupported('an INSERT column list', this.peek(), "the SELECT's columns fill the sink table's columns in order");
    const ctes = this.isWord('WITH') ? this.commonTableExpressions() : [];
    const selectToken = this.peek();
    if (this.isWord('VALUES')) throw this.unsupported('INSERT … VALUES', selectToken, 'push events to the source stream instead');
    if (!this.isWord('SELECT')) throw this.error(`expected SELECT after INSERT INTO ${name}${ctes.length > 0 ? ' WITH …' : ''}, found ${describe(selectToken)}`, selectToken);
    const query = this.selectBody();
    const unionAll: SelectQuery[] = [];
    while (this.isWord('UNION')) {
      const union = this.next();
      if (!this.acceptWord('ALL')) throw this.unsupported('UNION without ALL', union, 'UNION ALL keeps every row; to drop duplicates, SELECT DISTINCT … FROM (… UNION ALL …) is not supported yet either');
      const selectToken = this.peek();
      if (!this.isWord('SELECT')) throw this.error(`expected SELECT after UNION ALL, found ${describe(selectToken)}`, selectToken);
      unionAll.push(this.selectBody());
    }
    this.endOfQuery();
    return { kind: 'insert', table: name, query, ...(unionAll.length > 0 && { unionAll }), ...(ctes.length > 0 && { ctes }), pos: at(start) };
  }

  /** WITH name AS (SELECT …) [, …]: named queries the INSERT's query reads, as views (each may read those before it). */
  private commonTableExpressions(): { name: string; query: SelectQuery; pos: SourcePosition }[] {
    this.next();
    if (this.isWord('RECURSIVE')) throw this.unsupported('WITH RECURSIVE', this.peek(), 'a stream query is not recursive');
    const ctes: { name: string; query: SelectQuery; pos: SourcePosition }[] = [];
    do {
      const { name, pos } = this.name('a name for the query after WITH');
      if (this.isOp('(')) throw this.unsupported('a column list in WITH', this.peek(), `name the columns with AS in the SELECT: WITH ${name} AS (SELECT a AS x, …)`);
      this.expectWord('AS', `after WITH ${name}`);
      this.expectOp('(', `after WITH ${name} AS`);
      const selectToken = this.peek();
      if (!this.isWord('SELECT')) throw this.error(`expected SELECT in WITH ${name} AS (…), found ${describe(selectToken)}`, selectToken);
      const query = this.selectBody();
      this.expectOp(')', `to close WITH ${name} AS (…)`);
      ctes.push({ name, query, pos });
    } while (this.acceptOp(','));
    return ctes;
  }

  // ——— queries ———

  /** SELECT … FROM … [WHERE …] [GROUP BY …] [HAVING …], up to where the query ends. */
  private selectBody(): SelectQuery {
    const start = this.next();
    const distinct = this.acceptWord('DISTINCT');
    if (!distinct) this.acceptWord('ALL');
    const items = this.selectItems();
    this.expectWord('FROM', 'after the select list');
    const from = this.from();
    let where: Expr | undefined;
    if (this.acceptWord('WHERE')) where = this.expression();
    const groupBy: Expr[] = [];
    if (this.isWord('GROUP')) {
      this.next();
      this.expectWord('BY', 'after GROUP');
      for (const word of ['ROLLUP', 'CUBE', 'GROUPING']) {
        if (this.isWord(word)) throw this.unsupported(word === 'GROUPING' ? 'GROUPING SETS' : word, this.peek(), 'group by columns and one window');
      }
      do {
        if (this.isOp('(') && (this.isOp(')', 1) || this.isOp(',', 2))) throw this.unsupported('a grouping set', this.peek(), 'group by columns and one window');
        groupBy.push(this.expression());
      } while (this.acceptOp(','));
    }
    let having: Expr | undefined;
    if (this.acceptWord('HAVING')) having = this.expression();
    const windows = this.isWord('WINDOW') ? this.windowClause() : new Map<string, OverWindow>();
    return { items: this.withNamedWindows(items, windows), from, where, groupBy, having, ...(distinct && { distinct }), pos: at(start) };
  }

  /** WINDOW w AS (PARTITION BY … ORDER BY … [frame]), …: the OVER windows the select list names. */
  private windowClause(): Map<string, OverWindow> {
    const word = this.next();
    const windows = new Map<string, OverWindow>();
    do {
      const name = this.name('a window name in WINDOW');
      if (windows.has(name.name)) throw this.error(`the window ${name.name} is defined twice in WINDOW`, name.pos);
      this.expectWord('AS', `after WINDOW ${name.name}`);
      const open = this.peek();
      const { partitionBy, orderBy, frame } = this.overSpecification(word, 'aggregate');
      windows.set(name.name, { partitionBy, orderBy, frame: frame ?? { unit: 'RANGE', pos: at(open) }, pos: at(open) });
    } while (this.acceptOp(','));
    return windows;
  }

  /** The select list with each `OVER w` given w's definition; a name WINDOW does not define is a problem, noted. */
  private withNamedWindows(items: SelectItem[], windows: ReadonlyMap<string, OverWindow>): SelectItem[] {
    const resolve = (call: Extract<Expr, { kind: 'call' }>): Extract<Expr, { kind: 'call' }> | undefined => {
      const name = call.over?.name;
      if (name === undefined) return undefined;
      const window = windows.get(name);
      if (window) return { ...call, over: window };
      const defined = [...windows.keys()];
      this.problems.add(sqlError(`unknown window ${name} in OVER ${name} — ${defined.length > 0 ? `WINDOW defines ${defined.join(', ')}` : `define it after the query: WINDOW ${name} AS (PARTITION BY … ORDER BY …)`}`, call.over!.pos ?? call.pos));
      return { ...call, over: undefined };
    };
    return items.map((i) => ({ ...i, expr: substituteColumns(i.expr, (c) => c, resolve) }));
  }

  /** After a statement's query: its end, or a clause the subset lacks (named). */
  private endOfQuery(): void {
    const t = this.peek();
    if (t.kind !== 'eof' && !this.isOp(';')) {
      this.rejectClauseWord(t);
      throw this.error(`unexpected ${describe(t)} after the query`, t);
    }
  }

  /** Names a clause the subset lacks when the query continues with one. */
  private rejectClauseWord(t: Token): void {
    if (t.kind !== 'ident') return;
    if (t.upper === 'ORDER') throw this.unsupported('ORDER BY', t, 'a stream has no end to sort at; sort the results table when you read it');
    if (t.upper === 'LIMIT' || t.upper === 'FETCH' || t.upper === 'OFFSET') throw this.unsupported(t.upper, t, 'a streaming query has no end to count to');
    if (SET_OPERATIONS.has(t.upper)) throw this.unsupported(t.upper, t, 'write one query per job');
    if (JOIN_WORDS.has(t.upper)) throw this.error(`${t.upper} is out of place: joins are written in FROM, before WHERE`, t);
    if (t.upper === 'QUALIFY') throw this.unsupported('QUALIFY', t, TOP_N_HINT);
    if (t.upper === 'WHERE' || t.upper === 'GROUP' || t.upper === 'HAVING') throw this.error(`${t.upper} is out of place: the order is SELECT … FROM … WHERE … GROUP BY … HAVING …`, t);
  }

  /** The select list: expressions with aliases, `*` and `t.*`. */
  selectItems(): SelectItem[] {
    const items: SelectItem[] = [];
    do {
      const start = this.peek();
      if (this.acceptOp('*')) {
        items.push({ expr: { kind: 'star', pos: at(start) }, pos: at(start) });
        continue;
      }
      const expr = this.expression();
      let alias: string | undefined;
      if (expr.kind !== 'star') {
        if (this.acceptWord('AS')) alias = this.name('a column alias after AS').name;
        else if (this.peek().kind === 'quoted' || (this.peek().kind === 'ident' && !RESERVED.has(this.peek().upper))) alias = this.name('a column alias').name;
      }
      items.push({ expr, alias, pos: at(start) });
    } while (this.acceptOp(','));
    return items;
  }

  /** A table, a window table function or a derived table (SELECT …), with its alias, and the joins after it (left-deep). */
  private from(): FromClause {
    let from = this.fromItem();
    for (;;) {
      const t = this.peek();
      if (this.isWord('MATCH_RECOGNIZE')) throw this.unsupported('MATCH_RECOGNIZE', t);
      if (this.acceptOp(',')) {
        from = { kind: 'join', type: 'INNER', left: from, right: this.fromItem(), comma: true, pos: at(t) };
        continue;
      }
      if (!(t.kind === 'ident' && JOIN_WORDS.has(t.upper))) return from;
      if (t.upper === 'NATURAL') throw this.unsupported('NATURAL JOIN', t, 'name the columns: JOIN … ON a.k = b.k');
      const type: JoinType = t.upper === 'JOIN' ? 'INNER' : (t.upper as JoinType);
      if (t.upper !== 'JOIN') this.next();
      if (type !== 'INNER' && type !== 'CROSS') this.acceptWord('OUTER');
      this.expectWord('JOIN', `after ${t.upper}`);
      const right = this.fromItem();
      if (this.isWord('USING')) throw this.unsupported('JOIN … USING', this.peek(), 'write the condition: JOIN … ON a.k = b.k');
      const on = type !== 'CROSS' && this.acceptWord('ON') ? this.expression() : undefined;
      if (!on && type !== 'CROSS') throw this.error(`expected ON after ${t.upper === 'JOIN' ? 'JOIN' : `${t.upper} JOIN`} …, found ${describe(this.peek())}`, this.peek());
      from = { kind: 'join', type, left: from, right, on, comma: false, pos: at(t) };
    }
  }

  private fromItem(): FromClause {
    const t = this.peek();
    if (this.isWord('LATERAL') || this.isWord('UNNEST')) throw this.unsupported(t.upper, t, 'a job reads one table');
    if (this.isOp('(')) {
      if (this.isWord('WITH', 1)) throw this.unsupported('WITH in a subquery', this.peek(1), 'write WITH once, after INSERT INTO <sink table>, or declare the query with CREATE VIEW');
      if (!this.isWord('SELECT', 1)) throw this.error(`expected a table name or (SELECT …) after FROM, found '('`, t);
      this.next();
      const query = this.selectBody();
      const close = this.peek();
      if (!this.isOp(')')) {
        this.rejectClauseWord(close);
        throw this.error(`expected ')' to close the subquery, found ${describe(close)}`, close);
      }
      this.next();
      return { kind: 'subquery', query, alias: this.tableAlias(), pos: at(t) };
    }
    if (this.isWord('TABLE') && this.isOp('(', 1)) return this.windowTvf();
    const { name, pos } = this.tableName();
    let asOf: Expr | undefined;
    if (this.acceptWord('FOR')) {
      this.expectWord('SYSTEM_TIME', 'after FOR (FOR SYSTEM_TIME AS OF …)');
      this.expectWord('AS', 'after FOR SYSTEM_TIME');
      this.expectWord('OF', 'after FOR SYSTEM_TIME AS');
      asOf = this.additive();
    }
    return { kind: 'table', name, alias: this.tableAlias(), asOf, pos };
  }

  private tableAlias(): string | undefined {
    if (this.acceptWord('AS')) return this.name('a table alias after AS').name;
    const t = this.peek();
    if (t.kind === 'quoted' || (t.kind === 'ident' && !RESERVED.has(t.upper) && !['MATCH_RECOGNIZE', 'FOR'].includes(t.upper))) return this.name('a table alias').name;
    return undefined;
  }

  /** FROM TABLE(TUMBLE(TABLE src, DESCRIPTOR(ts), INTERVAL '5' SECOND)), and HOP / CUMULATE / SESSION. */
  private windowTvf(): FromClause {
    const start = this.next();
    this.expectOp('(', 'after TABLE');
    const fnToken = this.peek();
    if (fnToken.kind !== 'ident' || !this.isOp('(', 1)) throw this.error(`expected a window function (TUMBLE, HOP, CUMULATE or SESSION) in TABLE(…), found ${describe(fnToken)}`, fnToken);
    const fn = fnToken.upper;
    if (fn !== 'TUMBLE' && fn !== 'HOP' && fn !== 'CUMULATE' && fn !== 'SESSION') throw this.unsupported(`the table function ${fn}`, fnToken, 'use TUMBLE, HOP, CUMULATE or SESSION');
    this.next();
    this.next();
    if (this.peek(1).kind === 'op' && this.peek(1).text === '=>') throw this.unsupported('a named argument', this.peek(), `write ${fn}(TABLE src, DESCRIPTOR(ts), INTERVAL …)`);
    const tableWord = this.peek();
    if (!this.isWord('TABLE')) {
      if (this.isOp('(')) throw this.unsupported('a subquery', tableWord, 'pass TABLE <source table>');
      throw this.error(`expected TABLE <source table> as the first argument of ${fn}, found ${describe(tableWord)}`, tableWord);
    }
    this.next();
    const { name: table } = this.tableName();
    const partitionBy: string[] = [];
    if (this.isWord('PARTITION')) {
      const p = this.next();
      if (fn !== 'SESSION') throw this.error(`PARTITION BY belongs to SESSION windows, not ${fn}`, p);
      this.expectWord('BY', 'after PARTITION');
      // One column, or several in parentheses: PARTITION BY (a, b), as Flink writes it.
      if (this.acceptOp('(')) {
        do partitionBy.push(this.name('a column in PARTITION BY (…)').name);
        while (this.acceptOp(','));
        this.expectOp(')', 'to close PARTITION BY (…)');
      } else {
        partitionBy.push(this.name('a column after PARTITION BY').name);
      }
    }
    this.expectOp(',', `after TABLE ${table}`);
    const descriptorToken = this.peek();
    if (!this.isWord('DESCRIPTOR')) throw this.error(`expected DESCRIPTOR(<time column>) as the second argument of ${fn}, found ${describe(descriptorToken)}`, descriptorToken);
    this.next();
    this.expectOp('(', 'after DESCRIPTOR');
    const time = this.name('the time column in DESCRIPTOR(…)');
    this.expectOp(')', 'to close DESCRIPTOR(…)');
    const intervals: { ms: number; pos: SourcePosition }[] = [];
    while (this.acceptOp(',')) {
      const argToken = this.peek();
      const e = this.expression();
      if (e.kind !== 'interval') throw this.error(`expected an INTERVAL in ${fn}(…), found ${describe(argToken)}`, argToken);
      intervals.push({ ms: e.ms, pos: at(argToken) });
    }
    const close = this.expectOp(')', `to close ${fn}(…)`);
    const twoIntervals = fn === 'HOP' || fn === 'CUMULATE';
    const wanted = twoIntervals ? 2 : 1;
    if (intervals.length > wanted) throw this.unsupported(`a window offset`, intervals[wanted]!.pos, 'windows are aligned to the epoch');
    if (intervals.length < wanted) {
      const needs =
        fn === 'HOP'
          ? 'HOP needs a slide and a size: HOP(TABLE src, DESCRIPTOR(ts), INTERVAL slide, INTERVAL size)'
          : fn === 'CUMULATE'
            ? 'CUMULATE needs a step and a size: CUMULATE(TABLE src, DESCRIPTOR(ts), INTERVAL step, INTERVAL size)'
            : `${fn} needs an INTERVAL ${fn === 'SESSION' ? 'gap' : 'size'}`;
      throw this.error(needs, close);
    }
    this.expectOp(')', 'to close TABLE(…)');
    const alias = this.tableAlias();
    const window: WindowSpec = {
      kind: fn,
      timeColumn: time.name,
      timePos: time.pos,
      sizeMs: twoIntervals ? intervals[1]!.ms : fn === 'TUMBLE' ? intervals[0]!.ms : 0,
      slideMs: twoIntervals ? intervals[0]!.ms : 0,
      gapMs: fn === 'SESSION' ? intervals[0]!.ms : 0,
      partitionBy,
      pos: at(fnToken),
    };
    return { kind: 'windowTvf', table, window, alias, pos: at(start) };
  }

  // ——— expressions, lowest precedence first ———

  expression(): Expr {
    return this.or();
  }

  private or(): Expr {
    let left = this.and();
    while (this.isWord('OR')) {
      const t = this.next();
      left = { kind: 'binary', op: 'OR', left, right: this.and(), pos: at(t) };
    }
    return left;
  }

  private and(): Expr {
    let left = this.not();
    while (this.isWord('AND')) {
      const t = this.next();
      left = { kind: 'binary', op: 'AND', left, right: this.not(), pos: at(t) };
    }
    return left;
  }

  private not(): Expr {
    if (this.isWord('NOT')) {
      const t = this.next();
      return { kind: 'unary', op: 'NOT', operand: this.not(), pos: at(t) };
    }
    return this.comparison();
  }

  private comparison(): Expr {
    const left = this.additive();
    const t = this.peek();
    if (t.kind === 'op' && ['=', '<>', '!=', '<', '<=', '>', '>='].includes(t.text)) {
      this.next();
      if ((this.isWord('ANY') || this.isWord('ALL') || this.isWord('SOME')) && this.isOp('(', 1)) throw this.unsupported(`${this.peek().upper} (a subquery comparison)`, this.peek());
      const op = (t.text === '!=' ? '<>' : t.text) as BinaryOp;
      return { kind: 'binary', op, left, right: this.additive(), pos: at(t) };
    }
    if (this.isWord('IS')) {
      this.next();
      const negated = this.acceptWord('NOT');
      if (this.acceptWord('NULL')) return { kind: 'isNull', negated, value: left, pos: at(t) };
      const what = this.peek();
      if (this.isWord('TRUE') || this.isWord('FALSE') || this.isWord('UNKNOWN')) {
        this.next();
        if (what.upper === 'UNKNOWN') return { kind: 'isNull', negated, value: left, pos: at(t) };
        const test: Expr = { kind: 'binary', op: '=', left, right: { kind: 'literal', type: 'BOOLEAN', value: what.upper === 'TRUE', pos: at(what) }, pos: at(t) };
        // x IS TRUE is never NULL: false when x is NULL.
        const isTrue: Expr = { kind: 'binary', op: 'AND', left: { kind: 'isNull', negated: true, value: left, pos: at(t) }, right: test, pos: at(t) };
        return negated ? { kind: 'unary', op: 'NOT', operand: isTrue, pos: at(t) } : isTrue;
      }
      if (this.isWord('DISTINCT')) throw this.unsupported('IS DISTINCT FROM', what, 'use = with IS NULL checks');
      throw this.error(`expected NULL, TRUE or FALSE after IS, found ${describe(what)}`, what);
    }
    const negated = this.isWord('NOT') && ['LIKE', 'IN', 'BETWEEN', 'SIMILAR'].includes(this.peek(1).upper);
    if (negated) this.next();
    const op = this.peek();
    if (this.acceptWord('LIKE')) {
      const pattern = this.additive();
      const escape = this.acceptWord('ESCAPE') ? this.additive() : undefined;
      return { kind: 'like', negated, value: left, pattern, escape, pos: at(op) };
    }
    if (this.acceptWord('IN')) {
      this.expectOp('(', 'after IN');
      if (this.isWord('SELECT')) throw this.unsupported('a subquery', this.peek(), 'list the values: IN (1, 2, 3)');
      const list: Expr[] = [];
      do list.push(this.expression());
      while (this.acceptOp(','));
      this.expectOp(')', 'to close IN (…)');
      return { kind: 'in', negated, value: left, list, pos: at(op) };
    }
    if (this.acceptWord('BETWEEN')) {
      if (this.isWord('SYMMETRIC') || this.isWord('ASYMMETRIC')) throw this.unsupported(`BETWEEN ${this.peek().upper}`, this.peek());
      const low = this.additive();
      this.expectWord('AND', 'in BETWEEN … AND …');
      return { kind: 'between', negated, value: left, low, high: this.additive(), pos: at(op) };
    }
    if (this.isWord('SIMILAR')) throw this.unsupported('SIMILAR TO', op, 'use LIKE');
    return left;
  }

  private additive(): Expr {
    let left = this.multiplicative();
    for (;;) {
      const t = this.peek();
      if (t.kind !== 'op' || !['+', '-', '||'].includes(t.text)) return left;
      this.next();
      left = { kind: 'binary', op: t.text as BinaryOp, left, right: this.multiplicative(), pos: at(t) };
    }
  }

  private multiplicative(): Expr {
    let left = this.unary();
    for (;;) {
      const t = this.peek();
      if (t.kind !== 'op' || !['*', '/', '%'].includes(t.text)) return left;
      this.next();
      left = { kind: 'binary', op: t.text as BinaryOp, left, right: this.unary(), pos: at(t) };
    }
  }

  private unary(): Expr {
    const t = this.peek();
    if (this.acceptOp('-')) {
      const operand = this.unary();
      if (operand.kind === 'literal' && (typeof operand.value === 'number' || typeof operand.value === 'bigint')) return { ...operand, value: -operand.value, pos: at(t) };
      return { kind: 'unary', op: '-', operand, pos: at(t) };
    }
    if (this.acceptOp('+')) return this.unary();
    return this.primary();
  }

  private primary(): Expr {
    const t = this.peek();
    switch (t.kind) {
      case 'number': {
        this.next();
        if (/^\d+$/.test(t.text)) return { kind: 'literal', type: 'INT', value: Number(t.text), pos: at(t) };
        // 0.908 is DECIMAL(3, 3), as in Flink; 1e3 is a DOUBLE.
        if (/[eE]/.test(t.text)) return { kind: 'literal', type: 'DOUBLE', value: Number(t.text), pos: at(t) };
        const fraction = t.text.split('.')[1] ?? '';
        const unscaled = parseDecimal(t.text, fraction.length)!;
        const digits = String(unscaled).replace(/^0+/, '').length;
        return { kind: 'literal', type: 'DECIMAL', value: unscaled, decimal: { precision: Math.max(digits, fraction.length, 1), scale: fraction.length }, pos: at(t) };
      }
      case 'string':
        this.next();
        return { kind: 'literal', type: 'STRING', value: t.text, pos: at(t) };
      case 'quoted':
        this.next();
        return this.columnRest(t.text, t);
      case 'op':
        if (t.text === '(') {
          this.next();
          if (this.isWord('SELECT') || this.isWord('WITH')) throw this.unsupported('a subquery', this.peek(), 'a job reads one table directly');
          const inner = this.expression();
          if (this.isOp(',')) throw this.unsupported('a row value (a, b)', this.peek());
          this.expectOp(')', 'to close (…)');
          return inner;
        }
        if (t.text === '*') throw this.error("'*' is only allowed alone (SELECT *) or in COUNT(*)", t);
        throw this.error(`expected an expression, found ${describe(t)}`, t);
      case 'eof':
        throw this.error('expected an expression, found the end of the text', t);
      case 'ident':
        return this.word(t);
    }
  }

  private word(t: Token): Expr {
    switch (t.upper) {
      case 'TRUE':
      case 'FALSE':
        this.next();
        return { kind: 'literal', type: 'BOOLEAN', value: t.upper === 'TRUE', pos: at(t) };
      case 'NULL':
        this.next();
        return { kind: 'literal', type: 'NULL', value: null, pos: at(t) };
      case 'INTERVAL':
        return this.interval();
      case 'CASE':
        return this.caseExpression(t);
      case 'CAST':
      case 'TRY_CAST':
        if (this.isOp('(', 1)) return this.cast(t);
        break;
      case 'EXTRACT':
      case 'TRIM':
      case 'SUBSTRING':
      case 'SUBSTR':
        if (this.isOp('(', 1)) return this.specialCall(t);
        break;
      case 'CURRENT_TIMESTAMP':
      case 'LOCALTIMESTAMP':
        if (this.isOp('(', 1)) break;
        this.next();
        return { kind: 'call', name: t.upper, args: [], distinct: false, star: false, pos: at(t) };
      case 'EXISTS':
        throw this.unsupported('EXISTS (a subquery)', t);
      case 'ARRAY':
      case 'MAP':
      case 'ROW':
        throw this.unsupported(`an ${t.upper} value`, t);
      case 'DATE':
      case 'TIME':
        if (this.peek(1).kind === 'string') throw this.unsupported(`a ${t.upper} literal`, t, "use TIMESTAMP '2024-01-01 00:00:00'");
        break;
      case 'TIMESTAMP': {
        const lit = this.peek(1);
        if (lit.kind !== 'string') break;
        this.next();
        this.next();
        const ms = timestampMs(lit.text);
        if (ms === undefined || /^\d+$/.test(lit.text)) throw this.error(`'${lit.text}' is not a timestamp: write TIMESTAMP '2024-01-01 12:00:00.000'`, lit);
        return { kind: 'literal', type: 'TIMESTAMP', value: ms, pos: at(t) };
      }
    }
    if (this.isOp('(', 1)) return this.call(t);
    if (RESERVED.has(t.upper)) {
      if (JOIN_WORDS.has(t.upper) || t.upper === 'ORDER' || t.upper === 'LIMIT') this.rejectClauseWord(t);
      throw this.error(`expected an expression, found the keyword ${t.upper}`, t);
    }
    this.next();
    return this.columnRest(t.text, t);
  }

  /** `name`, `qualifier.name` or `qualifier.*`. */
  private columnRest(first: string, t: SourcePosition): Expr {
    if (!this.acceptOp('.')) return { kind: 'column', name: first, pos: at(t) };
    if (this.acceptOp('*')) return { kind: 'star', qualifier: first, pos: at(t) };
    const { name } = this.name(`a column name after ${first}.`);
    if (this.isOp('.')) throw this.unsupported('nested field access', this.peek());
    return { kind: 'column', name, qualifier: first, pos: at(t) };
  }

  private call(t: Token): Expr {
    this.next();
    this.next();
    let distinct = false;
    let star = false;
    const args: Expr[] = [];
    if (this.acceptWord('DISTINCT')) distinct = true;
    else this.acceptWord('ALL');
    if (this.isOp('*')) {
      this.next();
      star = true;
    } else if (!this.isOp(')')) {
      if (this.isWord('TABLE')) throw this.error(`TABLE ${t.upper}(…) belongs in FROM TABLE(${t.upper}(TABLE …, DESCRIPTOR(…), …))`, this.peek());
      do args.push(this.expression());
      while (this.acceptOp(','));
    }
    this.expectOp(')', `to close ${t.upper}(…)`);
    const after = this.peek();
    if (this.isWord('OVER') && RANKING.has(t.upper) && this.isOp('(', 1)) {
      if (args.length > 0 || distinct || star) throw this.error(`${t.upper}() takes no arguments`, t);
      this.next();
      const { partitionBy, orderBy } = this.overSpecification(t, 'ranking');
      return { kind: 'over', fn: t.upper, partitionBy, orderBy, pos: at(t) };
    }
    let filter: Expr | undefined;
    if (this.isWord('FILTER') && this.isOp('(', 1)) {
      this.next();
      this.next();
      this.expectWord('WHERE', `in ${t.upper}(…) FILTER (WHERE …)`);
      filter = this.expression();
      this.expectOp(')', 'to close FILTER (WHERE …)');
    }
    const over = this.isWord('OVER') ? this.overAggregateWindow(t) : undefined;
    if (this.isWord('WITHIN')) throw this.unsupported('WITHIN GROUP', after, AGGREGATE_HINT);
    return { kind: 'call', name: t.upper, args, distinct, star, filter, ...(over && { over }), pos: at(t) };
  }

  /**
   * The window of `fn(…) OVER (…)`, the next word being OVER: an aggregate's, with its frame. A named window,
   * or OVER on another function, is noted and read past (the call is then returned without it).
   */
  private overAggregateWindow(fn: Token): OverWindow | undefined {
    const over = this.next();
    const call = RANKING.has(fn.upper) ? `${fn.upper}()` : `${fn.upper}(…)`;
    if (!this.isOp('(') && OVER_AGGREGATES.has(fn.upper)) {
      const name = this.name(`a window's name after OVER (or its definition: OVER (PARTITION BY … ORDER BY …))`);
      return { name: name.name, partitionBy: [], orderBy: [], frame: { unit: 'RANGE', pos: at(over) }, pos: name.pos };
    }
    if (!this.isOp('(')) {
      this.problems.add(this.unsupported(`${call} OVER a named window`, over, `write the window in place: ${call} OVER (PARTITION BY … ORDER BY …)`));
      this.next();
      return undefined;
    }
    if (!OVER_AGGREGATES.has(fn.upper)) {
      this.problems.add(this.unsupported(`${call} OVER (…)`, fn, 'an OVER window takes the aggregates COUNT, SUM, MIN, MAX and AVG'));
      this.skipGroup();
      return undefined;
    }
    const { partitionBy, orderBy, frame } = this.overSpecification(fn, 'aggregate');
    return { partitionBy, orderBy, frame: frame ?? { unit: 'RANGE', pos: at(over) }, pos: at(over) };
  }

  /**
   * ([PARTITION BY e, …] [ORDER BY e [ASC | DESC] [NULLS FIRST | LAST], …] [frame]) after OVER. A ranking
   * function numbers the whole partition: it takes no frame.
   */
  private overSpecification(fn: Token, use: 'ranking' | 'aggregate'): { partitionBy: Expr[]; orderBy: OrderKey[]; frame: OverFrame | undefined } {
    this.expectOp('(', 'after OVER');
    const partitionBy: Expr[] = [];
    if (this.acceptWord('PARTITION')) {
      this.expectWord('BY', 'after PARTITION');
      do partitionBy.push(this.expression());
      while (this.acceptOp(','));
    }
    const orderBy: OrderKey[] = [];
    if (this.acceptWord('ORDER')) {
      this.expectWord('BY', 'after ORDER');
      do {
        const expr = this.expression();
        const descending = this.acceptWord('DESC');
        if (!descending) this.acceptWord('ASC');
        // NULL sorts lowest by default (Flink's, and sqlite's): first going up, last going down.
        let nullsFirst = !descending;
        if (this.acceptWord('NULLS')) {
          if (this.acceptWord('FIRST')) nullsFirst = true;
          else if (this.acceptWord('LAST')) nullsFirst = false;
          else throw this.error(`expected FIRST or LAST after NULLS, found ${describe(this.peek())}`, this.peek());
        }
        orderBy.push({ expr, descending, nullsFirst });
      } while (this.acceptOp(','));
    }
    const frameToken = this.peek();
    if (use === 'ranking' && (this.isWord('ROWS') || this.isWord('RANGE'))) {
      throw this.unsupported(`a ${frameToken.upper} frame with ${fn.upper}()`, frameToken, `a ranking function numbers the whole partition: write ${fn.upper}() OVER (PARTITION BY … ORDER BY …)`);
    }
    const frame = this.frame();
    this.expectOp(')', `to close ${use === 'ranking' ? `${fn.upper}()` : `${fn.upper}(…)`} OVER (…)`);
    return { partitionBy, orderBy, frame };
  }

  /** ROWS | RANGE [BETWEEN] start [AND CURRENT ROW], where start is UNBOUNDED PRECEDING, n PRECEDING (ROWS), INTERVAL … PRECEDING (RANGE) or CURRENT ROW. */
  private frame(): OverFrame | undefined {
    const unitToken = this.peek();
    if (!this.isWord('ROWS') && !this.isWord('RANGE')) return undefined;
    this.next();
    const unit = unitToken.upper as OverFrame['unit'];
    const between = this.acceptWord('BETWEEN');
    const preceding = this.frameStart(unit);
    if (between) {
      this.expectWord('AND', `in ${unit} BETWEEN … AND CURRENT ROW`);
      const end = this.peek();
      if (!this.acceptWord('CURRENT', 'ROW')) {
        // n FOLLOWING, UNBOUNDED FOLLOWING, INTERVAL 'n' UNIT FOLLOWING
        if ([1, 3].some((ahead) => this.isWord('FOLLOWING', ahead))) throw this.unsupported('a frame that ends after the current row (FOLLOWING)', end, FRAME_END_HINT);
        throw this.error(`expected CURRENT ROW after ${unit} BETWEEN … AND, found ${describe(end)} — ${FRAME_END_HINT}`, end);
      }
    }
    return { unit, preceding, pos: at(unitToken) };
  }

  /** Where a frame starts: rows (ROWS) or milliseconds (RANGE) before the current row; undefined for UNBOUNDED PRECEDING. */
  private frameStart(unit: OverFrame['unit']): number | undefined {
    const t = this.peek();
    const preceding = (amount: number | undefined): number | undefined => {
      if (this.isWord('FOLLOWING')) throw this.unsupported(`${unit} … FOLLOWING`, this.peek(), FRAME_END_HINT);
      this.expectWord('PRECEDING', `in ${unit} BETWEEN … PRECEDING AND CURRENT ROW`);
      return amount;
    };
    if (this.acceptWord('UNBOUNDED')) return preceding(undefined);
    if (this.acceptWord('CURRENT', 'ROW')) return 0;
    if (unit === 'ROWS') {
      if (t.kind !== 'number' || !/^\d+$/.test(t.text)) throw this.error(`expected a number of rows in ROWS BETWEEN n PRECEDING AND CURRENT ROW, found ${describe(t)}`, t);
      this.next();
      return preceding(Number(t.text));
    }
    if (t.kind === 'number') throw this.unsupported(`RANGE BETWEEN ${t.text} PRECEDING`, t, "the rows are ordered by their time: write RANGE BETWEEN INTERVAL '10' SECOND PRECEDING AND CURRENT ROW");
    if (!this.isWord('INTERVAL')) throw this.error(`expected UNBOUNDED, INTERVAL … or CURRENT ROW after RANGE BETWEEN, found ${describe(t)}`, t);
    const interval = this.interval();
    if (interval.kind !== 'interval' || interval.ms < 0) throw this.error(`a frame reaches back a positive interval: write RANGE BETWEEN INTERVAL '10' SECOND PRECEDING AND CURRENT ROW`, t);
    return preceding(interval.ms);
  }

  /** CASE [operand] WHEN … THEN … [ELSE …] END. */
  private caseExpression(t: Token): Expr {
    this.next();
    const operand = this.isWord('WHEN') ? undefined : this.expression();
    const whens: { when: Expr; then: Expr }[] = [];
    while (this.acceptWord('WHEN')) {
      const when = this.expression();
      this.expectWord('THEN', 'after CASE … WHEN …');
      whens.push({ when, then: this.expression() });
    }
    if (whens.length === 0) throw this.error(`expected WHEN in CASE, found ${describe(this.peek())}`, this.peek());
    const otherwise = this.acceptWord('ELSE') ? this.expression() : undefined;
    this.expectWord('END', 'to close CASE … WHEN … THEN …');
    return { kind: 'case', operand, whens, otherwise, pos: at(t) };
  }

  /** CAST(value AS type), TRY_CAST(value AS type). */
  private cast(t: Token): Expr {
    this.next();
    this.next();
    const value = this.expression();
    this.expectWord('AS', `in ${t.upper}(value AS type)`);
    const typeToken = this.peek();
    if (typeToken.kind !== 'ident') throw this.error(`expected a type after AS in ${t.upper}(…), found ${describe(typeToken)}`, typeToken);
    this.next();
    const type: SqlType | undefined = typeOf(typeToken.upper);
    if (!type) throw this.unsupported(`${t.upper} to ${typeToken.upper}`, typeToken, 'cast to STRING, INT, BIGINT, DOUBLE, DECIMAL(p, s), BOOLEAN or TIMESTAMP(3)');
    const { declared, decimal } = this.typeRest(typeToken);
    if (!this.acceptWord('NOT', 'NULL')) this.acceptWord('NULL');
    this.expectOp(')', `to close ${t.upper}(…)`);
    return { kind: 'cast', value, type, declared, decimal, safe: t.upper === 'TRY_CAST', pos: at(t) };
  }

  /**
   * The functions SQL gives keywords inside the parentheses, as calls: EXTRACT(unit FROM t) is
   * EXTRACT('unit', t); TRIM([BOTH | LEADING | TRAILING] [chars] FROM s) is TRIM(s, chars, 'mode');
   * SUBSTRING(s FROM start [FOR length]) is SUBSTRING(s, start[, length]).
   */
  private specialCall(t: Token): Expr {
    const name = t.upper === 'SUBSTR' ? 'SUBSTRING' : t.upper;
    const text = (value: string, pos: SourcePosition): Expr => ({ kind: 'literal', type: 'STRING', value, pos: at(pos) });
    const call = (args: Expr[]): Expr => ({ kind: 'call', name, args, distinct: false, star: false, pos: at(t) });
    if (name === 'EXTRACT') {
      this.next();
      this.next();
      const unit = this.peek();
      if (unit.kind !== 'ident') throw this.error(`expected a unit in EXTRACT(unit FROM …) (YEAR, MONTH, DAY, HOUR, MINUTE, SECOND…), found ${describe(unit)}`, unit);
      this.next();
      this.expectWord('FROM', `in EXTRACT(${unit.upper} FROM …)`);
      const value = this.expression();
      this.expectOp(')', 'to close EXTRACT(…)');
      return call([text(unit.upper, unit), value]);
    }
    if (name === 'TRIM') {
      this.next();
      this.next();
      const modeToken = this.peek();
      const mode = ['BOTH', 'LEADING', 'TRAILING'].includes(modeToken.upper) && modeToken.kind === 'ident' ? this.next().upper : 'BOTH';
      let chars: Expr = text(' ', modeToken);
      let value: Expr;
      if (this.acceptWord('FROM')) value = this.expression();
      else {
        value = this.expression();
        if (this.acceptWord('FROM')) {
          chars = value;
          value = this.expression();
        }
      }
      this.expectOp(')', 'to close TRIM(…)');
      return call([value, chars, text(mode, modeToken)]);
    }
    // SUBSTRING: the keyword form, or an ordinary call.
    const afterValue = this.i + 2;
    this.next();
    this.next();
    const value = this.expression();
    if (!this.acceptWord('FROM')) {
      this.i = afterValue - 2;
      return this.call(t);
    }
    const args = [value, this.expression()];
    if (this.acceptWord('FOR')) args.push(this.expression());
    this.expectOp(')', 'to close SUBSTRING(…)');
    return call(args);
  }

  /** INTERVAL '5' SECOND, INTERVAL '10' MINUTES, INTERVAL '0.5' SECOND. */
  private interval(): Expr {
    const start = this.next();
    const negative = this.acceptOp('-');
    const amountToken = this.peek();
    if (amountToken.kind !== 'string' && amountToken.kind !== 'number') throw this.error(`expected a quoted amount after INTERVAL, as in INTERVAL '5' SECOND, found ${describe(amountToken)}`, amountToken);
    this.next();
    const unit = this.peek();
    if (unit.kind !== 'ident') throw this.error(`expected a unit (SECOND, MINUTE, HOUR, DAY) after INTERVAL '${amountToken.text}', found ${describe(unit)}`, unit);
    this.next();
    if (this.isWord('TO')) throw this.unsupported(`INTERVAL … ${unit.upper} TO …`, this.peek(), "write one unit: INTERVAL '90' SECOND");
    if (this.isOp('(')) throw this.unsupported('an interval precision', this.peek(), `write INTERVAL '${amountToken.text}' ${unit.upper}`);
    const amount = /^\s*\d+(?:\.\d+)?\s*$/.test(amountToken.text) ? Number(amountToken.text) : Number.NaN;
    if (!Number.isFinite(amount)) throw this.error(`'${amountToken.text}' is not an interval amount: write a number, as in INTERVAL '5' SECOND`, amountToken);
    const ms = intervalMs(amount, unit.upper);
    if (ms === undefined) throw this.unsupported(`the interval unit ${unit.upper}`, unit, 'use SECOND, MINUTE, HOUR or DAY');
    return { kind: 'interval', ms: negative ? -ms : ms, text: `INTERVAL '${amountToken.text}' ${unit.upper}`, pos: at(start) };
  }
}
