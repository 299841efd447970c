// The Node peer of `pipe serve` for bench/serve/run.sh: node:http + busboy
// (Debian's node-busboy, NODE_PATH=/usr/share/nodejs), every file part piped
// into a temp file in the store while a SHA-256 of the stored bytes is
// computed; fsync + rename, then the same JSON receipt. ?pipeline=gzip
// pipes the part through zlib.createGzip() first.
//   node peer.js STORE_DIR PORT_FILE
'use strict';
const http = require('node:http');
const fs = require('node:fs');
const path = require('node:path');
const crypto = require('node:crypto');
const zlib = require('node:zlib');
const { pipeline, Transform } = require('node:stream');
const busboy = require('busboy');

const [store, portFile] = process.argv.slice(2);
fs.mkdirSync(store, { recursive: true });

function hashing(h, counter) {
  return new Transform({
    transform(chunk, _enc, cb) { h.update(chunk); counter.n += chunk.length; cb(null, chunk); },
  });
}

const server = http.createServer((req, res) => {
  const url = new URL(req.url, 'http://x');
  if (req.method !== 'POST' || url.pathname !== '/v1/uploads') {
    res.writeHead(404).end('{"error":"not found"}\n');
    return;
  }
  const gzip = url.searchParams.get('pipeline') === 'gzip';
  const files = [];
  const fields = {};
  let pending = 0, ended = false, failed = false;
  const done = () => {
    if (!ended || pending > 0 || failed) return;
    res.writeHead(201, { 'content-type': 'application/json' });
    res.end(JSON.stringify({ files, fields }) + '\n');
  };
  const bb = busboy({ headers: req.headers });
  bb.on('file', (field, stream, info) => {
    pending++;
    const key = crypto.randomUUID() + '/' + path.basename(info.filename || 'file');
    const final = path.join(store, key);
    fs.mkdirSync(path.dirname(final), { recursive: true });
    const tmp = final + '.tmp';
    const h = crypto.createHash('sha256');
    const inCount = { n: 0 }, outCount = { n: 0 };
    const out = fs.createWriteStream(tmp);
    const stages = [stream, hashing(crypto.createHash('sha256'), inCount)];
    if (gzip) stages.push(zlib.createGzip());
    stages.push(hashing(h, outCount), out);
    pipeline(...stages, (err) => {
      if (err) { failed = true; res.writeHead(500).end('{"error":"store"}\n'); return; }
      fs.fsync(out.fd === null ? fs.openSync(tmp, 'r+') : out.fd, () => {
        fs.renameSync(tmp, final);
        files.push({ field, filename: info.filename, key, bytes_in: inCount.n,
                     bytes_out: outCount.n, sha256: h.digest('hex'), etag: '' });
        pending--;
        done();
      });
    });
  });
  bb.on('field', (name, value) => { fields[name] = value; });
  bb.on('close', () => { ended = true; done(); });
  bb.on('error', () => { failed = true; res.writeHead(400).end('{"error":"bad body"}\n'); });
  req.pipe(bb);
});

server.listen(0, '127.0.0.1', () => {
  fs.writeFileSync(portFile + '.tmp', String(server.address().port) + '\n');
  fs.renameSync(portFile + '.tmp', portFile);
});
process.on('SIGTERM', () => server.close(() => process.exit(0)));
