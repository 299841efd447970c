/* The spec grammar: what parses (blanks, quotes, '|' inside quotes, '-',
 * every stage and option), what does not and exactly where the error
 * points, the caret rendering, the shared stage option parser, and specs
 * built into pipelines and run end to end on temporary files. */
#include <criterion/criterion.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "support/harness.h"

TestSuite(spec, .init = th_loop_init, .fini = th_loop_fini);

/* ---- helpers ------------------------------------------------------------- */

static pipe_spec_t* parse_ok(const char* text) {
  pipe_spec_t* sp = NULL;
  pipe_error_t e;
  int r = pipe_spec_parse(text, &sp, &e);
  cr_assert_eq(r, 0, "parse [%s]: %d %s (column %llu)", text, r, e.msg,
               (unsigned long long)e.column);
  cr_assert_not_null(sp);
  return sp;
}

/* Asserts that text fails with PIPE_EUSAGE, message `msg` (exact), pointing
 * at 1-based character column `col` and byte offset `off`. */
static void expect_error_at(const char* text, const char* msg, uint64_t col,
                            uint64_t off) {
  pipe_spec_t* sp = (pipe_spec_t*)1;
  pipe_error_t e;
  int r = pipe_spec_parse(text, &sp, &e);
  cr_assert_eq(r, PIPE_EUSAGE, "parse [%s] returned %d, want EUSAGE", text, r);
  cr_assert_null(sp);
  cr_assert_eq(e.code, PIPE_EUSAGE);
  cr_assert_str_eq(e.msg, msg, "[%s]", text);
  cr_assert_eq(e.has_offset, 1);
  cr_assert_eq(e.column, col, "[%s]: column %llu, want %llu", text,
               (unsigned long long)e.column, (unsigned long long)col);
  cr_assert_eq(e.offset, off, "[%s]: offset %llu, want %llu", text,
               (unsigned long long)e.offset, (unsigned long long)off);
}

/* ASCII specs: the column is the byte offset + 1. */
static void expect_error(const char* text, const char* msg, uint64_t col) {
  expect_error_at(text, msg, col, col - 1);
}

/* A temporary directory with IN and OUT paths for end-to-end runs. */
typedef struct files_s {
  char* dir;
  char* in;
  char* out;
} files_t;

static files_t files_new(const void* input, size_t len) {
  files_t f;
  f.dir = th_tmpdir();
  f.in = th_path(f.dir, "in");
  f.out = th_path(f.dir, "out");
  th_write_file(f.in, input, len);
  return f;
}

static void files_free(files_t* f) {
  unlink(f->in);
  unlink(f->out);
  rmdir(f->dir);
  free(f->in);
  free(f->out);
  free(f->dir);
}

/* Builds the spec printf(fmt, ...) into a pipeline and runs it; returns the
 * run status. *hex (if not NULL) gets a copy of the first hash digest. */
static int run_spec(char** hex, const char* fmt, ...)
#if defined(__GNUC__)
    __attribute__((format(printf, 2, 3)))
#endif
    ;
static int run_spec(char** hex, const char* fmt, ...) {
  char text[1024];
  va_list ap;
  pipe_spec_t* sp;
  pipe_pipeline_t* pl;
  pipe_error_t e;
  pipe_stage_t* s;
  int st, r;
  va_start(ap, fmt);
  vsnprintf(text, sizeof(text), fmt, ap);
  va_end(ap);
  sp = parse_ok(text);
  pl = th_pipeline(NULL);
  r = pipe_spec_build(sp, pl, &e);
  cr_assert_eq(r, 0, "build [%s]: %d %s", text, r, e.msg);
  pipe_spec_free(sp); /* the pipeline keeps its own copies */
  st = th_run(pl);
  if (hex != NULL) {
    *hex = NULL;
    for (s = pipe_pipeline_first(pl); s != NULL; s = s->next)
      if (pipe_hash_hex(s) != NULL) {
        *hex = strdup(pipe_hash_hex(s));
        break;
      }
  }
  th_finish(pl);
  return st;
}

static void assert_file_text(const char* path, const char* want) {
  size_t n = 0;
  uint8_t* got = th_read_file(path, &n);
  cr_assert_not_null(got, "%s is missing", path);
  cr_assert_str_eq((char*)got, want);
  cr_assert_eq(n, strlen(want));
  free(got);
}

static size_t file_size(const char* path) {
  size_t n = 0;
  uint8_t* b = th_read_file(path, &n);
  cr_assert_not_null(b, "%s is missing", path);
  free(b);
  return n;
}

