#!/bin/sh
# LocalStack runs this once it is ready: a line the quick start waits for.
echo "shardflow: LocalStack ready on http://localhost:4566 — deploy with: npx serverless deploy --stage local"
