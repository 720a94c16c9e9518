import { mkdtemp, readdir, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { checkpointKey, fileCheckpointStore, memoryCheckpointStore } from '../../lib/local/esm/checkpoint-store';

let dir: string;
beforeEach(async () => {
  dir = await mkdtemp(join(tmpdir(), 'esm-checkpoints-'));
});
afterEach(async () => {
  await rm(dir, { recursive: true, force: true });
});

describe('checkpoint stores', () => {
  test('the memory store returns what was saved', async () => {
    const store = memoryCheckpointStore();
    expect(await store.load('m/s0')).toBeUndefined();
    await store.save('m/s0', '7');
    expect(await store.load('m/s0')).toBe('7');
  });

  test('the file store keeps one JSON file per mapping, readable by a new store', async () => {
    const a = fileCheckpointStore(dir);
    await a.save(checkpointKey('fn', 'clicks', 'shardId-000000000000'), '111');
    await a.save(checkpointKey('fn', 'clicks', 'shardId-000000000001'), '222');
    await a.save(checkpointKey('other', 'clicks', 'shardId-000000000000'), '333');
    expect((await readdir(dir)).sort()).toEqual(['fn@clicks.json', 'other@clicks.json']);
    const file = JSON.parse(await readFile(join(dir, 'fn@clicks.json'), 'utf8')) as { checkpoints: Record<string, string> };
    expect(file.checkpoints).toEqual({ 'shardId-000000000000': '111', 'shardId-000000000001': '222' });

    const b = fileCheckpointStore(dir);
    expect(await b.load(checkpointKey('fn', 'clicks', 'shardId-000000000001'))).toBe('222');
    expect(await b.load(checkpointKey('fn', 'clicks', 'shardId-000000000009'))).toBeUndefined();
  });

  test('concurrent saves all land, the last value wins, and no temporary file is left', async () => {
    const store = fileCheckpointStore(dir);
    await Promise.all(Array.from({ length: 50 }, (_, i) => store.save(`m/s${i % 5}`, String(i))));
    expect(await readdir(dir)).toEqual(['m.json']);
    const reread = fileCheckpointStore(dir);
    for (let s = 0; s < 5; s++) expect(await reread.load(`m/s${s}`)).toBe(String(45 + s));
  });

  test('an unreadable file is reported with what to do', async () => {
    const { writeFile } = await import('node:fs/promises');
    await writeFile(join(dir, 'm.json'), '{ not json');
    await expect(fileCheckpointStore(dir).load('m/s0')).rejects.toThrow(/unreadable.*delete it/);
  });
});
