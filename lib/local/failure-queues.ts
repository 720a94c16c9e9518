import { createHash, randomUUID } from 'node:crypto';
import * as fs from 'node:fs';
import * as path from 'node:path';

/**
 * The stages' on-failure queues when the job runs locally: the SQS queues infra creates
 * (`JOB-STAGE-failures`), served on the edge with the part of SQS's JSON protocol that the
 * `shardflow failures` command and the AWS CLI use (GetQueueUrl, SendMessage, ReceiveMessage,
 * ChangeMessageVisibility, DeleteMessage, GetQueueAttributes). So the same client code reads the
 * local queue and, deployed, the real one.
 *
 * With a data directory the messages are kept in `failures.jsonl` (one `{ queue, messageId, body }`
 * per line, rewritten when one is deleted), so they survive a restart of `shardflow dev`.
 */

/** One message, as SQS keeps it. */
interface StoredMessage {
  readonly queue: string;
  readonly messageId: string;
  readonly body: string;
}

interface LiveMessage extends StoredMessage {
  receiptHandle: string | undefined;
  visibleAtMs: number;
  receives: number;
}

/** An SQS error as the JSON protocol sends it. */
export interface SqsAnswer {
  readonly status: number;
  readonly body: object;
}

/** SQS's default visibility timeout. */
const DEFAULT_VISIBILITY_S = 30;

/** The file under the data directory, read by the chaos harness too. */
export const FAILURES_FILE = 'failures.jsonl';

/** The local SQS queues of a job. Create with the queue names; `answer` serves the edge. */
export class LocalQueues {
  private readonly messages: LiveMessage[] = [];
  private readonly file: string | undefined;

  /**
   * @param queueNames the queues that exist (others answer QueueDoesNotExist, as SQS would).
   * @param queueUrlBase the edge's URL; a queue's URL is `BASE/000000000000/NAME`, as LocalStack's.
   */
  constructor(
    private readonly queueNames: readonly string[],
    private readonly queueUrlBase: string,
    dataDir: string | undefined,
    private readonly clock: () => number = Date.now,
  ) {
    this.file = dataDir && path.join(dataDir, FAILURES_FILE);
    for (const stored of this.file ? readStored(this.file) : []) this.messages.push({ ...stored, receiptHandle: undefined, visibleAtMs: 0, receives: 0 });
  }

  /** SendMessage, from inside the runtime (the event source mapping's on-failure destination). */
  send(queue: string, body: string): string {
    if (!this.queueNames.includes(queue)) throw new Error(`no local queue '${queue}' (queues: ${this.queueNames.join(', ')})`);
    const message: LiveMessage = { queue, messageId: randomUUID(), body, receiptHandle: undefined, visibleAtMs: 0, receives: 0 };
    this.messages.push(message);
    if (this.file) fs.appendFileSync(this.file, `${JSON.stringify(stored(message))}\n`);
    return message.messageId;
  }

  /** Messages a queue holds, visible or not (for the dashboard and tests). */
  depth(queue: string): number {
    return this.messages.filter((m) => m.queue === queue).length;
  }

  /** One SQS JSON-protocol call (`X-Amz-Target: AmazonSQS.<operation>`). */
  answer(operation: string, input: Record<string, unknown>): SqsAnswer {
    const queueOf = (): string | SqsAnswer => {
      const url = typeof input.QueueUrl === 'string' ? input.QueueUrl : '';
      const name = url.slice(url.lastIndexOf('/') + 1);
      return this.queueNames.includes(name) ? name : nonExistent(name || '(no QueueUrl)');
    };
    switch (operation) {
      case 'GetQueueUrl': {
        const name = String(input.QueueName ?? '');
        return this.queueNames.includes(name) ? ok({ QueueUrl: this.urlOf(name) }) : nonExistent(name);
      }
      case 'SendMessage': {
        const queue = queueOf();
        if (typeof queue !== 'string') return queue;
        const body = String(input.MessageBody ?? '');
        return ok({ MessageId: this.send(queue, body), MD5OfMessageBody: md5(body) });
      }
      case 'ReceiveMessage': {
        const queue = queueOf();
        if (typeof queue !== 'string') return queue;
        const max = Math.min(10, Math.max(1, Number(input.MaxNumberOfMessages ?? 1)));
        const visibilityS = Number(input.VisibilityTimeout ?? DEFAULT_VISIBILITY_S);
        const now = this.clock();
        const taken = this.messages.filter((m) => m.queue === queue && m.visibleAtMs <= now).slice(0, max);
        for (const m of taken) {
          m.receiptHandle = randomUUID();
          m.visibleAtMs = now + visibilityS * 1000;
          m.receives++;
        }
        return ok({
          Messages: taken.map((m) => ({ MessageId: m.messageId, ReceiptHandle: m.receiptHandle, MD5OfBody: md5(m.body), Body: m.body, Attributes: { ApproximateReceiveCount: String(m.receives) } })),
        });
      }
      case 'ChangeMessageVisibility': {
        const m = this.byReceipt(input.ReceiptHandle);
        if (!m) return receiptInvalid();
        m.visibleAtMs = this.clock() + Number(input.VisibilityTimeout ?? 0) * 1000;
        return ok({});
      }
      case 'DeleteMessage': {
        const m = this.byReceipt(input.ReceiptHandle);
        if (!m) return receiptInvalid();
        this.messages.splice(this.messages.indexOf(m), 1);
        if (this.file) fs.writeFileSync(this.file, this.messages.map((x) => `${JSON.stringify(stored(x))}\n`).join(''));
        return ok({});
      }
      case 'GetQueueAttributes': {
        const queue = queueOf();
        if (typeof queue !== 'string') return queue;
        const now = this.clock();
        const held = this.messages.filter((m) => m.queue === queue);
        return ok({
          Attributes: {
            ApproximateNumberOfMessages: String(held.filter((m) => m.visibleAtMs <= now).length),
            ApproximateNumberOfMessagesNotVisible: String(held.filter((m) => m.visibleAtMs > now).length),
          },
        });
      }
      default:
        return { status: 400, body: { __type: 'com.amazonaws.sqs#UnsupportedOperation', message: `the local SQS serves only the on-failure queues' operations; ${operation} is not one of them` } };
    }
  }

  private urlOf(name: string): string {
    return `${this.queueUrlBase}/000000000000/${name}`;
  }

  private byReceipt(receipt: unknown): LiveMessage | undefined {
    return typeof receipt === 'string' ? this.messages.find((m) => m.receiptHandle === receipt) : undefined;
  }
}

const ok = (body: object): SqsAnswer => ({ status: 200, body });
const nonExistent = (name: string): SqsAnswer => ({ status: 400, body: { __type: 'com.amazonaws.sqs#QueueDoesNotExist', message: `The specified queue ${name} does not exist.` } });
const receiptInvalid = (): SqsAnswer => ({ status: 400, body: { __type: 'com.amazonaws.sqs#ReceiptHandleIsInvalid', message: 'The receipt handle is not valid (the message was deleted or received again).' } });
const md5 = (s: string): string => createHash('md5').update(s).digest('hex');
const stored = (m: StoredMessage): StoredMessage => ({ queue: m.queue, messageId: m.messageId, body: m.body });

function readStored(file: string): StoredMessage[] {
  if (!fs.existsSync(file)) return [];
  return fs
    .readFileSync(file, 'utf8')
    .split('\n')
    .filter((l) => l.trim() !== '')
    .map((l) => JSON.parse(l) as StoredMessage);
}
