/**
 * Nexmark's CountChar (the user function of q14) in TypeScript: how many times `char` occurs in `text`.
 * A .sql job declares it with `CREATE FUNCTION count_char AS './count-char.ts'` (examples/nexmark-bid-kinds.sql).
 */
import { scalarFunction } from 'shardflow';

export default scalarFunction('BIGINT', (text, char) => (typeof text === 'string' && typeof char === 'string' && char.length > 0 ? text.split(char).length - 1 : 0));
