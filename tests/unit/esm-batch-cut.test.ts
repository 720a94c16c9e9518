import { MAX_INVOKE_PAYLOAD_BYTES, cutBatch, eventBytesOf } from '../../lib/local/esm/batch-cut';

const queue = (...sizes: number[]): { eventBytes: number }[] => sizes.map((eventBytes) => ({ eventBytes }));

describe('where a batch ends', () => {
  test('at batchSize records', () => {
    expect(cutBatch(queue(1, 1, 1, 1), 3)).toEqual({ count: 3, full: true });
  });

  test('fewer queued records than batchSize make a batch that is not full (the window may wait for more)', () => {
    expect(cutBatch(queue(1, 1), 3)).toEqual({ count: 2, full: false });
  });

  test('before the record that would take the event past 6 MB', () => {
    const mb = 1024 * 1024;
    expect(cutBatch(queue(2 * mb, 2 * mb), 100)).toEqual({ count: 2, full: false });
    expect(cutBatch(queue(2 * mb, 2 * mb, 2 * mb, 1), 100)).toEqual({ count: 3, full: true });
    expect(cutBatch(queue(2 * mb, 2 * mb, 2 * mb + 1, 1), 100)).toEqual({ count: 2, full: true });
  });

  test('a single oversized record still goes alone', () => {
    expect(cutBatch(queue(MAX_INVOKE_PAYLOAD_BYTES + 1, 1), 10)).toEqual({ count: 1, full: true });
  });

  test('a record counts with its data base64-encoded', () => {
    const small = eventBytesOf(0, 'k', '1', 'arn');
    expect(eventBytesOf(3_000, 'k', '1', 'arn') - small).toBe(4_000);
  });
});
