#!/usr/bin/env node
// Peer for `pipe run 'FILE | csv2json | gzip | s3://b/k'`: the Node pipeline
// of bench/node/csv2json-gzip.js (createReadStream -> csv-parse -> JSON
// lines -> zlib.createGzip) into @aws-sdk/lib-storage's Upload (a stream of
// unknown length: 5 MiB parts, 4 in flight).
//
//   node bench/node/csv2json-gzip-s3.js FILE s3://bucket/key
'use strict';

const fs = require('node:fs');
const zlib = require('node:zlib');
const { Transform, PassThrough, pipeline } = require('node:stream');
const { parse } = require('csv-parse');
const { Upload } = require('@aws-sdk/lib-storage');
const { client, parseUrl, fail } = require('./s3-common');

const [file, url] = process.argv.slice(2);
if (!file || !url) {
  process.stderr.write('usage: node csv2json-gzip-s3.js FILE s3://bucket/key\n');
  process.exit(2);
}

const toJsonLines = new Transform({
  writableObjectMode: true,
  readableObjectMode: false,
  transform(record, _enc, cb) {
    cb(null, JSON.stringify(record) + '\n');
  },
});

const body = new PassThrough();
pipeline(fs.createReadStream(file), parse({ columns: true }), toJsonLines,
  zlib.createGzip(), body, (err) => {
    if (err) fail('csv2json-gzip-s3.js', err);
  });

(async () => {
  const up = new Upload({ client: client(), params: { ...parseUrl(url), Body: body } });
  await up.done();
})().catch((err) => fail('csv2json-gzip-s3.js', err));
