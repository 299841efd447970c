/* libFuzzer target for the CSV -> JSON codec (src/codec/csv2json.c).
 *
 * Input layout: byte 0 = options (bit0 header, bit1 infer, bit2 array,
 * bit3 ragged, bits 4-5 scanner level), byte 1 = delimiter choice, bytes 2-3
 * = seed for cut points and output caps; the rest is the CSV.
 *
 * The CSV is converted twice: in one feed with a large output buffer on the
 * chosen scanner, and cut at pseudo-random points with output caps of
 * 256..1024 on the scalar scanner. Both runs must agree byte for byte, or
 * fail with the same error at the same place. Any disagreement, broken
 * contract (no progress, over-consumption) or sanitizer report is a bug. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "codec/csv2json.h"
#include "codec/csv_scan.h"

#include "fuzz_util.h"

typedef struct {
  fz_buf_t out;
  int rc;
  pipe_error_t err;
  uint64_t records;
} fz_run_t;

/* Feeds in[0,n) cut into pieces; seed 0 = one piece and a big buffer. */
static void fz_convert(const pipe_csvj_opts_t* o, int level, const uint8_t* in,
                       size_t n, uint64_t seed, fz_run_t* res) {
  pipe_csvj_t* cj;
  size_t cap = seed ? 256 + seed % 769 : 1 << 16;
  uint8_t* out = malloc(cap);
  size_t start = 0, used = 0;
  int rc = 0;
  memset(res, 0, sizeof(*res));
  if (out == NULL || pipe__csvj_new(o, &cj) != 0) __builtin_trap();
  if (pipe__csvj_set_scan_level(cj, level) != 0) __builtin_trap();
  while (start < n && rc == 0) {
    size_t end = n;
    if (seed) end = start + 1 + fz_rand(&seed) % (n - start < 97 ? n - start : 97);
    while (start < end) {
      size_t c = 0, p = 0;
      rc = pipe__csvj_feed(cj, in + start, end - start, &c, out + used,
                           cap - used, &p);
      if (c > end - start || p > cap - used) __builtin_trap();
      start += c;
      used += p;
      if (rc < 0) break;
      if (rc != 0) __builtin_trap();
      if (c == 0 && p == 0 && cap - used >= 256) __builtin_trap(); /* stuck */
      if (cap - used < 256 || (c == 0 && p == 0)) {
        fz_add(&res->out, out, used);
        used = 0;
      }
    }
  }
  while (rc == 0) {
    size_t p = 0;
    rc = pipe__csvj_finish(cj, out + used, cap - used, &p);
    used += p;
    if (rc != PIPE_FULL) break;
    if (p == 0 && cap - (used - p) >= 256) __builtin_trap();
    fz_add(&res->out, out, used);
    used = 0;
    rc = 0;
  }
  fz_add(&res->out, out, used);
  res->rc = rc;
  res->err = *pipe__csvj_error(cj);
  res->records = pipe__csvj_records(cj);
  pipe__csvj_free(cj);
  free(out);
}

int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  static const uint8_t delims[8] = {',', ';', '\t', '|', ' ', 0xA7, 'a', 0};
  pipe_csvj_opts_t o;
  fz_run_t a, b;
  int level;
  uint64_t seed;
  if (size < 4) return 0;
  memset(&o, 0, sizeof(o));
  o.header = data[0] & 1;
  o.infer = (data[0] >> 1) & 1;
  o.array = (data[0] >> 2) & 1;
  o.ragged = (data[0] >> 3) & 1;
  o.delim = delims[data[1] & 7];
  level = (data[0] >> 4) & 3;
  if (pipe__csv_scan_get(level) == NULL) level = PIPE_CSV_SCAN_SSE2;
  if (pipe__csv_scan_get(level) == NULL) level = PIPE_CSV_SCAN_SCALAR;
  seed = ((uint64_t)data[2] << 8 | data[3]) + 1;
  data += 4;
  size -= 4;
  fz_convert(&o, level, data, size, 0, &a);
  fz_convert(&o, PIPE_CSV_SCAN_SCALAR, data, size, seed, &b);
  if (a.rc != b.rc) __builtin_trap();
  if (a.rc == 0) {
    if (a.out.len != b.out.len) __builtin_trap();
    if (a.out.len && memcmp(a.out.p, b.out.p, a.out.len) != 0) __builtin_trap();
    if (a.records != b.records) __builtin_trap();
  } else {
    if (a.err.code != b.err.code || a.err.line != b.err.line ||
        a.err.column != b.err.column || a.err.offset != b.err.offset ||
        strcmp(a.err.msg, b.err.msg) != 0)
      __builtin_trap();
  }
  free(a.out.p);
  free(b.out.p);
  return 0;
}
