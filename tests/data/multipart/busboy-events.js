// Oracle for tests/codec/test_multipart.c: parses bodies with busboy
// (Debian node-busboy, the parser ours is modelled on) and writes the events
// in the C test's format:
//   B name=<name>|file=<filename or ->|ct=<mime type>
//   D<length>:<bytes>
//   E            (per part), then Z; or ERR <message> when busboy fails.
// Usage: NODE_PATH=/usr/share/nodejs node busboy-events.js DIR N
//   reads DIR/<i>.ctype and DIR/<i>.body, writes DIR/<i>.bb, for i < N.
'use strict';
const fs = require('fs');
const busboy = require('busboy');

function run(ctype, body) {
  return new Promise((resolve) => {
    const parts = [];
    let failed = null;
    const bb = busboy({
      headers: { 'content-type': ctype },
      preservePath: true, // the filename as sent, like ours
      defParamCharset: 'utf8',
      defCharset: 'latin1', // field bytes 1:1 (no charset= in our parts)
      limits: { fieldSize: Infinity, fieldNameSize: Infinity },
    });
    bb.on('file', (name, stream, info) => {
      const p = { name, file: info.filename, ct: info.mimeType, chunks: [] };
      parts.push(p);
      stream.on('data', (d) => p.chunks.push(d));
    });
    bb.on('field', (name, value, info) => {
      parts.push({ name, file: null, ct: info.mimeType,
                   chunks: [Buffer.from(value, 'latin1')] });
    });
    bb.on('error', (e) => { failed = e; resolve({ parts, failed }); });
    bb.on('close', () => resolve({ parts, failed }));
    bb.end(body);
  });
}

(async () => {
  const dir = process.argv[2], n = Number(process.argv[3]);
  for (let i = 0; i < n; i++) {
    const ctype = fs.readFileSync(`${dir}/${i}.ctype`, 'utf8');
    const body = fs.readFileSync(`${dir}/${i}.body`);
    const { parts, failed } = await run(ctype, body);
    const out = [];
    for (const p of parts) {
      const data = Buffer.concat(p.chunks);
      out.push(Buffer.from(`B name=${p.name}|file=${p.file === null ? '-' : p.file}` +
                           `|ct=${p.ct}\nD${data.length}:`));
      out.push(data, Buffer.from('\nE\n'));
    }
    out.push(Buffer.from(failed ? `ERR ${failed.message}\n` : 'Z\n'));
    fs.writeFileSync(`${dir}/${i}.bb`, Buffer.concat(out));
  }
})();