/* ---- valid specs --------------------------------------------------------- */

Test(spec, source_and_sink_alone_are_a_spec) {
  pipe_spec_t* sp = parse_ok("in.csv | out.json");
  cr_assert_eq(pipe_spec_count(sp), 2);
  cr_assert_str_eq(pipe_spec_source(sp), "in.csv");
  cr_assert_str_eq(pipe_spec_sink(sp), "out.json");
  cr_assert_str_eq(pipe_spec_stage_name(sp, 0), "file");
  cr_assert_str_eq(pipe_spec_stage_name(sp, 1), "file");
  cr_assert_null(pipe_spec_stage_name(sp, 2));
  pipe_spec_free(sp);
}

Test(spec, dash_means_stdin_and_stdout) {
  pipe_spec_t* sp = parse_ok("- | csv2json | -");
  cr_assert_eq(pipe_spec_count(sp), 3);
  cr_assert_str_eq(pipe_spec_source(sp), "-");
  cr_assert_str_eq(pipe_spec_sink(sp), "-");
  cr_assert_str_eq(pipe_spec_stage_name(sp, 0), "stdin");
  cr_assert_str_eq(pipe_spec_stage_name(sp, 1), "csv2json");
  cr_assert_str_eq(pipe_spec_stage_name(sp, 2), "stdout");
  pipe_spec_free(sp);
}

Test(spec, bars_need_no_blanks_and_blanks_may_be_anything) {
  pipe_spec_t* sp = parse_ok("a|csv2json|gzip|b");
  cr_assert_eq(pipe_spec_count(sp), 4);
  cr_assert_str_eq(pipe_spec_stage_name(sp, 2), "gzip");
  pipe_spec_free(sp);
  sp = parse_ok("  \tin.csv\t|\n  csv2json   --infer\r\n|  out.json  ");
  cr_assert_eq(pipe_spec_count(sp), 3);
  cr_assert_str_eq(pipe_spec_source(sp), "in.csv");
  cr_assert_str_eq(pipe_spec_sink(sp), "out.json");
  pipe_spec_free(sp);
}

Test(spec, quotes_group_words_with_blanks) {
  pipe_spec_t* sp = parse_ok("'my data.csv' | \"out dir/out file.json\"");
  cr_assert_str_eq(pipe_spec_source(sp), "my data.csv");
  cr_assert_str_eq(pipe_spec_sink(sp), "out dir/out file.json");
  pipe_spec_free(sp);
}

Test(spec, double_quotes_unescape_only_quote_and_backslash) {
  pipe_spec_t* sp = parse_ok("\"a\\\"b\\\\c\\t\" | 'x\\\"y'");
  cr_assert_str_eq(pipe_spec_source(sp), "a\"b\\c\\t");
  cr_assert_str_eq(pipe_spec_sink(sp), "x\\\"y", "single quotes: literal");
  pipe_spec_free(sp);
  sp = parse_ok("\"it's\" | 'say \"hi\"'");
  cr_assert_str_eq(pipe_spec_source(sp), "it's");
  cr_assert_str_eq(pipe_spec_sink(sp), "say \"hi\"");
  pipe_spec_free(sp);
}

Test(spec, quoted_and_plain_pieces_that_touch_form_one_word) {
  pipe_spec_t* sp = parse_ok("in'put 1'.csv | o\"u\"t");
  cr_assert_str_eq(pipe_spec_source(sp), "input 1.csv");
  cr_assert_str_eq(pipe_spec_sink(sp), "out");
  pipe_spec_free(sp);
}

Test(spec, a_bar_inside_quotes_does_not_separate_stages) {
  pipe_spec_t* sp = parse_ok("in | csv2json -d '|' | out");
  cr_assert_eq(pipe_spec_count(sp), 3);
  pipe_spec_free(sp);
  sp = parse_ok("in | csv2json -d\"|\" --infer | 'a|b'");
  cr_assert_eq(pipe_spec_count(sp), 3);
  cr_assert_str_eq(pipe_spec_sink(sp), "a|b");
  pipe_spec_free(sp);
}

