#!/usr/bin/env node
// Peer for `pipe csv2json`: the idiomatic Node.js streaming pipeline.
//
//   node bench/node/csv2json.js FILE > out.jsonl
//
// fs.createReadStream -> csv-parse({columns: true}) -> Transform that emits
// JSON.stringify(record) + '\n' -> process.stdout, wired with
// stream.pipeline so back-pressure and errors propagate. One JSON object per
// line, keys from the header row, all values strings (csv-parse does no type
// casting without `cast: true`) — the same shape as `pipe csv2json` without
// --infer.
'use strict';

const fs = require('node:fs');
const { Transform, pipeline } = require('node:stream');
const { parse } = require('csv-parse');

const file = process.argv[2];
if (!file) {
  process.stderr.write('usage: node csv2json.js FILE\n');
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
  process.stdout,
  (err) => {
    if (err) {
      process.stderr.write(`csv2json.js: ${err.message}\n`);
      process.exitCode = 1;
    }
  },
);
