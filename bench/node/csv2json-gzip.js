#!/usr/bin/env node
// Peer for `pipe run 'FILE | csv2json | gzip | OUT'`: the idiomatic Node.js
// streaming pipeline from CSV to gzipped NDJSON.
//
//   node bench/node/csv2json-gzip.js FILE OUT.json.gz
//
// fs.createReadStream -> csv-parse({columns: true}) -> Transform that emits
// JSON.stringify(record) + '\n' -> zlib.createGzip() -> fs.createWriteStream,
// wired with stream.pipeline so back-pressure and errors propagate. The NDJSON
// is the same as bench/node/csv2json.js (all values strings, like
// `pipe csv2json` without --infer). zlib's default level is 6 (the same as
// gzip, pigz and `pipe gzip`); zlib compresses on the libuv thread pool, off
// the main thread, so CPU time can exceed wall time a little.
'use strict';

const fs = require('node:fs');
const zlib = require('node:zlib');
const { Transform, pipeline } = require('node:stream');
const { parse } = require('csv-parse');

const [file, out] = process.argv.slice(2);
if (!file || !out) {
  process.stderr.write('usage: node csv2json-gzip.js FILE OUT.json.gz\n');
  process.exit(2);
}

const toJsonLines = new Transform({
  writableObjectMode: true, // records in
  readableObjectMode: false, // bytes out
  transform(record, _enc, cb) {
    cb(null, JSON.stringify(record) + '\n');
  },
});

pipeline(
  fs.createReadStream(file),
  parse({ columns: true }),
  toJsonLines,
  zlib.createGzip(),
  fs.createWriteStream(out),
  (err) => {
    if (err) {
      process.stderr.write(`csv2json-gzip.js: ${err.message}\n`);
      process.exitCode = 1;
    }
  },
);
