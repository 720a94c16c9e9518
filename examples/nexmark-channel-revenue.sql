-- Nexmark-style revenue per platform: Nexmark q1's euro conversion as an exact DECIMAL, q21's channel
-- normalisation with CASE and LOWER, q15's FILTER counts, through a view, per 10-second tumbling window.
--   npx shardflow dev examples/nexmark-channel-revenue.sql --no-demo
--   node bin/run-ts.js examples/nexmark-bids.ts --count 5000 > /tmp/bids.jsonl
--   npx shardflow push bids --file /tmp/bids.jsonl
CREATE TABLE bids (
  auction  BIGINT,
  bidder   BIGINT,
  price    BIGINT,
  channel  STRING,
  url      STRING,
  dateTime TIMESTAMP(3),
  extra    STRING,
  WATERMARK FOR dateTime AS dateTime - INTERVAL '1' SECOND
) WITH ('connector' = 'kinesis', 'stream' = 'bids', 'scan.watermark.idle-timeout' = '5 s');

CREATE TABLE platform_revenue WITH ('connector' = 'dynamodb', 'table-name' = 'nexmark-platform-revenue');

-- 0.908 * price is a DECIMAL(23, 3): 1904.984 euros, not 1904.9840000000002.
CREATE VIEW euro_bids AS
SELECT
  auction,
  0.908 * price AS euros,
  CASE LOWER(channel) WHEN 'apple' THEN 'ios' WHEN 'google' THEN 'android' ELSE LOWER(channel) END AS platform,
  dateTime
FROM bids
WHERE channel <> 'test';

INSERT INTO platform_revenue
SELECT
  platform,
  DATE_FORMAT(window_start, 'HH:mm:ss')        AS started,
  SUM(euros)                                   AS revenue,
  COUNT(*)                                     AS bids,
  COUNT(*) FILTER (WHERE euros >= 1000)        AS big_bids,
  COUNT(DISTINCT auction)                      AS auctions
FROM TABLE(TUMBLE(TABLE euro_bids, DESCRIPTOR(dateTime), INTERVAL '10' SECOND))
GROUP BY platform, window_start, window_end;