/* Every spec form the parser accepts: each must also build (below). */
static const char* const ok[] = {
      "i | csv2json | o",
      "i | csv2json -d ; | o",
      "i | csv2json -d';' | o",
      "i | csv2json --delimiter ';' | o",
      "i | csv2json --delimiter=';' | o",
      "i | csv2json -d '\\t' | o",
      "i | csv2json -d \\t | o",
      "i | csv2json -d tab | o",
      "i | csv2json --no-header --infer --array --ragged | o",
      "i | csv2json -d , -d ';' | o", /* the last wins */
      "i | gzip | o",
      "i | gzip -1 | o",
      "i | gzip -9 --threads 4 | o",
      "i | gzip --level 5 --threads 0 --block-size 131072 | o",
      "i | gzip --level=3 --threads=2 --block-size=1M | o",
      "i | gzip --block-size 64K | o",
      "i | gzip --block-size 64KiB | o",
      "i | gzip --block-size 64M | o",
      "i | gzip --threads 256 --block-size 1K | o",
      "i | gunzip | o",
      "i | hash | o",
      "i | hash sha256 | o",
      "i | hash md5 | o",
      "i | hash crc32c | o",
      "i | gunzip | csv2json --infer | hash md5 | gzip -9 | o",
};

Test(spec, every_stage_and_option_parses) {
  size_t i;
  for (i = 0; i < sizeof(ok) / sizeof(*ok); i++)
    pipe_spec_free(parse_ok(ok[i]));
}

Test(spec, every_accepted_spec_builds_into_a_pipeline) {
  /* One range per option: what the parser accepts, the stage constructors
   * accept too (a spec must not pass and then fail at build or run). */
  size_t i;
  for (i = 0; i < sizeof(ok) / sizeof(*ok); i++) {
    pipe_spec_t* sp = parse_ok(ok[i]);
    pipe_pipeline_t* pl = th_pipeline(NULL);
    pipe_error_t e;
    int r = pipe_spec_build(sp, pl, &e);
    cr_expect_eq(r, 0, "[%s] parsed but did not build: %s", ok[i], e.msg);
    pipe_spec_free(sp);
    pipe_pipeline_free(pl);
    uv_run(th_loop(), UV_RUN_DEFAULT);
  }
}

Test(spec, out_of_range_values_are_refused_by_the_spec_pointing_at_them) {
  expect_error("in | gzip --block-size 128M | out",
               "gzip: block size must be 1K..64M bytes (suffix K, M or G), got "
               "'128M'",
               24);
  expect_error("in | gzip --threads 257 | out",
               "gzip: threads must be 0..256 (0: one per CPU), got '257'", 21);
  expect_error("in | gzip --block-size 1023 | out",
               "gzip: block size must be 1K..64M bytes (suffix K, M or G), got "
               "'1023'",
               24);
}

/* The stage built from words, for reading its configuration back. */
static pipe_stage_t* add_words(pipe_pipeline_t* pl, int argc, char** argv) {
  pipe_error_t e;
  pipe_stage_t* s = NULL;
  cr_assert_eq(pipe_spec_add_stage(pl, argc, argv, &s, &e), 0, "%s: %s",
               argv[0], e.msg);
  cr_assert_not_null(s);
  return s;
}

Test(spec, gzip_options_reach_the_stage) {
  pipe_pipeline_t* pl = th_pipeline(NULL);
  char* a[] = {"gzip", "--threads", "3", "--block-size", "64K"};
  char* b[] = {"gzip", "--threads=256", "--block-size=64M", "-1"};
  pipe_gzip_stats_t st = pipe_gzip_stats(add_words(pl, 5, a));
  cr_assert_eq(st.threads, 3);
  cr_assert_eq(st.block_size, 64 * 1024);
  st = pipe_gzip_stats(add_words(pl, 4, b));
  cr_assert_eq(st.threads, 256);
  cr_assert_eq(st.block_size, (size_t)64 << 20);
  pipe_pipeline_free(pl);
  uv_run(th_loop(), UV_RUN_DEFAULT);
}

/* Runs `in | STAGE WORDS | out` on csv and returns out's text (malloc'd). */
static char* run_words(const char* csv, const char* words) {
  files_t f = files_new(csv, strlen(csv));
  size_t n = 0;
  char* got;
  cr_assert_eq(run_spec(NULL, "%s | %s | %s", f.in, words, f.out), 0, "%s",
               words);
  got = (char*)th_read_file(f.out, &n);
  cr_assert_not_null(got);
  files_free(&f);
  return got;
}

