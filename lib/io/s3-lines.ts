import * as readline from 'node:readline';
import type { Readable } from 'node:stream';
import { GetObjectCommand, HeadObjectCommand, ListObjectsV2Command, S3Client } from '@aws-sdk/client-s3';
import { awsClientConfig } from './aws-clients';

// JSON-lines input from S3 for `shardflow run --input s3://…`. Only the CLI imports this.

/** An input that cannot be read as asked: one line that says what to do. */
export class S3InputError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'S3InputError';
  }
}

/** One object to read. */
export interface S3Object {
  readonly key: string;
  readonly sizeBytes: number;
}

/**
 * An S3 client: `endpoint` (an emulator, LocalStack), else env `AWS_ENDPOINT_URL_S3`, else the endpoint
 * rules of the other clients. Path-style addressing on an endpoint: emulators serve no bucket subdomains.
 */
export function s3Client(endpoint?: string): S3Client {
  const config = awsClientConfig({ ...((endpoint ?? process.env.AWS_ENDPOINT_URL_S3) !== undefined && { endpoint: endpoint ?? process.env.AWS_ENDPOINT_URL_S3 }) });
  return new S3Client({ ...config, forcePathStyle: config.endpoint !== undefined });
}

export const isS3Url = (input: string): boolean => input.startsWith('s3://');

/**
 * The objects of `s3://bucket/key` (one) or `s3://bucket/prefix/` (every object under it, in key order, as
 * ListObjectsV2 returns them), and their lines, streamed: an object is never held in memory whole.
 * @example
 * const input = await S3Lines.open(s3Client(), 's3://archive/clicks/2026-11-30/');
 * for await (const line of input.lines()) console.log(line);
 */
export class S3Lines {
  private constructor(
    private readonly s3: Pick<S3Client, 'send'>,
    readonly bucket: string,
    readonly objects: readonly S3Object[],
  ) {}

  static async open(s3: Pick<S3Client, 'send'>, url: string): Promise<S3Lines> {
    const match = /^s3:\/\/([^/]+)\/(.*)$/.exec(url);
    if (!match) throw new S3InputError(`${url}: expected s3://BUCKET/KEY, or s3://BUCKET/PREFIX/ for every object under a prefix`);
    const [, bucket, key] = match as unknown as [string, string, string];
    const objects = key === '' || key.endsWith('/') ? await listUnder(s3, url, bucket, key) : [await head(s3, url, bucket, key)];
    return new S3Lines(s3, bucket, objects);
  }

  get totalBytes(): number {
    return this.objects.reduce((n, o) => n + o.sizeBytes, 0);
  }

  /** Every line of every object, in order. */
  async *lines(): AsyncGenerator<string> {
    for (const object of this.objects) {
      const out = await this.s3.send(new GetObjectCommand({ Bucket: this.bucket, Key: object.key }));
      yield* readline.createInterface({ input: out.Body as Readable, crlfDelay: Infinity });
    }
  }
}

async function head(s3: Pick<S3Client, 'send'>, url: string, bucket: string, key: string): Promise<S3Object> {
  try {
    const out = await s3.send(new HeadObjectCommand({ Bucket: bucket, Key: key }));
    return { key, sizeBytes: out.ContentLength ?? 0 };
  } catch (e) {
    // HEAD has no body: a missing bucket and a missing key both come back as NotFound.
    if ((e as Error).name === 'NotFound' || (e as Error).name === 'NoSuchKey' || (e as Error).name === 'NoSuchBucket') {
      throw new S3InputError(`${url}: no such object (for every object under a prefix, end it with /: s3://${bucket}/${key}/)`);
    }
    throw unreachable(e, url);
  }
}

async function listUnder(s3: Pick<S3Client, 'send'>, url: string, bucket: string, prefix: string): Promise<S3Object[]> {
  const objects: S3Object[] = [];
  let token: string | undefined;
  try {
    do {
      const page = await s3.send(new ListObjectsV2Command({ Bucket: bucket, Prefix: prefix, ...(token !== undefined && { ContinuationToken: token }) }));
      // A key ending in / is a console-made "folder": no lines in it.
      for (const o of page.Contents ?? []) if (o.Key !== undefined && !o.Key.endsWith('/')) objects.push({ key: o.Key, sizeBytes: o.Size ?? 0 });
      token = page.IsTruncated ? page.NextContinuationToken : undefined;
    } while (token);
  } catch (e) {
    if ((e as Error).name === 'NoSuchBucket') throw new S3InputError(`${url}: no bucket '${bucket}'`);
    throw unreachable(e, url);
  }
  if (objects.length === 0) throw new S3InputError(`${url}: no objects under this prefix`);
  return objects;
}

function unreachable(e: unknown, url: string): unknown {
  const code = (e as NodeJS.ErrnoException).code;
  return code === 'ECONNREFUSED' ? new S3InputError(`${url}: nothing answers at the S3 endpoint — pass --s3-endpoint URL (or set AWS_ENDPOINT_URL_S3)`) : e;
}
