#include "support/csvj_run.h"

#include <criterion/criterion.h>
#include <stdlib.h>
#include <string.h>

#include "codec/csv_scan.h"

uint64_t csvj_rand(uint64_t* s) {
  uint64_t x = *s ? *s : 0x9E3779B97F4A7C15ULL;
  x ^= x >> 12;
  x ^= x << 25;
  x ^= x >> 27;
  *s = x;
  return x * 2685821657736338717ULL;
}

pipe_csvj_opts_t csvj_opts(void) {
  pipe_csvj_opts_t o;
  memset(&o, 0, sizeof(o));
  o.delim = ',';
  o.header = 1;
  return o;
}

typedef struct {
  char* p;
  size_t len, cap;
} sbuf_t;

static void sb_add(sbuf_t* b, const uint8_t* p, size_t n) {
  if (b->len + n + 1 > b->cap) {
    size_t nc = b->cap ? b->cap : 256;
    while (nc < b->len + n + 1) nc *= 2;
    b->p = realloc(b->p, nc);
    cr_assert_not_null(b->p);
    b->cap = nc;
  }
  if (n) memcpy(b->p + b->len, p, n);
  b->len += n;
  b->p[b->len] = 0;
}

void csvj_convert(const pipe_csvj_opts_t* o, int level, const void* vin,
                  size_t n, const size_t* splits, size_t nsplits,
                  size_t outcap, csvj_result_t* res) {
  const uint8_t* in = vin;
  pipe_csvj_t* cj = NULL;
  sbuf_t acc = {0};
  /* Exactly outcap bytes, so ASan sees any write past the cap we pass. */
  uint8_t* out = malloc(outcap);
  size_t used = 0, start = 0, k;
  int rc = 0;
  cr_assert_not_null(out);
  cr_assert_eq(pipe__csvj_new(o, &cj), 0);
  if (level >= 0) cr_assert_eq(pipe__csvj_set_scan_level(cj, level), 0);
  sb_add(&acc, (const uint8_t*)"", 0);
  for (k = 0; k <= nsplits && rc == 0; k++) {
    size_t end = k < nsplits ? splits[k] : n;
    if (end < start) end = start;
    if (end > n) end = n;
    while (start < end) {
      size_t c = 0, p = 0;
      rc = pipe__csvj_feed(cj, in + start, end - start, &c, out + used,
                           outcap - used, &p);
      cr_assert(c <= end - start);
      cr_assert(p <= outcap - used);
      start += c;
      used += p;
      if (rc < 0) break;
      cr_assert_eq(rc, 0, "feed returned %d", rc);
      /* The contract: progress whenever at least 256 bytes are free. */
      cr_assert(c > 0 || p > 0 || outcap - (used - p) < 256,
                "no progress with %zu bytes free", outcap - (used - p));
      if (outcap - used < 256 || (c == 0 && p == 0)) {
        sb_add(&acc, out, used);
        used = 0;
      }
    }
  }
  if (rc == 0) {
    for (;;) {
      size_t p = 0;
      rc = pipe__csvj_finish(cj, out + used, outcap - used, &p);
      used += p;
      if (rc != PIPE_FULL) break;
      cr_assert(p > 0 || outcap - (used - p) < 256, "finish: no progress");
      sb_add(&acc, out, used);
      used = 0;
    }
  }
  sb_add(&acc, out, used);
  res->out = acc.p;
  res->len = acc.len;
  res->rc = rc;
  res->err = *pipe__csvj_error(cj);
  res->records = pipe__csvj_records(cj);
  if (rc < 0) {
    size_t c = 9, p = 9;
    /* Errors are sticky. */
    cr_assert_eq(pipe__csvj_feed(cj, in, n, &c, out, outcap, &p), rc);
    cr_assert_eq(c, 0);
    cr_assert_eq(p, 0);
  }
  pipe__csvj_free(cj);
  free(out);
}

void csvj_result_free(csvj_result_t* res) {
  free(res->out);
  res->out = NULL;
}

