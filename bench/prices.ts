/**
 * The price table of the cost model: AWS list prices, US East (N. Virginia), in USD, each with the page
 * it is published on and what was actually read to confirm it, on the date below. AWS renders most of its
 * pricing pages' numbers client-side, so the official pages could not always be read as text: where a
 * figure was confirmed only through a transcription or a secondary source, `status` says so.
 *
 * Update this file (and `checked`) when prices change; docs/cost.md and bench/REPORT.md print it.
 */

/** How sure the figure is. */
export type PriceStatus =
  | 'official' // read on an AWS page (or an AWS-published document)
  | 'transcribed' // an automated, dated transcription of the official page, quoting it verbatim
  | 'secondary' // several independent secondary sources agree; the official page's number was not readable
  | 'unconfirmed'; // one secondary source or none: used only in "alternative" rows, never in the headline

export interface Price {
  readonly usd: number;
  readonly per: string;
  /** The official page the price is published on. */
  readonly page: string;
  /** What was read to confirm it, with that source's own date where it has one. */
  readonly confirmedBy: string;
  readonly status: PriceStatus;
}

/** The day the sources below were read. */
export const PRICES_CHECKED = '2026-11-24';
export const PRICES_REGION = 'us-east-1 (US East, N. Virginia)';

const KINESIS_PAGE = 'https://aws.amazon.com/kinesis/data-streams/pricing/';
const LAMBDA_PAGE = 'https://aws.amazon.com/lambda/pricing/';
const DYNAMODB_PAGE = 'https://aws.amazon.com/dynamodb/pricing/on-demand/';
const FLINK_PAGE = 'https://aws.amazon.com/managed-service-apache-flink/pricing/';

