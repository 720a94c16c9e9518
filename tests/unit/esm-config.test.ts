import { MappingConfigError, resolveMappingConfig, type EventSourceMappingConfig } from '../../lib/local/esm/config';

const valid: EventSourceMappingConfig = {
  streamName: 'clicks',
  functionName: 'f',
  batchSize: 100,
  maxBatchingWindowSeconds: 0,
  startingPosition: 'TRIM_HORIZON',
  parallelizationFactor: 1,
  bisectOnError: false,
  maxRetryAttempts: -1,
  maxRecordAgeSeconds: -1,
  reportBatchItemFailures: false,
};

describe('mapping configuration', () => {
  test('local defaults fill in the optional settings', () => {
    expect(resolveMappingConfig(valid)).toMatchObject({ pollIntervalMs: 1000, shardSyncIntervalMs: 2000 });
  });

  test.each<[keyof EventSourceMappingConfig, unknown]>([
    ['batchSize', 0],
    ['batchSize', 10_001],
    ['batchSize', 1.5],
    ['maxBatchingWindowSeconds', 301],
    ['maxBatchingWindowSeconds', 0.5],
    ['startingPosition', 'AT_SEQUENCE_NUMBER'],
    ['startingPositionTimestampMs', 1_700_000_000_000],
    ['parallelizationFactor', 11],
    ['maxRetryAttempts', -2],
    ['maxRetryAttempts', 10_001],
    ['maxRecordAgeSeconds', 59],
    ['maxRecordAgeSeconds', 0],
    ['maxRecordAgeSeconds', 604_801],
  ])('Lambda refuses %s = %p, and so do we', (field, value) => {
    const attempt = (): unknown => resolveMappingConfig({ ...valid, [field]: value });
    expect(attempt).toThrow(MappingConfigError);
    expect(attempt).toThrow(new RegExp(`^f <- clicks: ${field} `));
  });

  test('the edges Lambda accepts are accepted', () => {
    expect(() => resolveMappingConfig({ ...valid, batchSize: 10_000, parallelizationFactor: 10, maxRetryAttempts: 10_000, maxRecordAgeSeconds: 60, maxBatchingWindowSeconds: 300 })).not.toThrow();
    expect(() => resolveMappingConfig({ ...valid, maxRecordAgeSeconds: 604_800, maxRetryAttempts: 0 })).not.toThrow();
  });

  test('a caught-up shard is polled about once a second, as Lambda does', () => {
    expect(resolveMappingConfig(valid).pollIntervalMs).toBe(1000);
  });

  test('AT_TIMESTAMP is accepted with its timestamp, and refused without one', () => {
    expect(resolveMappingConfig({ ...valid, startingPosition: 'AT_TIMESTAMP', startingPositionTimestampMs: 1_700_000_000_000 })).toMatchObject({ startingPosition: 'AT_TIMESTAMP', startingPositionTimestampMs: 1_700_000_000_000 });
    expect(() => resolveMappingConfig({ ...valid, startingPosition: 'AT_TIMESTAMP' })).toThrow(/startingPositionTimestampMs undefined is out of range — AT_TIMESTAMP needs/);
  });
});
