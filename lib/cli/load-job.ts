import * as fs from 'node:fs';
import * as path from 'node:path';
import { isJobDefinition, type JobDefinition } from '../api/graph';
import { compileSql } from '../sql/compile';

/** A job file that cannot be loaded: the message says which file and why. */
export class JobFileError extends Error {
  constructor(file: string, problem: string) {
    super(`${file}: ${problem}`);
    this.name = 'JobFileError';
  }
}

/**
 * Loads a job definition from a TypeScript or JavaScript file whose default export is `job(...)…sink(...)`,
 * or from a `.sql` file (CREATE TABLE …; INSERT INTO … SELECT …), compiled by lib/sql. A SQL mistake is a
 * SqlError naming the file, line and column.
 */
export function loadJob(file: string): JobDefinition {
  const full = path.resolve(file);
  if (!fs.existsSync(full)) throw new JobFileError(file, 'no such file');
  if (isSqlJob(full)) return compileSql(fs.readFileSync(full, 'utf8'), { file });
  let mod: { default?: unknown };
  // While the job loads, stack traces point at its source lines (bin/register.js compiles it with a source
  // map): that is where the builder records each operator was written. Only then: mapping costs.
  const sourceMaps = process.sourceMapsEnabled;
  process.setSourceMapsEnabled(true);
  try {
    mod = require(full) as { default?: unknown };
  } catch (e) {
    // A syntax error keeps its whole message (where, the line, what is expected); any other, its first line.
    const message = e instanceof SyntaxError ? `:\n${e.message}` : `: ${e instanceof Error ? e.message.split('\n')[0] : String(e)}`;
    throw new JobFileError(file, `it does not load${message}`);
  } finally {
    process.setSourceMapsEnabled(sourceMaps);
  }
  const candidate = mod.default ?? mod;
  if (!isJobDefinition(candidate)) {
    throw new JobFileError(file, "its default export is not a job: end it with `export default job('name')…sink(…)`");
  }
  return candidate;
}

/** Whether a job file is SQL (by its extension). */
export const isSqlJob = (file: string): boolean => path.extname(file).toLowerCase() === '.sql';
