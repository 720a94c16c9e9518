import { SHARD_END } from '../../lib/local/esm/checkpoint-store';
import { lineageOf, parentsToAwait, startPositionOf } from '../../lib/local/esm/shard-lineage';

describe('shard lineage', () => {
  test('a merged shard has two parents', () => {
    expect(lineageOf({ ShardId: 's3', ParentShardId: 's1', AdjacentParentShardId: 's2', HashKeyRange: undefined, SequenceNumberRange: undefined })).toEqual({
      shardId: 's3',
      parentShardIds: ['s1', 's2'],
    });
    expect(lineageOf({ ShardId: 's0', HashKeyRange: undefined, SequenceNumberRange: undefined }).parentShardIds).toEqual([]);
  });

  test('a child waits for every listed parent that is not finished', () => {
    const child = { shardId: 'c', parentShardIds: ['p1', 'p2'] };
    expect(parentsToAwait(child, () => true, (id) => id === 'p1')).toEqual(['p2']);
    expect(parentsToAwait(child, () => true, () => true)).toEqual([]);
  });

  test('a parent that aged out of the stream is not waited for', () => {
    expect(parentsToAwait({ shardId: 'c', parentShardIds: ['gone'] }, () => false, () => false)).toEqual([]);
  });

  test('a checkpoint wins; SHARD_END means the shard is done', () => {
    const base = { inFirstListing: true, parentEverCheckpointed: false, startingPosition: 'LATEST' } as const;
    expect(startPositionOf({ ...base, checkpoint: '123' })).toEqual({ type: 'AFTER_SEQUENCE_NUMBER', sequenceNumber: '123' });
    expect(startPositionOf({ ...base, checkpoint: SHARD_END })).toBe('finished');
  });

  test('the starting position applies only to shards that existed when the mapping was created', () => {
    const none = { checkpoint: undefined, startingPosition: 'LATEST' } as const;
    expect(startPositionOf({ ...none, inFirstListing: true, parentEverCheckpointed: false })).toEqual({ type: 'LATEST' });
    // a child born from a reshard while the mapping runs: all of its records are new
    expect(startPositionOf({ ...none, inFirstListing: false, parentEverCheckpointed: false })).toEqual({ type: 'TRIM_HORIZON' });
    // after a restart, a child of a parent we consumed
    expect(startPositionOf({ ...none, inFirstListing: true, parentEverCheckpointed: true })).toEqual({ type: 'TRIM_HORIZON' });
  });
});
