import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { FAILURES_FILE, LocalQueues } from '../../lib/local/failure-queues';

const URL = 'http://localhost:4566';
const QUEUE_URL = `${URL}/000000000000/job-s0-failures`;

function fakeClock() {
  let now = 1_000_000;
  return { now: () => now, advance: (ms: number) => void (now += ms) };
}

type Received = { Messages: { MessageId: string; ReceiptHandle: string; Body: string; MD5OfBody: string }[] };

describe('the local on-failure queues (the part of SQS the failures command uses)', () => {
  let dir: string;
  beforeEach(() => {
    dir = fs.mkdtempSync(path.join(os.tmpdir(), 'queues-'));
  });
  afterEach(() => fs.rmSync(dir, { recursive: true, force: true }));

  test('GetQueueUrl names known queues and refuses others as SQS does', () => {
    const queues = new LocalQueues(['job-s0-failures'], URL, undefined);
    expect(queues.answer('GetQueueUrl', { QueueName: 'job-s0-failures' })).toEqual({ status: 200, body: { QueueUrl: QUEUE_URL } });
    expect(queues.answer('GetQueueUrl', { QueueName: 'nope' })).toMatchObject({ status: 400, body: { __type: 'com.amazonaws.sqs#QueueDoesNotExist' } });
  });

  test('a received message is invisible for the visibility timeout, visible again after it or after ChangeMessageVisibility 0', () => {
    const clock = fakeClock();
    const queues = new LocalQueues(['job-s0-failures'], URL, undefined, clock.now);
    queues.send('job-s0-failures', '{"a":1}');
    const first = queues.answer('ReceiveMessage', { QueueUrl: QUEUE_URL, MaxNumberOfMessages: 10, VisibilityTimeout: 30 }).body as Received;
    expect(first.Messages.map((m) => [m.Body, m.MD5OfBody])).toEqual([['{"a":1}', 'bb6cb5c68df4652941caf652a366f2d8']]);
    expect((queues.answer('ReceiveMessage', { QueueUrl: QUEUE_URL }).body as Received).Messages).toEqual([]);
    clock.advance(30_000);
    const again = queues.answer('ReceiveMessage', { QueueUrl: QUEUE_URL, VisibilityTimeout: 30 }).body as Received;
    expect(again.Messages).toHaveLength(1);
    expect(queues.answer('ChangeMessageVisibility', { QueueUrl: QUEUE_URL, ReceiptHandle: again.Messages[0]!.ReceiptHandle, VisibilityTimeout: 0 }).status).toBe(200);
    expect((queues.answer('ReceiveMessage', { QueueUrl: QUEUE_URL }).body as Received).Messages).toHaveLength(1);
  });

  test('messages survive a restart through failures.jsonl; a deleted one does not', () => {
    const queues = new LocalQueues(['job-s0-failures'], URL, dir);
    queues.send('job-s0-failures', 'one');
    queues.send('job-s0-failures', 'two');
    const { Messages } = queues.answer('ReceiveMessage', { QueueUrl: QUEUE_URL, MaxNumberOfMessages: 1 }).body as Received;
    expect(queues.answer('DeleteMessage', { QueueUrl: QUEUE_URL, ReceiptHandle: Messages[0]!.ReceiptHandle }).status).toBe(200);
    expect(queues.answer('DeleteMessage', { QueueUrl: QUEUE_URL, ReceiptHandle: Messages[0]!.ReceiptHandle })).toMatchObject({ status: 400, body: { __type: 'com.amazonaws.sqs#ReceiptHandleIsInvalid' } });
    const lines = fs.readFileSync(path.join(dir, FAILURES_FILE), 'utf8').trim().split('\n');
    expect(lines.map((l) => (JSON.parse(l) as { body: string }).body)).toEqual(['two']);
    const restarted = new LocalQueues(['job-s0-failures'], URL, dir);
    expect(restarted.depth('job-s0-failures')).toBe(1);
    expect((restarted.answer('ReceiveMessage', { QueueUrl: QUEUE_URL }).body as Received).Messages.map((m) => m.Body)).toEqual(['two']);
  });
});
