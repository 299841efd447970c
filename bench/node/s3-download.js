#!/usr/bin/env node
// Peer for `pipe cp s3://b/k FILE`: GetObject, its Body stream piped into
// fs.createWriteStream (stream.pipeline: back-pressure and errors).
//
//   node bench/node/s3-download.js s3://bucket/key FILE
'use strict';

const fs = require('node:fs');
const { pipeline } = require('node:stream/promises');
const { GetObjectCommand } = require('@aws-sdk/client-s3');
const { client, parseUrl, fail } = require('./s3-common');

const [url, file] = process.argv.slice(2);
if (!url || !file) {
  process.stderr.write('usage: node s3-download.js s3://bucket/key FILE\n');
  process.exit(2);
}

(async () => {
  const res = await client().send(new GetObjectCommand(parseUrl(url)));
  await pipeline(res.Body, fs.createWriteStream(file));
})().catch((err) => fail('s3-download.js', err));