Test(spec, every_csv2json_option_reaches_the_stage) {
  static const struct { const char* words; const char* csv; const char* want; }
      t[] = {
          {"csv2json", "a,b\n1,2\n", "{\"a\":\"1\",\"b\":\"2\"}\n"},
          {"csv2json -d ';'", "a;b\n1;2\n", "{\"a\":\"1\",\"b\":\"2\"}\n"},
          {"csv2json --delimiter=tab", "a\tb\n1\t2\n",
           "{\"a\":\"1\",\"b\":\"2\"}\n"},
          {"csv2json --no-header", "a,b\n", "{\"1\":\"a\",\"2\":\"b\"}\n"},
          {"csv2json --infer", "a,b\n1,true\n", "{\"a\":1,\"b\":true}\n"},
          {"csv2json --array", "a\n1\n", "[\n{\"a\":\"1\"}\n]\n"},
          {"csv2json --ragged", "a\n1,2\n", "{\"a\":\"1\",\"_2\":\"2\"}\n"},
      };
  size_t i;
  for (i = 0; i < sizeof(t) / sizeof(t[0]); i++) {
    char* got = run_words(t[i].csv, t[i].words);
    cr_expect_str_eq(got, t[i].want, "[%s]", t[i].words);
    free(got);
  }
}

Test(spec, gzip_level_reaches_the_stage) {
  /* -1 and -9 on the same compressible text give different sizes. */
  size_t n = 200 * 1000, i;
  char* csv = malloc(n + 1);
  files_t f;
  size_t fast, best;
  for (i = 0; i < n; i++) csv[i] = "abcdefgh,\n"[(i * i / 7) % 10];
  csv[n] = 0;
  f = files_new(csv, n);
  cr_assert_eq(run_spec(NULL, "%s | gzip -1 | %s", f.in, f.out), 0);
  fast = file_size(f.out);
  cr_assert_eq(run_spec(NULL, "%s | gzip --level 9 | %s", f.in, f.out), 0);
  best = file_size(f.out);
  cr_assert_lt(best, fast, "-9 gave %zu bytes, -1 %zu", best, fast);
  files_free(&f);
  free(csv);
}

Test(spec, s3_urls_parse_as_source_and_sink) {
  pipe_spec_t* sp =
      parse_ok("s3://bucket/in.csv | csv2json | s3://b/out/x.json");
  cr_assert_str_eq(pipe_spec_stage_name(sp, 0), "s3");
  cr_assert_str_eq(pipe_spec_stage_name(sp, 2), "s3");
  cr_assert_str_eq(pipe_spec_source(sp), "s3://bucket/in.csv");
  pipe_spec_free(sp);
}

/* ---- errors, and where they point ---------------------------------------- */

Test(spec, unknown_stage_points_at_its_name) {
  expect_error("in.csv | gzipp -9 | out",
               "unknown stage 'gzipp' (did you mean 'gzip'?)", 10);
  expect_error("in.csv | csv2json | frobnicate | out",
               "unknown stage 'frobnicate' (stages: csv2json, gzip, gunzip, "
               "hash)",
               21);
  expect_error("in | '' | out",
               "unknown stage '' (stages: csv2json, gzip, gunzip, hash)", 6);
}

Test(spec, unknown_option_points_at_the_option) {
  expect_error("in | csv2json --infer --frob | out",
               "csv2json: unknown option '--frob'", 23);
  expect_error("in | gzip -9 --fast | out", "gzip: unknown option '--fast'",
               14);
  expect_error("in | gunzip -v | out", "gunzip: unknown option '-v'", 13);
  expect_error("in | hash --md5 | out", "hash: unknown option '--md5'", 11);
  expect_error("in | csv2json extra | out",
               "csv2json: unexpected argument 'extra'", 15);
  expect_error("in | gunzip now | out", "gunzip: takes no arguments, got 'now'",
               13);
}

Test(spec, bad_gzip_level_points_at_the_level) {
  expect_error("in | gzip -0 | out", "gzip: level must be 1..9, got '-0'", 11);
  expect_error("in | gzip -10 | out", "gzip: level must be 1..9, got '-10'",
               11);
  expect_error("in | gzip --level 10 | out",
               "gzip: level must be 1..9, got '10'", 19);
  expect_error("in | gzip --level=x | out", "gzip: level must be 1..9, got 'x'",
               11);
}

