import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import * as readline from 'node:readline';
import { DevRuntime, PortInUseError } from '../local/dev-runtime';
import { ResultsWatcher } from '../local/results-watcher';
import { intFlag, parseArgs, UsageError } from './args';
import { dev } from './dev';
import { ResultTable, type RowChange } from './result-table';
import { classify, HELP, splitStatements, SqlClientError, SqlSession } from './sql-session';
import { clockTime } from './terminal';

/**
 * `shardflow sql [-f FILE.sql] [--port 4566]`: Flink's SQL client for shardflow. With `-f`, runs the script
 * on the embedded runtime as `shardflow dev FILE.sql --no-demo` does. Without, a prompt: CREATE TABLE,
 * CREATE VIEW and SET accumulate; EXPLAIN prints a query's stages; a SELECT (or INSERT) runs on the
 * embedded runtime with its rows shown as they change, until Ctrl-C; QUIT leaves.
 */
export async function sql(argv: readonly string[]): Promise<number> {
  const at = argv.findIndex((a) => a === '-f' || a === '--file');
  if (at >= 0) {
    const file = argv[at + 1];
    if (file === undefined || file.startsWith('-')) throw new UsageError('-f needs a script: shardflow sql -f examples/click-counts.sql');
    return dev([file, '--no-demo', ...argv.slice(0, at), ...argv.slice(at + 2)]);
  }
  const args = parseArgs(argv);
  if (args.positionals.length > 0) throw new UsageError(`sql takes a script with -f: shardflow sql -f ${args.positionals[0]}`);
  const port = intFlag(args, 'port', 4566, 65535);
  return new SqlClient(port).run();
}

/** Ctrl-C: stops the running query, or (at the prompt) leaves. */
type Interrupt = () => void;

class SqlClient {
  private readonly session = new SqlSession();
  private readonly interactive = Boolean(process.stdin.isTTY);
  private readonly rl = readline.createInterface({ input: process.stdin, output: process.stdout, terminal: this.interactive, prompt: 'shardflow sql> ' });
  private onInterrupt: Interrupt | undefined;
  private quit = false;

  constructor(private readonly port: number) {}

  async run(): Promise<number> {
    const interrupt = (): void => (this.onInterrupt ? this.onInterrupt() : this.rl.close());
    this.rl.on('SIGINT', interrupt); // a terminal: readline reads Ctrl-C as a key
    process.on('SIGINT', interrupt); // a pipe: Ctrl-C (or kill -INT) is a signal
    this.say(`shardflow sql — statements end with ';'. HELP; lists them, QUIT; leaves. Queries run on the embedded runtime (edge http://localhost:${this.port}).`);
    let typed = '';
    this.prompt();
    try {
      for await (const line of this.rl) {
        typed += `${line}\n`;
        const { statements, rest } = splitStatements(typed);
        typed = rest.trim() ? rest : '';
        for (const statement of statements) {
          await this.execute(statement);
          if (this.quit) return 0;
        }
        this.prompt(typed !== '');
      }
    } finally {
      process.off('SIGINT', interrupt);
      this.rl.close();
    }
    return 0;
  }

  private async execute(text: string): Promise<void> {
    const statement = classify(text);
    try {
      switch (statement.kind) {
        case 'quit':
          this.quit = true;
          return;
        case 'help':
          return this.say(HELP);
        case 'showTables':
          return this.say(this.session.tables().join('\n') || '[INFO] no tables yet: CREATE TABLE name (…) WITH (…);');
        case 'ddl':
          return this.say(`[INFO] ${this.session.declare(statement.text)}`);
        case 'explain':
          return this.say(this.session.explain(statement.query));
        case 'select':
        case 'insert':
          return await this.runQuery(statement.text);
        case 'unknown':
          throw new SqlClientError([`'${statement.text.split(/\s+/)[0]}' is not a statement the client runs — CREATE TABLE, CREATE VIEW, SET, SELECT, INSERT INTO, EXPLAIN, SHOW TABLES, HELP or QUIT`]);
      }
    } catch (e) {
      // The prompt outlives a bad statement, and a query that fails to start.
      if (e instanceof SqlClientError) for (const line of e.lines) this.say(`[ERROR] ${line}`);
      else if (e instanceof PortInUseError) this.say(`[ERROR] ${e.message.replace('--port <another>', 'shardflow sql --port <another>')}`);
      else this.say(`[ERROR] ${e instanceof Error ? e.message : String(e)}`);
    }
  }

