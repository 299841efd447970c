/* Differential test: our converter against libcsv on random RFC 4180 CSV.
 *
 * Each case is a random CSV (seeded, so failures reproduce): random field
 * counts, quoting, "" escapes, embedded delimiters and LF / CRLF / CR
 * newlines, empty fields, control bytes, backslashes and multi-byte UTF-8,
 * random delimiter, LF, CRLF or lone CR line ends (libcsv ends a record at
 * each, as Python's csv), final newline or not. libcsv parses it
 * (fed at random cut points, with space trimming off); a small reference
 * encoder turns its fields into the NDJSON we must produce (no header, ragged
 * rows, keys "1","2",...). Our converter runs it at random cut points with
 * output caps of 256..1024, once per scanner level. */
#include <criterion/criterion.h>
#include <csv.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "codec/csv2json.h"
#include "codec/csv_scan.h"
#include "support/csvj_run.h"

#define CASES_PER_LEVEL 1500

typedef struct {
  char* p;
  size_t len, cap;
} dbuf_t;

static void db_add(dbuf_t* b, const void* p, size_t n) {
  if (b->len + n + 1 > b->cap) {
    size_t nc = b->cap ? b->cap : 1024;
    while (nc < b->len + n + 1) nc *= 2;
    b->p = realloc(b->p, nc);
    cr_assert_not_null(b->p);
    b->cap = nc;
  }
  memcpy(b->p + b->len, p, n);
  b->len += n;
  b->p[b->len] = 0;
}

static void db_addc(dbuf_t* b, char c) { db_add(b, &c, 1); }

/* Reference JSON string encoder, written independently of the codec's. */
static void ref_json_string(dbuf_t* b, const unsigned char* s, size_t n) {
  size_t i;
  db_addc(b, '"');
  for (i = 0; i < n; i++) {
    unsigned char c = s[i];
    char tmp[8];
    if (c == '"') db_add(b, "\\\"", 2);
    else if (c == '\\') db_add(b, "\\\\", 2);
    else if (c == '\n') db_add(b, "\\n", 2);
    else if (c == '\r') db_add(b, "\\r", 2);
    else if (c == '\t') db_add(b, "\\t", 2);
    else if (c == '\b') db_add(b, "\\b", 2);
    else if (c == '\f') db_add(b, "\\f", 2);
    else if (c < 0x20) {
      snprintf(tmp, sizeof(tmp), "\\u%04x", c);
      db_add(b, tmp, 6);
    } else {
      db_addc(b, (char)c);
    }
  }
  db_addc(b, '"');
}

typedef struct {
  dbuf_t out;
  unsigned long col;
} ref_t;

static void cb_field(void* s, size_t n, void* data) {
  ref_t* r = data;
  char key[32];
  int kn = snprintf(key, sizeof(key), "%s\"%lu\":", r->col ? "," : "{",
                    r->col + 1);
  db_add(&r->out, key, (size_t)kn);
  ref_json_string(&r->out, s, n);
  r->col++;
}

static void cb_record(int c, void* data) {
  ref_t* r = data;
  (void)c;
  if (r->col == 0) return; /* libcsv reports no fields for blank lines */
  db_add(&r->out, "}\n", 2);
  r->col = 0;
}

static int no_space(unsigned char c) {
  (void)c;
  return 0;
}

/* Appends one random field's content (raw, unquoted) to f. */
static void gen_content(uint64_t* st, dbuf_t* f, char delim, int quoted) {
  static const char* const pieces[] = {
      "a", "b", "Z", "0", "42", "3.5", " ", "-", "x y", "\\", "\t", "\x01",
      "\xC3\xA9", "\xE2\x82\xAC", "\xF0\x9F\x98\x80", "\x7F", "'", "{}"};
  size_t n = csvj_rand(st) % 12, i;
  if (csvj_rand(st) % 8 == 0) n = 60 + csvj_rand(st) % 120; /* long ones */
  for (i = 0; i < n; i++) {
    uint64_t r = csvj_rand(st) % 40;
    if (quoted && r == 0) db_addc(f, '"');
    else if (quoted && r == 1) db_addc(f, delim);
    else if (quoted && r == 2) db_addc(f, '\n');
    else if (quoted && r == 3) db_add(f, "\r\n", 2);
    else if (quoted && r == 4) db_addc(f, '\r'); /* data inside quotes */
    else db_add(f, pieces[r % 18], strlen(pieces[r % 18]));
  }
}