Test(spec, bad_numbers_and_sizes_point_at_the_value) {
  expect_error("in | gzip --threads -1 | out",
               "gzip: threads must be 0..256 (0: one per CPU), got '-1'", 21);
  expect_error("in | gzip --threads 999 | out",
               "gzip: threads must be 0..256 (0: one per CPU), got '999'", 21);
  expect_error("in | gzip --block-size 12 | out",
               "gzip: block size must be 1K..64M bytes (suffix K, M or G), got "
               "'12'",
               24);
  expect_error("in | gzip --block-size 2G | out",
               "gzip: block size must be 1K..64M bytes (suffix K, M or G), got "
               "'2G'",
               24);
  expect_error("in | gzip --block-size 64KB | out",
               "gzip: block size must be 1K..64M bytes (suffix K, M or G), got "
               "'64KB'",
               24);
  expect_error("in | gzip --threads 99999999999999999999999 | out",
               "gzip: threads must be 0..256 (0: one per CPU), got "
               "'99999999999999999999999'",
               21);
}

Test(spec, missing_option_value_points_at_the_option) {
  expect_error("in | csv2json -d | out", "csv2json: option '-d' needs a value",
               15);
  expect_error("in | csv2json --infer --delimiter | out",
               "csv2json: option '--delimiter' needs a value", 23);
  expect_error("in | gzip --level | out",
               "gzip: option '--level' needs a value", 11);
  expect_error("in | gzip -9 --block-size | out",
               "gzip: option '--block-size' needs a value", 14);
}

Test(spec, bad_delimiter_points_at_the_value) {
  expect_error("in | csv2json -d ab | out",
               "csv2json: the delimiter must be one byte, '\\t' or 'tab', got "
               "'ab'",
               18);
  expect_error("in | csv2json -d '' | out",
               "csv2json: the delimiter must be one byte, '\\t' or 'tab', got "
               "''",
               18);
  expect_error("in | csv2json --delimiter '\"' | out",
               "csv2json: the delimiter cannot be '\"' (the quote)", 27);
  expect_error("in | csv2json -d \"\n\" | out",
               "csv2json: the delimiter cannot be a line break", 18);
  expect_error("in | csv2json -dxy | out",
               "csv2json: the delimiter must be one byte, '\\t' or 'tab', got "
               "'xy'",
               15);
}

Test(spec, bad_hash_algorithm_points_at_it) {
  expect_error("in | hash sha1 | out",
               "hash: unknown algorithm 'sha1' (sha256, md5 or crc32c)", 11);
  expect_error("in | hash md5 sha256 | out",
               "hash: one algorithm at most, got 'sha256' too", 15);
}

Test(spec, empty_stage_points_at_the_second_bar) {
  expect_error("a | | b", "empty stage between '|' and '|'", 5);
  expect_error("a | csv2json || b", "empty stage between '|' and '|'", 15);
}

Test(spec, trailing_bar_points_at_the_bar) {
  expect_error("a | csv2json |", "missing sink after '|'", 14);
  expect_error("a |   ", "missing sink after '|'", 3);
}

Test(spec, leading_bar_points_at_the_bar) {
  expect_error("| csv2json | b", "missing source before '|'", 1);
  expect_error("   |b", "missing source before '|'", 4);
}

Test(spec, one_group_only_points_just_after_it) {
  expect_error("in.csv",
               "missing '| SINK' after the source (a spec is 'SOURCE | "
               "[STAGE ... |] SINK')",
               7);
  expect_error("  in.csv  ",
               "missing '| SINK' after the source (a spec is 'SOURCE | "
               "[STAGE ... |] SINK')",
               9);
}

Test(spec, empty_spec_is_an_error_at_column_1) {
  expect_error("", "empty spec: expected 'SOURCE | [STAGE ... |] SINK'", 1);
  expect_error(" \t ", "empty spec: expected 'SOURCE | [STAGE ... |] SINK'", 1);
}

Test(spec, multi_word_source_or_sink_points_at_the_second_word) {
  expect_error("in.csv extra | out",
               "the source must be one path or '-', got 2 words (missing '|'?)",
               8);
  expect_error("in.csv csv2json out.json",
               "the source must be one path or '-', got 3 words (missing '|'?)",
               8);
  expect_error("in | csv2json | gzip out.gz",
               "the sink must be one path or '-', got 2 words (missing '|'?)",
               22);
}

Test(spec, unterminated_quote_points_at_the_opening_quote) {
  expect_error("in | csv2json -d 'x | out", "unterminated quote", 18);
  expect_error("\"in | out", "unterminated quote", 1);
  expect_error("in | \"out\\\"", "unterminated quote", 6);
}

Test(spec, bad_endpoints_point_at_the_word) {
  expect_error("'' | out", "the source is an empty path", 1);
  expect_error("in | s3://bucket",
               "an S3 sink must look like s3://bucket/key, got 's3://bucket'",
               6);
  expect_error("s3:///key | out",
               "an S3 source must look like s3://bucket/key, got 's3:///key'",
               1);
  expect_error("http://x/y | out",
               "unsupported URL 'http://x/y' as the source (paths, '-' and "
               "s3://bucket/key are)",
               1);
}

