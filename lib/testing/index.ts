export { harness, Harness, type HarnessOptions, type SendOptions } from './harness';