static void gen_csv(uint64_t* st, dbuf_t* csv, char delim) {
  size_t nrec = 1 + csvj_rand(st) % 25, r, k;
  int crlf = csvj_rand(st) % 3 == 0;
  int cr_only = !crlf && csvj_rand(st) % 3 == 0;
  size_t nf_fixed = 1 + csvj_rand(st) % 8;
  for (r = 0; r < nrec; r++) {
    size_t nf = csvj_rand(st) % 4 == 0 ? 1 + csvj_rand(st) % 10 : nf_fixed;
    for (k = 0; k < nf; k++) {
      dbuf_t f = {0};
      int quoted = csvj_rand(st) % 3 == 0;
      size_t i;
      db_add(&f, "", 0);
      gen_content(st, &f, delim, quoted);
      /* A lone empty unquoted field would be a blank line: quote it. */
      if (nf == 1 && f.len == 0) quoted = 1;
      if (k) db_addc(csv, delim);
      if (quoted) {
        db_addc(csv, '"');
        for (i = 0; i < f.len; i++) {
          if (f.p[i] == '"') db_addc(csv, '"');
          db_addc(csv, f.p[i]);
        }
        db_addc(csv, '"');
      } else {
        db_add(csv, f.p, f.len);
      }
      free(f.p);
    }
    if (r + 1 < nrec || csvj_rand(st) % 2) {
      uint64_t e = csvj_rand(st) % 5;
      if (cr_only || e == 4) db_addc(csv, '\r'); /* classic Mac */
      else if (crlf || e == 3) db_add(csv, "\r\n", 2);
      else db_addc(csv, '\n');
    }
    if (csvj_rand(st) % 10 == 0) db_addc(csv, '\n'); /* blank line */
  }
}

static void run_level(int level) {
  static const char delims[] = {',', ';', '\t', '|'};
  uint64_t st = 0xC0FFEEULL + (uint64_t)level;
  int c;
  if (pipe__csv_scan_get(level) == NULL)
    cr_skip_test("scanner level %s not available here",
                 pipe__csv_scan_name(level));
  for (c = 0; c < CASES_PER_LEVEL; c++) {
    dbuf_t csv = {0};
    ref_t ref;
    struct csv_parser cp;
    char delim = delims[csvj_rand(&st) % 4];
    size_t cuts[6], nc = csvj_rand(&st) % 6, i, pos = 0;
    pipe_csvj_opts_t o = csvj_opts();
    csvj_result_t res;
    memset(&ref, 0, sizeof(ref));
    db_add(&csv, "", 0);
    db_add(&ref.out, "", 0);
    gen_csv(&st, &csv, delim);
    for (i = 0; i < nc; i++) cuts[i] = csvj_rand(&st) % (csv.len + 1);
    for (i = 1; i < nc; i++) { /* sort the cuts */
      size_t v = cuts[i], m = i;
      while (m > 0 && cuts[m - 1] > v) {
        cuts[m] = cuts[m - 1];
        m--;
      }
      cuts[m] = v;
    }
    /* libcsv, fed in the same pieces */
    cr_assert_eq(csv_init(&cp, 0), 0);
    csv_set_delim(&cp, (unsigned char)delim);
    csv_set_space_func(&cp, no_space);
    for (i = 0; i <= nc; i++) {
      size_t end = i < nc ? cuts[i] : csv.len;
      if (end < pos) continue;
      cr_assert_eq(csv_parse(&cp, csv.p + pos, end - pos, cb_field,
                             cb_record, &ref), end - pos);
      pos = end;
    }
    csv_fini(&cp, cb_field, cb_record, &ref);
    csv_free(&cp);
    /* us */
    o.delim = (uint8_t)delim;
    o.header = 0;
    o.ragged = 1;
    csvj_convert(&o, level, csv.p, csv.len, cuts, nc,
                 256 + csvj_rand(&st) % 769, &res);
    cr_assert_eq(res.rc, 0, "case %d: error %s\ninput:\n%s", c, res.err.msg,
                 csv.p);
    cr_assert_str_eq(res.out, ref.out.p, "case %d (%s) input:\n%s", c,
                     pipe__csv_scan_name(level), csv.p);
    csvj_result_free(&res);
    free(csv.p);
    free(ref.out.p);
  }
}

Test(csv_libcsv_diff, scalar_scanner_matches_libcsv) { run_level(PIPE_CSV_SCAN_SCALAR); }
Test(csv_libcsv_diff, sse2_scanner_matches_libcsv) { run_level(PIPE_CSV_SCAN_SSE2); }
Test(csv_libcsv_diff, avx2_scanner_matches_libcsv) { run_level(PIPE_CSV_SCAN_AVX2); }
Test(csv_libcsv_diff, avx512_scanner_matches_libcsv) { run_level(PIPE_CSV_SCAN_AVX512); }