Test(spec, the_first_error_in_reading_order_wins) {
  expect_error("in | gzipp | csv2json --frob | | out",
               "unknown stage 'gzipp' (did you mean 'gzip'?)", 6);
  expect_error("a b | | out",
               "the source must be one path or '-', got 2 words (missing '|'?)",
               3);
}

Test(spec, columns_count_characters_offsets_count_bytes) {
  /* "données.csv" is 11 characters in 12 bytes. */
  expect_error_at("données.csv | gzipp | out",
                  "unknown stage 'gzipp' (did you mean 'gzip'?)", 15, 15);
  expect_error_at("日本 | csv2json --x | out", "csv2json: unknown option '--x'",
                  15, 18);
}

Test(spec, a_null_spec_is_invalid) {
  pipe_spec_t* sp = (pipe_spec_t*)1;
  pipe_error_t e;
  cr_assert_eq(pipe_spec_parse(NULL, &sp, &e), PIPE_EINVAL);
  cr_assert_null(sp);
  pipe_spec_free(NULL);
}

/* ---- rendering ---------------------------------------------------------- */

static char* render(const char* text) {
  pipe_spec_t* sp = NULL;
  pipe_error_t e;
  static char out[512];
  cr_assert_eq(pipe_spec_parse(text, &sp, &e), PIPE_EUSAGE);
  cr_assert_geq(pipe_spec_format_error(text, &e, out, sizeof(out)), 0);
  return out;
}

Test(spec, format_error_underlines_the_offending_word) {
  cr_assert_str_eq(render("big.csv | gzipp -9 | out.gz"),
                   "big.csv | gzipp -9 | out.gz\n"
                   "          ^~~~~\n");
  cr_assert_str_eq(render("in | csv2json -d '|x' | out"),
                   "in | csv2json -d '|x' | out\n"
                   "                 ^~~~\n");
  cr_assert_str_eq(render("a | | b"), "a | | b\n    ^\n");
  cr_assert_str_eq(render("in.csv"), "in.csv\n      ^\n");
  cr_assert_str_eq(render("in | 'out"), "in | 'out\n     ^~~~\n");
}

Test(spec, format_error_keeps_tabs_and_counts_characters) {
  cr_assert_str_eq(render("in\t|\tgzipp | out"),
                   "in\t|\tgzipp | out\n"
                   "  \t \t^~~~~\n");
  cr_assert_str_eq(render("é | zip | out"), "é | zip | out\n    ^~~\n");
  cr_assert_str_eq(render("in |\ngzipp | out"),
                   "in | gzipp | out\n     ^~~~~\n");
}

Test(spec, format_error_truncates_like_snprintf) {
  const char* text = "in | gzipp | out";
  pipe_spec_t* sp = NULL;
  pipe_error_t e;
  char small[8];
  int n;
  cr_assert_eq(pipe_spec_parse(text, &sp, &e), PIPE_EUSAGE);
  n = pipe_spec_format_error(text, &e, small, sizeof(small));
  cr_assert_eq(n, (int)strlen("in | gzipp | out\n     ^~~~~\n"));
  cr_assert_str_eq(small, "in | gz");
  cr_assert_eq(pipe_spec_format_error(text, &e, NULL, 0), n);
  e.has_offset = 0;
  cr_assert_eq(pipe_spec_format_error(text, &e, small, sizeof(small)),
               PIPE_EINVAL);
  cr_assert_str_eq(small, "");
}

/* ---- pipe_spec_add_stage ------------------------------------------------- */

Test(spec, add_stage_points_at_the_argv_index) {
  pipe_pipeline_t* pl = th_pipeline(NULL);
  pipe_error_t e;
  pipe_stage_t* s = (pipe_stage_t*)1;
  char* bad_opt[] = {"csv2json", "--infer", "--frob"};
  char* bad_name[] = {"csvtojson"};
  char* missing[] = {"gzip", "--threads"};
  cr_assert_eq(pipe_spec_add_stage(pl, 3, bad_opt, &s, &e), PIPE_EUSAGE);
  cr_assert_null(s);
  cr_assert_str_eq(e.msg, "csv2json: unknown option '--frob'");
  cr_assert_str_eq(e.stage, "csv2json");
  cr_assert_eq(e.column, 3, "1-based: argv[2]");
  cr_assert_eq(e.has_offset, 0);
  cr_assert_eq(pipe_spec_add_stage(pl, 1, bad_name, &s, &e), PIPE_EUSAGE);
  cr_assert_eq(e.column, 1);
  cr_assert_str_eq(e.msg,
                   "unknown stage 'csvtojson' (did you mean 'csv2json'?)");
  cr_assert_eq(pipe_spec_add_stage(pl, 2, missing, &s, &e), PIPE_EUSAGE);
  cr_assert_eq(e.column, 2);
  cr_assert_eq(pipe_spec_add_stage(pl, 0, bad_name, &s, &e), PIPE_EINVAL);
  cr_assert_null(pipe_pipeline_first(pl), "nothing was added");
  th_finish(pl);
}