export const PRICES = {
  kinesisShardHour: {
    usd: 0.015,
    per: 'shard-hour (provisioned mode)',
    page: KINESIS_PAGE,
    confirmedBy:
      'the official page (read 2026-11-24) explains shard-hours and PUT payload units but renders the numbers client-side; $0.015 per shard-hour is given by several independent secondary sources (a cost calculator constant KINESIS_SHARD_HOUR = 0.015; a pricing memo quoting the page: "dollars per shard per hour 0.015 USD")',
    status: 'secondary',
  },
  kinesisPutPayloadUnitsPerMillion: {
    usd: 0.014,
    per: 'million PUT payload units (a record, rounded up to 25 KB)',
    page: KINESIS_PAGE,
    confirmedBy: 'as above: KINESIS_PUT_PAYLOAD_UNIT = 0.014 in a cost calculator; "1,000,000 units: $0.014" in a pricing memo; "$0.014/1M" in EveryMundo/aws-kinesis-client docs. The 25 KB unit is on the official page.',
    status: 'secondary',
  },
  kinesisOnDemandStreamHour: {
    usd: 0.04,
    per: 'stream-hour (on-demand mode)',
    page: KINESIS_PAGE,
    confirmedBy: 'one secondary source (a pricing module quoting "Stream-hour $0.04" for ap-northeast-2); the official page confirms a per-stream hourly charge exists but its number was not readable',
    status: 'unconfirmed',
  },
  kinesisOnDemandIngestPerGb: {
    usd: 0.08,
    per: 'GB written (on-demand mode, records rounded up to 1 KB)',
    page: KINESIS_PAGE,
    confirmedBy: 'not confirmed from any source read on the date above (the official page confirms the 1 KB rounding); the figure is the one commonly cited',
    status: 'unconfirmed',
  },
  kinesisOnDemandRetrievalPerGb: {
    usd: 0.04,
    per: 'GB read (on-demand mode)',
    page: KINESIS_PAGE,
    confirmedBy: 'not confirmed from any source read on the date above',
    status: 'unconfirmed',
  },
  lambdaRequestsPerMillion: {
    usd: 0.2,
    per: 'million requests',
    page: LAMBDA_PAGE,
    confirmedBy: 'api-evangelist/aws-lambda pricing transcription of the official page (generated 2026-09-20): "$0.20 per million requests"; the official page text (read 2026-11-24) defines requests and 1 ms duration rounding',
    status: 'transcribed',
  },
  lambdaArmGbSecond: {
    usd: 0.0000133334,
    per: 'GB-second, arm64 (first 7.5 billion GB-seconds a month)',
    page: LAMBDA_PAGE,
    confirmedBy: 'secondary sources agree: cloudchipr.com Lambda pricing guide ("ARM … First 7.5 Billion GB-seconds per month: $0.0000133334"); Artillery\'s Lambda price table (arm64 1333340 × 1e-11); a Lambda cost note ("arm64 $0.0000133334 / GB-s")',
    status: 'secondary',
  },
  dynamoWriteRequestUnitsPerMillion: {
    usd: 0.625,
    per: 'million write request units (on-demand; one per started KB written)',
    page: DYNAMODB_PAGE,
    confirmedBy: 'after the November 2024 price cut (on-demand throughput −50 %): airbyte.com DynamoDB pricing guide (Jul 2025) "WRU: $0.625 per million"; a design note "Prices, us-east-1, checked 2026-10-04 on DynamoDB on-demand pricing: $0.625 per million write request units"; the official page (read 2026-11-24) defines the units but its numbers were not readable',
    status: 'secondary',
  },
  dynamoReadRequestUnitsPerMillion: {
    usd: 0.125,
    per: 'million read request units (on-demand; one strongly consistent read of ≤ 4 KB, or two eventually consistent)',
    page: DYNAMODB_PAGE,
    confirmedBy: 'as above: "$0.125 per million read request units" in both sources',
    status: 'secondary',
  },
  dynamoStorageGbMonth: {
    usd: 0.25,
    per: 'GB-month of table storage (Standard class; the first 25 GB a month free)',
    page: DYNAMODB_PAGE,
    confirmedBy: 'the design note above ("$0.25 per GB-month (Standard table class; the first 25 GB are free)")',
    status: 'secondary',
  },
  flinkKpuHour: {
    usd: 0.11,
    per: 'KPU-hour (1 vCPU, 4 GB); one extra KPU per application for orchestration',
    page: FLINK_PAGE,
    confirmedBy:
      'api-evangelist/kinesis pricing transcription of the official page (generated 2026-09-20, "every price_text was found verbatim in the fetched page text"): "$0.11 per KPU-hour"; AWS docs (how-pricing.html, read 2026-11-24): "you are charged a single additional KPU per application, used for orchestration", billed per second, 10-minute minimum',
    status: 'transcribed',
  },
  flinkRunningStorageGbMonth: {
    usd: 0.1,
    per: 'GB-month of running application storage (50 GB per KPU)',
    page: FLINK_PAGE,
    confirmedBy: 'the same transcription: "$0.10 per GB/month", "50 GB of running application storage allocated per KPU". (One AWS-authored skill note says the 50 GB per KPU are included; the pricing page\'s own example bills them: the model bills them.)',
    status: 'transcribed',
  },
  kmsKeyMonth: {
    usd: 1,
    per: 'customer managed KMS key-month (the deployment encrypts streams and tables with one); +$1/month per rotated backing key',
    page: 'https://aws.amazon.com/kms/pricing/',
    confirmedBy: 'the official page (read 2026-11-24): "Each AWS KMS key that you create in AWS KMS costs $1/month (prorated hourly) … If you enable automatic key rotation, each newly generated backing key costs an additional $1/month". Not in the brief\'s idle list: reported beside the idle month, not in the ratio.',
    status: 'official',
  },
} as const satisfies Record<string, Price>;

export type PriceName = keyof typeof PRICES;

/** AWS's month for hourly prices. */
export const HOURS_PER_MONTH = 730;
export const SECONDS_PER_MONTH = HOURS_PER_MONTH * 3600;
/** Running application storage per KPU (Managed Service for Apache Flink). */
export const FLINK_STORAGE_GB_PER_KPU = 50;
