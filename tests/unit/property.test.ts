/**
 * The window properties (tests/state/window-properties.ts) on the harness's memory store. Seeded: set FC_SEED
 * to explore other cases.
 */
import { describeWindowProperties } from '../state/window-properties';

describeWindowProperties({ name: 'memory', runs: 200, seed: Number(process.env.FC_SEED ?? 424242) });