Test(spec, add_stage_builds_the_stage) {
  pipe_pipeline_t* pl = th_pipeline(NULL);
  pipe_error_t e;
  pipe_stage_t* s = NULL;
  char* h[] = {"hash", "md5"};
  char* c[] = {"csv2json", "-d", "tab", "--infer"};
  th_source_new(pl, "a\tb\n1\tx\n", 8, 3);
  cr_assert_eq(pipe_spec_add_stage(pl, 4, c, &s, &e), 0, "%s", e.msg);
  cr_assert_str_eq(s->name, "csv2json");
  cr_assert_eq(pipe_spec_add_stage(pl, 2, h, &s, &e), 0, "%s", e.msg);
  cr_assert_eq(pipe_hash_algo(s), PIPE_HASH_MD5);
  {
    th_sink_t* k = th_sink_new(pl, 0, 0);
    cr_assert_eq(th_run(pl), 0);
    cr_assert_eq(k->got_len, strlen("{\"a\":1,\"b\":\"x\"}\n"));
    cr_assert(memcmp(k->got, "{\"a\":1,\"b\":\"x\"}\n", k->got_len) == 0);
  }
  th_finish(pl);
}

/* ---- built and run ------------------------------------------------------- */

Test(spec, built_csv2json_runs_end_to_end) {
  const char* csv = "name,age\nada,36\n\"lovelace, a\",\n";
  files_t f = files_new(csv, strlen(csv));
  cr_assert_eq(run_spec(NULL, "%s | csv2json --infer | %s", f.in, f.out), 0);
  assert_file_text(f.out,
                   "{\"name\":\"ada\",\"age\":36}\n"
                   "{\"name\":\"lovelace, a\",\"age\":null}\n");
  files_free(&f);
}

Test(spec, built_csv2json_honours_a_quoted_bar_delimiter) {
  const char* csv = "a|b\n1|2\n";
  files_t f = files_new(csv, strlen(csv));
  cr_assert_eq(
      run_spec(NULL, "'%s' | csv2json -d '|' --array | \"%s\"", f.in, f.out),
      0);
  assert_file_text(f.out, "[\n{\"a\":\"1\",\"b\":\"2\"}\n]\n");
  files_free(&f);
}

Test(spec, built_hash_md5_passes_data_and_digests_it) {
  size_t n = 300 * 1000;
  uint8_t* data = th_pattern(n, 77);
  files_t f = files_new(data, n);
  char* hex = NULL;
  size_t got_n = 0;
  uint8_t* got;
  cr_assert_eq(run_spec(&hex, "%s | hash md5 | %s", f.in, f.out), 0);
  got = th_read_file(f.out, &got_n);
  cr_assert_eq(got_n, n);
  cr_assert(memcmp(got, data, n) == 0);
  cr_assert_not_null(hex);
  cr_assert_eq(strlen(hex), 32);
  {
    /* md5sum, when the machine has it, is the reference. */
    char cmd[600], want[64] = "";
    FILE* p;
    snprintf(cmd, sizeof(cmd), "md5sum '%s' 2>/dev/null", f.in);
    p = popen(cmd, "r");
    if (p != NULL && fscanf(p, "%63s", want) == 1) cr_assert_str_eq(hex, want);
    if (p != NULL) pclose(p);
  }
  free(hex);
  free(got);
  free(data);
  files_free(&f);
}

Test(spec, built_hash_of_an_empty_file_is_the_empty_digest) {
  files_t f = files_new("", 0);
  char* hex = NULL;
  cr_assert_eq(run_spec(&hex, "%s | hash | %s", f.in, f.out), 0);
  cr_assert_str_eq(
      hex, "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855");
  free(hex);
  hex = NULL;
  cr_assert_eq(run_spec(&hex, "%s | hash crc32c | %s", f.in, f.out), 0);
  cr_assert_str_eq(hex, "00000000");
  free(hex);
  files_free(&f);
}

