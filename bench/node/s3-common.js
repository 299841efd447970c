// Shared by the Node S3 peers (bench/run-s3.sh): an S3Client for the local
// Swift from the environment (AWS_ENDPOINT_URL, AWS_REGION, credentials
// from the SDK's default chain: AWS_ACCESS_KEY_ID / AWS_SECRET_ACCESS_KEY),
// path-style. The SDK's default flexible checksums (CRC32 in an aws-chunked
// trailer) are turned down to "when required": Swift 2.30's s3api does not
// take aws-chunked bodies, and pipe and aws-cli 2.9 send Content-MD5 instead.
'use strict';

const { S3Client } = require('@aws-sdk/client-s3');

function client() {
  return new S3Client({
    endpoint: process.env.AWS_ENDPOINT_URL,
    region: process.env.AWS_REGION || 'us-east-1',
    forcePathStyle: true,
    requestChecksumCalculation: 'WHEN_REQUIRED',
    responseChecksumValidation: 'WHEN_REQUIRED',
  });
}

// "s3://bucket/key" -> { Bucket, Key }
function parseUrl(url) {
  const m = /^s3:\/\/([^/]+)\/(.+)$/.exec(url || '');
  if (!m) throw new Error(`not an s3://bucket/key URL: ${url}`);
  return { Bucket: m[1], Key: m[2] };
}

function fail(script, err) {
  process.stderr.write(`${script}: ${err && err.stack ? err.stack : err}\n`);
  process.exit(1);
}

module.exports = { client, parseUrl, fail };
