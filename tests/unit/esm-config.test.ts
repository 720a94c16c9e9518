import { MappingConfigError, resolveMappingConfig, type EventSourceMappingConfig } from '../../lib/local/esm/config';

const valid: EventSourceMappingConfig = {
  streamName: 'clicks',
  functionName: 'f',
  batchSize: 100,
  maxBatchingWindowMs: 0,
  startingPosition: 'TRIM_HORIZON',
  parallelizationFactor: 1,
  bisectOnError: false,
  maxRetryAttempts: -1,
  maxRecordAgeSeconds: -1,
  reportBatchItemFailures: false,
};

describe('mapping configuration', () => {
  test('local defaults fill in the optional settings', () => {
    expect(resolveMappingConfig(valid)).toMatchObject({ pollIntervalMs: 200, shardSyncIntervalMs: 2000 });
  });

  test.each<[keyof EventSourceMappingConfig, unknown]>([
    ['batchSize', 0],
    ['batchSize', 10_001],
    ['batchSize', 1.5],
    ['maxBatchingWindowMs', 300_001],
    ['parallelizationFactor', 11],
    ['maxRetryAttempts', -2],
    ['maxRetryAttempts', 10_001],
    ['maxRecordAgeSeconds', 59],
    ['maxRecordAgeSeconds', 0],
    ['maxRecordAgeSeconds', 604_801],
    ['startingPosition', 'AT_TIMESTAMP'],
  ])('Lambda refuses %s = %p, and so do we', (field, value) => {
    const attempt = (): unknown => resolveMappingConfig({ ...valid, [field]: value });
    expect(attempt).toThrow(MappingConfigError);
    expect(attempt).toThrow(new RegExp(`^f <- clicks: ${field} `));
  });

  test('the edges Lambda accepts are accepted', () => {
    expect(() => resolveMappingConfig({ ...valid, batchSize: 10_000, parallelizationFactor: 10, maxRetryAttempts: 10_000, maxRecordAgeSeconds: 60, maxBatchingWindowMs: 300_000 })).not.toThrow();
    expect(() => resolveMappingConfig({ ...valid, maxRecordAgeSeconds: 604_800, maxRetryAttempts: 0 })).not.toThrow();
  });
});