Test(spec, built_gzip_then_gunzip_round_trips) {
  size_t n = 500 * 1000, i;
  char* text = malloc(n);
  files_t f;
  char *mid, *fast;
  uint8_t *gz, *back;
  size_t gz_n = 0, back_n = 0;
  cr_assert_not_null(text);
  for (i = 0; i < n; i++) text[i] = "abcdefgh,0123\n"[(i * 7 + i / 13) % 14];
  f = files_new(text, n);
  mid = th_path(f.dir, "mid.gz");
  fast = th_path(f.dir, "fast.gz");
  cr_assert_eq(run_spec(NULL, "%s | gzip -9 --threads 2 --block-size 64K | %s",
                        f.in, mid),
               0);
  gz = th_read_file(mid, &gz_n);
  cr_assert_geq(gz_n, 18);
  cr_assert(gz[0] == 0x1f && gz[1] == 0x8b, "a gzip member");
  cr_assert_eq(run_spec(NULL, "%s | gunzip | %s", mid, f.out), 0);
  back = th_read_file(f.out, &back_n);
  cr_assert_eq(back_n, n);
  cr_assert(memcmp(back, text, n) == 0);
  /* The level reaches the compressor. */
  cr_assert_eq(run_spec(NULL, "%s | gzip --level=1 | %s", f.in, fast), 0);
  cr_assert_lt(gz_n, file_size(fast), "-9: %zu bytes, -1: %zu", gz_n,
               file_size(fast));
  unlink(mid);
  unlink(fast);
  free(mid);
  free(fast);
  free(gz);
  free(back);
  free(text);
  files_free(&f);
}

Test(spec, s3_without_a_context_is_refused_at_build_pointing_at_the_word) {
  pipe_spec_t* sp = parse_ok("in.csv | csv2json | s3://bucket/out.json");
  pipe_pipeline_t* pl = th_pipeline(NULL);
  pipe_error_t e;
  cr_assert_eq(pipe_spec_build(sp, pl, &e), PIPE_EUSAGE);
  cr_assert_str_eq(e.msg,
                   "s3:// needs a pipeline made in a context (pipe_pipeline_new_in)");
  cr_assert_eq(e.column, 21);
  cr_assert_eq(e.offset, 20);
  cr_assert_eq(e.has_offset, 1);
  cr_assert_null(pipe_pipeline_first(pl), "nothing added before refusing");
  pipe_spec_free(sp);
  th_finish(pl);
}

Test(spec, build_refuses_a_pipeline_that_has_stages) {
  pipe_spec_t* sp = parse_ok("a | b");
  pipe_pipeline_t* pl = th_pipeline(NULL);
  pipe_error_t e;
  th_source_new(pl, "x", 1, 1);
  cr_assert_eq(pipe_spec_build(sp, pl, &e), PIPE_EINVAL);
  pipe_spec_free(sp);
  th_finish(pl);
}

Test(spec, a_missing_input_file_fails_the_run_naming_it) {
  char* dir = th_tmpdir();
  char* in = th_path(dir, "absent.csv");
  char* out = th_path(dir, "out.json");
  cr_assert_eq(run_spec(NULL, "%s | csv2json | %s", in, out), PIPE_ENOENT);
  cr_assert_eq(th_count_entries(dir), 0, "no output, no temp file");
  rmdir(dir);
  free(in);
  free(out);
  free(dir);
}

Test(spec, a_stage_name_as_the_sink_is_a_forgotten_sink) {
  expect_error("s.csv | gzip",
               "'gzip' is a stage, not an output file: missing sink? (write "
               "./gzip for a file of that name)",
               9);
  expect_error("s.csv | csv2json | hash",
               "'hash' is a stage, not an output file: missing sink? (write "
               "./hash for a file of that name)",
               20);
  expect_error("gunzip | csv2json | o.json",
               "'gunzip' is a stage, not an input file: missing source? (write "
               "./gunzip for a file of that name)",
               1);
  pipe_spec_t* sp = parse_ok("s.csv | gzip | ./gzip");
  cr_assert_str_eq(pipe_spec_sink(sp), "./gzip");
  pipe_spec_free(sp);
  sp = parse_ok("./csv2json | csv2json | gzip.gz");
  cr_assert_str_eq(pipe_spec_source(sp), "./csv2json");
  pipe_spec_free(sp);
}
