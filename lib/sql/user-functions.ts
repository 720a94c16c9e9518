/**
 * User functions (Flink's ScalarFunction, `CREATE FUNCTION name AS '…'`) written in TypeScript: a module
 * whose default export is `scalarFunction(returnType, fn)`. The path is resolved relative to the .sql file,
 * and the module is loaded where the SQL is compiled: by `shardflow plan` and `dev` from the file, and in a
 * deployed function from the bundle, which imports it (infra/bundle.ts passes it as `functions`).
 */
import * as path from 'node:path';
import type { CallExpr } from './expressions';
import { decimalToNumber } from './decimal';
import { sqlError, type SourcePosition } from './sql-error';
import { declaredDecimal, decodeValue, RowError, typeOf, type Column, type SqlValue } from './types';
import { decimalOf, type Compiled } from './values';

/** A JSON-like value a user function takes and returns: SQL values as JS values (DECIMAL as a number, TIMESTAMP as epoch ms). */
export type FunctionValue = string | number | boolean | null;

/** A scalar user function: its result's SQL type and the function. */
export interface ScalarFunction {
  readonly kind: 'shardflow-scalar-function';
  /** The SQL type of the result, as in CREATE TABLE: 'BIGINT', 'STRING', 'DECIMAL(10, 2)', 'TIMESTAMP(3)'. */
  readonly returns: string;
  readonly eval: (...args: FunctionValue[]) => FunctionValue | undefined;
}

/**
 * A scalar function for `CREATE FUNCTION name AS './module.ts'`: the module's default export. Arguments
 * arrive as JS values (NULL as null, DECIMAL as a number, TIMESTAMP as epoch ms); the result is read as
 * `returns` says (a value that does not fit sends the row to the dead letters, with the reason). A function
 * that throws does that too. It must be deterministic: a replayed batch calls it again.
 * @example
 * // count-char.ts: Nexmark's CountChar
 * export default scalarFunction('BIGINT', (text, char) => (typeof text === 'string' && typeof char === 'string' ? text.split(char).length - 1 : 0));
 */
export function scalarFunction(returns: string, fn: (...args: FunctionValue[]) => FunctionValue | undefined): ScalarFunction {
  return { kind: 'shardflow-scalar-function', returns, eval: fn };
}

const isScalarFunction = (value: unknown): value is ScalarFunction =>
  typeof value === 'object' && value !== null && (value as { kind?: unknown }).kind === 'shardflow-scalar-function';

/** A CREATE FUNCTION of the script: its name as written, its module, where it was written. */
export interface FunctionDeclaration {
  readonly name: string;
  readonly module: string;
  readonly pos: SourcePosition;
  readonly modulePos: SourcePosition;
}

/** Whether CREATE FUNCTION names a module (a relative or absolute path, or a script file), not a Java class. */
export const isModulePath = (module: string): boolean => /^(\.{1,2}[\\/]|\/)|\.(ts|js|mjs|cjs|mts|cts)$/.test(module);

/**
 * Each declared function by its upper-case name (calls are case-insensitive, as in Flink): from `given` (a
 * bundle's imports) or else loaded from its path relative to the .sql file.
 */
export function loadFunctions(declared: readonly FunctionDeclaration[], file: string | undefined, given: Readonly<Record<string, unknown>> = {}): Map<string, ScalarFunction> {
  const functions = new Map<string, ScalarFunction>();
  for (const d of declared) {
    if (!isModulePath(d.module)) {
      throw sqlError(`CREATE FUNCTION ${d.name} AS '${d.module}': a Java class cannot run here — write it in TypeScript and name its module: CREATE FUNCTION ${d.name} AS './${d.name}.ts' (docs/sql.md, "User functions")`, d.modulePos);
    }
    let exported = given[d.name];
    if (exported === undefined) {
      const full = path.resolve(file ? path.dirname(path.resolve(file)) : process.cwd(), d.module);
      try {
        exported = (require(full) as { default?: unknown }).default;
      } catch (e) {
        throw sqlError(`CREATE FUNCTION ${d.name}: ${full} does not load: ${e instanceof Error ? e.message.split('\n')[0] : String(e)}`, d.modulePos);
      }
    }
    if (!isScalarFunction(exported)) {
      throw sqlError(`CREATE FUNCTION ${d.name}: the default export of '${d.module}' is not a scalar function — export default scalarFunction('BIGINT', (…) => …) (from 'shardflow')`, d.modulePos);
    }
    const type = returnColumn(d.name, exported.returns);
    if (!type) throw sqlError(`CREATE FUNCTION ${d.name}: its result type '${exported.returns}' is not a SQL type here — use STRING, INT, BIGINT, DOUBLE, DECIMAL(p, s), BOOLEAN or TIMESTAMP(3)`, d.modulePos);
    functions.set(d.name.toUpperCase(), exported);
  }
  return functions;
}

/** The result type as a column, to read the function's values by. */
function returnColumn(name: string, returns: string): Column | undefined {
  const m = /^\s*(\w+)\s*(?:\(\s*(\d+)\s*(?:,\s*(\d+)\s*)?\))?\s*$/.exec(returns);
  const type = m && typeOf(m[1]!);
  if (!m || !type || type === 'INTERVAL' || type === 'NULL') return undefined;
  const params = [m[2], m[3]].filter((p): p is string => p !== undefined).map(Number);
  const decimal = declaredDecimal(m[1]!, params);
  if (type === 'DECIMAL' && !decimal) return undefined;
  return { name: `${name}(…)`, type, declared: returns.trim().toUpperCase(), notNull: false, decimal };
}

/** A call of a user function on compiled arguments: each row calls it with the arguments' JS values. */
export function compileUserFunction<C>(fn: ScalarFunction, e: CallExpr, args: readonly Compiled<C>[]): Compiled<C> {
  if (e.distinct || e.star || e.filter) throw sqlError(`${e.name} is a user function: it takes values, not ${e.star ? '*' : e.distinct ? 'DISTINCT' : 'FILTER'}`, e.pos);
  const column = returnColumn(e.name, fn.returns)!;
  const toJs = args.map((a) => (a.type === 'DECIMAL' ? (v: SqlValue): FunctionValue => (v === null ? null : decimalToNumber(v as bigint, decimalOf(a).scale)) : (v: SqlValue): FunctionValue => v as FunctionValue));
  const name = e.name;
  return {
    type: column.type,
    decimal: column.decimal,
    eval: (context) => {
      let result: FunctionValue | undefined;
      try {
        result = fn.eval(...args.map((a, i) => toJs[i]!(a.eval(context))));
      } catch (err) {
        throw new RowError(`${name} threw: ${err instanceof Error ? err.message : String(err)}`);
      }
      return decodeValue(column, result ?? null);
    },
  };
}
