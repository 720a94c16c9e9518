import { laneOf } from '../../lib/local/esm/lanes';

describe('ParallelizationFactor lanes', () => {
  test('a partition key always lands in the same lane', () => {
    for (const key of ['user-1', 'user-2', 'ü-ñíçødé', '']) {
      expect(laneOf(key, 7)).toBe(laneOf(key, 7));
    }
  });

  test('lanes are within 0..lanes-1, and one lane means lane 0', () => {
    for (let i = 0; i < 500; i++) {
      const lane = laneOf(`k${i}`, 3);
      expect(lane).toBeGreaterThanOrEqual(0);
      expect(lane).toBeLessThan(3);
      expect(laneOf(`k${i}`, 1)).toBe(0);
    }
  });

  test('keys spread over every lane roughly evenly', () => {
    const counts = [0, 0, 0];
    for (let i = 0; i < 3000; i++) counts[laneOf(`user-${i}`, 3)]!++;
    for (const c of counts) expect(c).toBeGreaterThan(800);
  });

  test('the hash is pinned (a change would reorder lanes across versions)', () => {
    // FNV-1a 32-bit of "a" is 0xe40c292c.
    expect(laneOf('a', 0x7fffffff)).toBe(0xe40c292c % 0x7fffffff);
  });
});
