import type { KeyedOperator } from '../plan/plan';
import type { KeyedLogic } from './keyed-logic';
import { processLogic } from './process-logic';
import { windowLogic } from './window-logic';

/** The keyed logic of a stage's keyed operator. */
export const logicFor = (op: KeyedOperator): KeyedLogic => (op.kind === 'window' ? windowLogic(op) : processLogic(op));
