import * as fs from 'node:fs';
import type { JobDefinition } from '../api/graph';
import { operatorLabel } from '../api/call-site';
import { harness } from '../testing/harness';
import { UsageError } from './args';

/**
 * `shardflow plan JOB --check-event EVENT`: one sample event (inline JSON, or a .json / .jsonl file — its first
 * line) run through the whole job on the test harness before any event flows, so that a field the job
 * reads and the events lack (`sum('amout')`) is found at plan time rather than as dead letters later.
 * Returns the problems, one line each (none: the event goes through).
 */
export async function checkEvent(definition: JobDefinition, eventArg: string): Promise<string[]> {
  const event = readEvent(eventArg);
  const h = harness(definition);
  await h.send(event);
  // Fires its windows and timers, so the results go through what follows: later operators, later keyed stages.
  await h.finish();
  return h.deadLetters().map((d) => {
    const node = definition.nodes.find((n) => n.id === d.operator);
    const where = node ? operatorLabel(node, 'function') : d.operator;
    // `sum('amout'): field 'amout' is missing` after `orders.ts:9 .sum('amout')` need not name the call twice.
    const call = /^(\w+\(.*?\)): /.exec(d.reason);
    return call && where?.endsWith(`.${call[1]}`) ? `${where}: ${d.reason.slice(call[0].length)}` : `${where ?? 'the job'}: ${d.reason}`;
  });
}

function readEvent(arg: string): unknown {
  const text = arg.trimStart().startsWith('{') ? arg : fs.existsSync(arg) ? (fs.readFileSync(arg, 'utf8').split('\n').find((l) => l.trim()) ?? '') : undefined;
  if (text === undefined) throw new UsageError(`--check-event ${arg}: neither JSON nor a file — pass '{"userId":"ann","clicks":1,"ts":1700000000000}' or events.jsonl`);
  try {
    return JSON.parse(text) as unknown;
  } catch (e) {
    throw new UsageError(`--check-event ${arg}: not JSON (${(e as Error).message})`);
  }
}
