#!/usr/bin/env node
// Peer for `pipe cp FILE s3://b/k`: @aws-sdk/lib-storage's Upload of a file
// read as a stream (fs.createReadStream), its defaults: 5 MiB parts, 4 in
// flight (queueSize), multipart above one part.
//
//   node bench/node/s3-upload.js FILE s3://bucket/key
//   ... | node bench/node/s3-upload.js - s3://bucket/key   (standard input)
'use strict';

const fs = require('node:fs');
const { Upload } = require('@aws-sdk/lib-storage');
const { client, parseUrl, fail } = require('./s3-common');

const [file, url] = process.argv.slice(2);
if (!file || !url) {
  process.stderr.write('usage: node s3-upload.js FILE s3://bucket/key\n');
  process.exit(2);
}

(async () => {
  const up = new Upload({
    client: client(),
    params: {
      ...parseUrl(url),
      Body: file === '-' ? process.stdin : fs.createReadStream(file),
    },
  });
  await up.done();
})().catch((err) => fail('s3-upload.js', err));