/* Runs every variant and hands each result to check() against the first. */
static void all_runs(const pipe_csvj_opts_t* o, const void* in, size_t n,
                     csvj_result_t* ref) {
  uint64_t seed = 0x1234567ULL + n;
  int level;
  size_t i, t;
  csvj_convert(o, PIPE_CSV_SCAN_SCALAR, in, n, NULL, 0, 1 << 20, ref);
#define SAME(r, what)                                                        \
  do {                                                                       \
    cr_assert_eq((r)->rc, ref->rc, "%s: rc %d vs %d", what, (r)->rc,         \
                 ref->rc);                                                   \
    if (ref->rc == 0) {                                                      \
      cr_assert_eq((r)->len, ref->len, "%s: output\n%s\nvs\n%s", what,       \
                   (r)->out, ref->out);                                      \
      cr_assert(memcmp((r)->out, ref->out, ref->len) == 0,                   \
                "%s: output\n%s\nvs\n%s", what, (r)->out, ref->out);         \
      cr_assert_eq((r)->records, ref->records, "%s: records", what);         \
    } else {                                                                 \
      cr_assert_eq((r)->err.line, ref->err.line, "%s: line %llu vs %llu",    \
                   what, (unsigned long long)(r)->err.line,                  \
                   (unsigned long long)ref->err.line);                       \
      cr_assert_eq((r)->err.column, ref->err.column, "%s: column", what);    \
      cr_assert_eq((r)->err.offset, ref->err.offset, "%s: offset", what);    \
      cr_assert_str_eq((r)->err.msg, ref->err.msg, "%s: msg", what);         \
    }                                                                        \
  } while (0)
  for (level = 0; level < PIPE_CSV_SCAN_NLEVELS; level++) {
    csvj_result_t r;
    if (pipe__csv_scan_get(level) == NULL) continue;
    csvj_convert(o, level, in, n, NULL, 0, 1 << 20, &r);
    SAME(&r, pipe__csv_scan_name(level));
    csvj_result_free(&r);
    /* every single cut point, for short inputs */
    if (n <= 400) {
      for (i = 0; i <= n; i++) {
        csvj_result_t rs;
        csvj_convert(o, level, in, n, &i, 1, 256 + (i * 37) % 769, &rs);
        SAME(&rs, "single split");
        csvj_result_free(&rs);
      }
    }
    /* random multi-cuts with small output caps */
    for (t = 0; t < 24; t++) {
      size_t cuts[8], nc = 1 + csvj_rand(&seed) % 8, j;
      csvj_result_t rs;
      for (j = 0; j < nc; j++) cuts[j] = n ? csvj_rand(&seed) % (n + 1) : 0;
      for (j = 1; j < nc; j++) { /* sort */
        size_t v = cuts[j], m = j;
        while (m > 0 && cuts[m - 1] > v) {
          cuts[m] = cuts[m - 1];
          m--;
        }
        cuts[m] = v;
      }
      csvj_convert(o, level, in, n, cuts, nc, 256 + csvj_rand(&seed) % 769,
                   &rs);
      SAME(&rs, "multi split");
      csvj_result_free(&rs);
    }
  }
  /* byte at a time, minimum cap */
  if (n <= 100000) {
    size_t* cuts = malloc((n + 1) * sizeof(*cuts));
    csvj_result_t rs;
    for (i = 0; i <= n; i++) cuts[i] = i;
    csvj_convert(o, -1, in, n, cuts, n + 1, 256, &rs);
    SAME(&rs, "bytewise");
    csvj_result_free(&rs);
    free(cuts);
  }
#undef SAME
}

void csvj_expect_n(const pipe_csvj_opts_t* o, const void* in, size_t n,
                   const char* expected) {
  csvj_result_t ref;
  all_runs(o, in, n, &ref);
  cr_assert_eq(ref.rc, 0, "unexpected error %d: %s", ref.rc, ref.err.msg);
  cr_assert_str_eq(ref.out, expected);
  cr_assert_eq(ref.len, strlen(expected));
  csvj_result_free(&ref);
}

void csvj_expect(const pipe_csvj_opts_t* o, const char* in,
                 const char* expected) {
  csvj_expect_n(o, in, strlen(in), expected);
}

void csvj_expect_error(const pipe_csvj_opts_t* o, const void* in, size_t n,
                       int code, pipe_error_t* err) {
  csvj_result_t ref;
  all_runs(o, in, n, &ref);
  cr_assert_eq(ref.rc, code, "expected error %d, got %d (%s)", code, ref.rc,
               ref.err.msg);
  cr_assert_eq(ref.err.code, code);
  cr_assert(ref.err.has_offset);
  if (err) *err = ref.err;
  csvj_result_free(&ref);
}
