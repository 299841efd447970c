// The peer a Node developer would write for `pipe serve`: node:http + busboy,
// each file part piped (optionally through zlib gzip) into the store while a
// SHA-256 of the stored bytes is computed, answering the same JSON receipt.
//
//   node busboy-server.js --port 0 --store DIR            local files
//   node busboy-server.js --port 0 --s3 s3://bucket/prefix \
//        --endpoint-url http://127.0.0.1:PORT            @aws-sdk/lib-storage Upload
//
// Prints "listening PORT" on stdout once bound. POST /v1/uploads[?pipeline=gzip]
// only: the benchmark's route. Written as people write it (streams and
// pipeline(), no tuning), with temp file + rename so a failed upload is not
// visible, as pipe does.
'use strict';
const http = require('node:http');
const fs = require('node:fs');
const path = require('node:path');
const crypto = require('node:crypto');
const zlib = require('node:zlib');
const { pipeline, Transform, PassThrough } = require('node:stream');
const busboy = require('busboy');

const args = process.argv.slice(2);
const opt = (name, def) => {
  const i = args.indexOf(name);
  return i >= 0 ? args[i + 1] : def;
};
const port = Number(opt('--port', '0'));
const storeDir = opt('--store', null);
const s3url = opt('--s3', null);
let s3 = null, Upload = null, s3bucket = '', s3prefix = '';
if (s3url) {
  const { S3Client } = require('@aws-sdk/client-s3');
  ({ Upload } = require('@aws-sdk/lib-storage'));
  s3 = new S3Client({
    endpoint: opt('--endpoint-url', process.env.AWS_ENDPOINT_URL),
    region: process.env.AWS_REGION || 'us-east-1',
    forcePathStyle: true,
  });
  const m = /^s3:\/\/([^/]+)\/?(.*)$/.exec(s3url);
  s3bucket = m[1];
  s3prefix = m[2] ? m[2].replace(/\/?$/, '/') : '';
}

function hasher(h, counter) {
  return new Transform({
    transform(chunk, _enc, cb) {
      h.update(chunk);
      counter.n += chunk.length;
      cb(null, chunk);
    },
  });
}

function storeFile(file, info, gzip, done) {
  const key = crypto.randomUUID() + '/' + path.basename(info.filename || 'file');
  const inCount = { n: 0 }, outCount = { n: 0 };
  const sha = crypto.createHash('sha256');
  const stages = [file, hasher(crypto.createHash('sha256'), inCount)];
  if (gzip) stages.push(zlib.createGzip());
  stages.push(hasher(sha, outCount));
  const receipt = (etag) => ({
    field: info.fieldName, filename: info.filename, key,
    bytes_in: inCount.n, bytes_out: outCount.n, sha256: sha.digest('hex'), etag,
  });
  if (s3) {
    const body = new PassThrough();
    pipeline(...stages, body, (err) => { if (err) done(err); });
    const up = new Upload({ client: s3, params: { Bucket: s3bucket, Key: s3prefix + key, Body: body } });
    up.done().then((r) => done(null, receipt(r.ETag)), done);
    return;
  }
  const final = path.join(storeDir, key);
  fs.mkdirSync(path.dirname(final), { recursive: true });
  const tmp = final + '.part';
  pipeline(...stages, fs.createWriteStream(tmp), (err) => {
    if (err) { fs.rm(tmp, { force: true }, () => done(err)); return; }
    fs.rename(tmp, final, (e) => done(e, e ? null : receipt(null)));
  });
}

const server = http.createServer((req, res) => {
  const url = new URL(req.url, 'http://x');
  if (req.method !== 'POST' || url.pathname !== '/v1/uploads') {
    res.writeHead(404, { 'content-type': 'application/json' });
    res.end('{"error":"not found"}\n');
    return;
  }
  const gzip = url.searchParams.get('pipeline') === 'gzip';
  let bb;
  try {
    bb = busboy({ headers: req.headers });
  } catch (e) {
    res.writeHead(415, { 'content-type': 'application/json' });
    res.end(JSON.stringify({ error: e.message }) + '\n');
    return;
  }
  const files = [], fields = {};
  let pending = 0, ended = false, failed = false;
  const finish = () => {
    if (failed || !ended || pending) return;
    res.writeHead(201, { 'content-type': 'application/json' });
    res.end(JSON.stringify({ files, fields }) + '\n');
  };
  const fail = (err) => {
    if (failed) return;
    failed = true;
    req.unpipe(bb);
    res.writeHead(400, { 'content-type': 'application/json', connection: 'close' });
    res.end(JSON.stringify({ error: String(err && err.message) }) + '\n');
  };
  bb.on('file', (_name, file, info) => {
    pending++;
    info.fieldName = _name;
    storeFile(file, info, gzip, (err, r) => {
      pending--;
      if (err) return fail(err);
      files.push(r);
      finish();
    });
  });
  bb.on('field', (name, val) => { fields[name] = val; });
  bb.on('error', fail);
  bb.on('close', () => { ended = true; finish(); });
  req.pipe(bb);
});
server.listen(port, '127.0.0.1', () => {
  process.stdout.write('listening ' + server.address().port + '\n');
});
process.on('SIGTERM', () => server.close(() => process.exit(0)));
