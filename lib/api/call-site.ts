import * as fs from 'node:fs';
import * as path from 'node:path';
import type { OperatorNode } from './graph';

/** Where the user wrote a builder call: the file, line and column of `.window(` in their job. */
export interface CallSite {
  readonly file: string;
  readonly line: number;
  readonly column: number;
}

/** This folder (lib/api, or dist/lib/api in a package): frames inside it are the builder's own. */
const API_DIR = path.dirname(__filename);
/** shardflow's other code: when it calls the builder (the SQL compiler does), the call site is not the user's. */
const OWN_ROOT = path.dirname(path.dirname(API_DIR));
const OWN_DIRS = ['lib', 'infra', 'functions', 'bin', '../bin'].map((d) => path.join(OWN_ROOT, d) + path.sep);
/** `    at fn (file:line:col)` or `    at file:line:col` (file may be a file:// URL). */
const FRAME = /^\s*at (?:.*? \()?(.+?):(\d+):(\d+)\)?$/;

/**
 * The first stack frame outside the builder: the user's call, or undefined when shardflow's own code
 * built the job. Cheap enough for job definition time (once per operator); line numbers are the
 * source's when source maps are on (bin/register.js).
 */
export function callSite(): CallSite | undefined {
  // In a function (on Lambda, or a local worker) the job was planned before it was deployed, so no error
  // needs a call site there; and with source maps on, reading a stack would parse the bundle's map at
  // every cold start.
  if (process.env.AWS_LAMBDA_FUNCTION_NAME) return undefined;
  for (const frame of (new Error().stack ?? '').split('\n').slice(1)) {
    const m = FRAME.exec(frame);
    if (!m) continue;
    const file = m[1]!.startsWith('file://') ? decodeURIComponent(new URL(m[1]!).pathname) : m[1]!;
    if (file.startsWith('node:') || !path.isAbsolute(file) || path.dirname(file) === API_DIR) continue;
    if (OWN_DIRS.some((dir) => file.startsWith(dir))) return undefined;
    return { file, line: Number(m[2]), column: Number(m[3]) };
  }
  return undefined;
}

/**
 * The call as the user wrote it, with where: `jobs/orders.ts:12 .window(tumbling('-1s'))`. The text is read
 * from the source file (only when an error needs it); without the file, `jobs/orders.ts:12 .window(…)`.
 */
export function writtenAt(site: CallSite, method: string): string {
  const where = `${displayPath(site.file)}:${site.line}`;
  return `${where} .${callText(site, method) ?? `${method}(…)`}`;
}

/**
 * How errors name an operator: where and how the user wrote it (`jobs/orders.ts:12 .window(tumbling('-1s'))`;
 * for a window's function, `….sum('amout')`), or its id (`window#2`) for a job built by SQL or by hand.
 */
export function operatorLabel(node: OperatorNode, part: 'operator' | 'function' = 'operator'): string {
  if (part === 'function' && node.kind === 'window' && node.functionAt) return writtenAt(node.functionAt, node.fn.kind);
  return node.at ? writtenAt(node.at, node.kind) : node.id;
}

function displayPath(file: string): string {
  const relative = path.relative(process.cwd(), file);
  return relative && !relative.startsWith('..') && !path.isAbsolute(relative) ? relative : file;
}

/** `window(tumbling('-1s'))`: from the method name at the call site to its closing parenthesis. */
function callText(site: CallSite, method: string): string | undefined {
  let source: string;
  try {
    source = fs.readFileSync(site.file, 'utf8');
  } catch {
    return undefined;
  }
  const lines = source.split('\n');
  if (site.line > lines.length) return undefined;
  const offset = lines.slice(0, site.line - 1).reduce((n, l) => n + l.length + 1, 0) + site.column - 1;
  const start = source.indexOf(`${method}(`, offset);
  if (start < 0 || start - offset > 200) return undefined;
  let depth = 0;
  let quote: string | undefined;
  for (let i = start + method.length; i < source.length && i - start < 2000; i++) {
    const c = source[i]!;
    if (quote) {
      if (c === '\\') i++;
      else if (c === quote) quote = undefined;
    } else if (c === "'" || c === '"' || c === '`') quote = c;
    else if (c === '(') depth++;
    else if (c === ')' && --depth === 0) {
      const text = source.slice(start, i + 1).replace(/\s*\n\s*/g, ' ');
      return text.length > 120 ? `${text.slice(0, 117)}…)` : text;
    }
  }
  return undefined;
}