  /** The query's job on a fresh embedded runtime, its rows shown as they change, until Ctrl-C. */
  private async runQuery(query: string): Promise<void> {
    this.session.compile(query); // its mistakes are told before anything starts
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'shardflow-sql-'));
    const jobFile = path.join(dir, 'query.sql');
    fs.writeFileSync(jobFile, this.session.script(query).text);
    const stopped = new Promise<void>((resolve) => (this.onInterrupt = () => resolve()));
    this.say('[INFO] starting the query on the embedded runtime (emulators, streams, tables, function bundles)…');
    const starting = DevRuntime.start({ jobFile, port: this.port });
    let runtime: DevRuntime | undefined;
    try {
      runtime = await Promise.race([starting, stopped.then(() => undefined)]);
      if (!runtime) {
        // Ctrl-C while starting: what has started is stopped once it is up.
        runtime = await starting.catch(() => undefined);
        return this.say('[INFO] query cancelled');
      }
      const plan = runtime.plan;
      const tables = plan.sinks.flatMap((s) => (s.kind === 'dynamodb' ? [s.table] : []));
      const sources = plan.stages[0]!.input.stream;
      this.say(`[INFO] running as job ${plan.job}: push records to stream ${sources} at ${runtime.edgeUrl} (shardflow push ${sources} --file records.jsonl); Ctrl-C stops the query`);
      if (tables.length === 0) this.say(`[INFO] its results go to ${plan.sinks.map((s) => s.name).join(', ')} (not a dynamodb table: nothing to show here)`);
      await this.showResults(runtime, tables, stopped);
    } finally {
      this.onInterrupt = undefined;
      await runtime?.stop();
      fs.rmSync(dir, { recursive: true, force: true });
    }
    this.say('[INFO] query stopped');
  }

  /** Polls the results tables and shows each change until `stopped`. */
  private async showResults(runtime: DevRuntime, tables: readonly string[], stopped: Promise<void>): Promise<void> {
    const watchers = tables.map((t) => new ResultsWatcher(runtime.ddb, t));
    const view = new ResultTable();
    const live = Boolean(process.stdout.isTTY);
    let drawn = 0;
    let done = false;
    void stopped.then(() => (done = true));
    while (!done) {
      for (const w of watchers) {
        let changes: RowChange[];
        try {
          changes = view.update(await w.poll());
        } catch (e) {
          if (!done) this.say(`[WARN] reading ${w.table}: ${(e as Error).message}`);
          continue;
        }
        if (live || changes.length === 0) continue;
        if (view.size === changes.filter((c) => c.op === '+I').length) this.say(view.headerLine()); // the first rows
        for (const c of changes) this.say(view.changeLine(c));
      }
      if (live) drawn = this.redraw(view, runtime, drawn);
      await Promise.race([stopped, new Promise((r) => setTimeout(r, 500))]);
    }
  }

  /** The table in place of the previous drawing; returns the lines drawn. */
  private redraw(view: ResultTable, runtime: DevRuntime, previous: number): number {
    const status = runtime.status();
    const keyed = [...status.stages].reverse().find((s) => s.watermarkMs !== undefined);
    const footer = `${view.size.toLocaleString('en-US')} rows · events in ${(status.stages[0]?.recordsIn ?? 0).toLocaleString('en-US')} · watermark ${clockTime(keyed?.watermarkMs)} · Ctrl-C stops the query`;
    const lines = view.size === 0 ? [`(no rows yet) ${footer}`] : view.render(process.stdout.columns || 120, process.stdout.rows || 30, footer);
    process.stdout.write(`${previous > 0 ? `\x1b[${previous}A` : ''}\r\x1b[J${lines.join('\n')}\n`);
    return lines.length;
  }

  private prompt(continuing = false): void {
    if (!this.interactive) return;
    this.rl.setPrompt(continuing ? '             > ' : 'shardflow sql> ');
    this.rl.prompt();
  }

  private say(text: string): void {
    process.stdout.write(`${text}\n`);
  }
}
