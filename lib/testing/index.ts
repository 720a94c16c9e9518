export { harness, Harness, type HarnessOptions, type SendOptions, type ReplayOptions } from './harness';
