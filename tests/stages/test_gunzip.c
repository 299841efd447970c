/* The gunzip stage: reads what gzip, pigz, Python and our gzip write (one
 * or many members, any buffer split), and fails located — code and byte
 * offset — on empty, truncated, corrupt input and trailing garbage. */
#include <criterion/criterion.h>
#include <stdlib.h>
#include <string.h>

#include "support/gz_helpers.h"

TestSuite(gunzip, .init = th_loop_init, .fini = th_loop_fini);

#define BS ((size_t)65536 + 7)

static const char* py_gzip =
    "python3 -c 'import gzip,sys; "
    "sys.stdout.buffer.write(gzip.compress(sys.stdin.buffer.read(), 6))'";

/* Gunzips gz and asserts success and the expected bytes. */
static void expect_ok(const uint8_t* gz, size_t n, size_t chunk,
                      const uint8_t* want, size_t want_len, const char* what) {
  gzh_result_t r = gzh_gunzip(gz, n, chunk);
  cr_assert_eq(r.status, 0, "%s: %s (%s)", what, pipe_strerror(r.status),
               r.err.msg);
  gzh_assert_same(r.out, r.out_len, want, want_len, what);
  free(r.out);
}

/* Gunzips gz and asserts the failure: code, offset and a piece of the
 * message. Returns nothing; frees what it got. */
static void expect_err(const uint8_t* gz, size_t n, size_t chunk, int code,
                       uint64_t offset, const char* msg_part) {
  gzh_result_t r = gzh_gunzip(gz, n, chunk);
  cr_assert_eq(r.status, code, "%zu bytes: status %s, want %s (%s)", n,
               pipe_err_name(r.status), pipe_err_name(code), r.err.msg);
  cr_assert_eq(r.err.code, code);
  cr_assert_str_eq(r.err.stage, "gunzip");
  cr_assert(r.err.has_offset, "no offset in \"%s\"", r.err.msg);
  cr_assert_eq(r.err.offset, offset, "offset %llu, want %llu: %s",
               (unsigned long long)r.err.offset, (unsigned long long)offset,
               r.err.msg);
  cr_assert_not_null(strstr(r.err.msg, msg_part), "message \"%s\" lacks \"%s\"",
                     r.err.msg, msg_part);
  free(r.out);
}

static uint8_t* cat2(const uint8_t* a, size_t an, const uint8_t* b, size_t bn) {
  uint8_t* p = malloc(an + bn + 1);
  cr_assert_not_null(p);
  memcpy(p, a, an);
  memcpy(p + an, b, bn);
  return p;
}

/* ---- what others write -------------------------------------------------- */

static void check_writer(const char* cmd, const char* prog, size_t nsizes) {
  static const size_t sizes[] = {0, 1000000, 1, 65535, 65536, 65537};
  size_t i;
  uint8_t* text = gzh_text(1000000, 21);
  uint8_t* rnd = th_pattern(1000000, 22);
  if (!gzh_have(prog)) cr_skip_test("%s not installed", prog);
  for (i = 0; i < nsizes && i < sizeof(sizes) / sizeof(sizes[0]); i++) {
    int k;
    for (k = 0; k < 2; k++) {
      const uint8_t* data = k ? rnd : text;
      size_t n;
      uint8_t* gz = gzh_cmd(cmd, data, sizes[i], &n);
      char what[128];
      snprintf(what, sizeof(what), "%s of %zu %s bytes", cmd, sizes[i],
               k ? "random" : "text");
      expect_ok(gz, n, 0, data, sizes[i], what);
      free(gz);
    }
  }
  free(text);
  free(rnd);
}

Test(gunzip, reads_gzip_output) {
  check_writer("gzip -c -6", "gzip", 6);
}
Test(gunzip, reads_gzip_9_output) {
  check_writer("gzip -c -9", "gzip", 6);
}
Test(gunzip, reads_pigz_output) {
  check_writer("pigz -c -p 2 -6", "pigz", 6);
}
Test(gunzip, reads_pigz_independent_blocks_output) {
  check_writer("pigz -c -p 2 -i -b 128", "pigz", 6);
}
/* Python takes a second to start here (pyenv): fewer cases. */
Test(gunzip, reads_python_gzip_output) {
  check_writer(py_gzip, "python3", 2);
}

Test(gunzip, reads_a_header_with_a_file_name) {
  /* gzip FILE stores the name (FLG.FNAME): the header is longer. */
  size_t n;
  uint8_t* text = gzh_text(5000, 23);
  uint8_t* gz = gzh_cmd(
      "d=$(mktemp -d) && cat > $d/named.txt && gzip -c $d/named.txt && "
      "rm -r $d",
      text, 5000, &n);
  cr_assert(gz[3] & 0x08, "FNAME flag expected");
  expect_ok(gz, n, 0, text, 5000, "named member");
  expect_ok(gz, n, 1, text, 5000, "named member, 1-byte buffers");
  free(gz);
  free(text);
}

Test(gunzip, round_trips_our_gzip_at_block_boundaries) {
  static const size_t sizes[] = {0,      1,     BS - 1, BS,        BS + 1,
                                 2 * BS, 65536, 65537,  3 * BS + 5};
  size_t i;
  uint8_t* text = gzh_text(4 * BS, 24);
  for (i = 0; i < sizeof(sizes) / sizeof(sizes[0]); i++) {
    pipe_gzip_config_t cfg = {6, 2, BS};
    size_t n;
    uint8_t* gz = gzh_compress(text, sizes[i], &cfg, 0, &n, NULL);
    expect_ok(gz, n, 0, text, sizes[i], "ours -> ours");
    expect_ok(gz, n, 4093, text, sizes[i], "ours -> ours, 4093-byte buffers");
    free(gz);
  }
  free(text);
}

Test(gunzip, expands_highly_compressible_data_through_bounded_buffers) {
  size_t len = 16u << 20, n, got_n;
  uint8_t* zeros = calloc(1, len);
  uint8_t* gz;
  uint8_t* got;
  pipe_pipeline_t* pl;
  th_sink_t* snk;
  pipe_stage_t* gu;
  pipe_pool_stats_t ps;
  cr_assert_not_null(zeros);
  gz = gzh_cmd("gzip -c -9", zeros, len, &n); /* ~16 KiB */
  pl = th_pipeline(NULL);
  th_source_new(pl, gz, n, 65536);
  cr_assert_eq(pipe_gunzip_new(pl, &gu), 0);
  snk = th_sink_new(pl, 2, 1); /* slow: FULL at 2, a buffer per ms */
  cr_assert_eq(th_run(pl), 0);
  ps = pipe_pool_stats(gu->pool);
  cr_assert_leq(ps.peak, ps.limit);
  got = th_sink_take(snk, &got_n);
  th_finish(pl);
  gzh_assert_same(got, got_n, zeros, len, "16 MiB of zeros");
  free(got);
  free(gz);
  free(zeros);
}

Test(gunzip, slow_sink_bounds_memory) {
  size_t len = 2u << 20, n, got_n;
  uint8_t* text = gzh_text(len, 25);
  uint8_t* gz = gzh_cmd("gzip -c", text, len, &n);
  uint8_t* got;
  pipe_pipeline_t* pl = th_pipeline(NULL);
  pipe_stage_t* gu;
  th_source_t* src;
  th_sink_t* snk;
  pipe_pool_stats_t ps;
  src = th_source_new(pl, gz, n, 65536);
  cr_assert_eq(pipe_gunzip_new(pl, &gu), 0);
  snk = th_sink_new(pl, 2, 1);
  cr_assert_eq(th_run(pl), 0);
  ps = pipe_pool_stats(gu->pool);
  cr_assert_leq(ps.peak, ps.limit);
  cr_assert_leq(snk->max_qlen, 2);
  cr_assert_eq(snk->writes_while_full, 0);
  cr_assert_gt(src->fulls, 0);
  got = th_sink_take(snk, &got_n);
  th_finish(pl);
  gzh_assert_same(got, got_n, text, len, "slow sink");
  free(got);
  free(gz);
  free(text);
}

/* ---- members ------------------------------------------------------------ */

Test(gunzip, multi_member_input_is_the_concatenation) {
  size_t na, nb, ne;
  uint8_t* a_txt = gzh_text(70000, 26);
  uint8_t* b_txt = gzh_text(30000, 27);
  uint8_t* a = gzh_cmd("gzip -c", a_txt, 70000, &na);
  uint8_t* b = gzh_cmd("gzip -c -1", b_txt, 30000, &nb);
  uint8_t* e = gzh_cmd("gzip -c", "", 0, &ne); /* an empty member */
  uint8_t* ab = cat2(a, na, e, ne);
  uint8_t* abe = cat2(ab, na + ne, b, nb);
  uint8_t* want = cat2(a_txt, 70000, b_txt, 30000);
  static const size_t chunks[] = {0, 1, 2, 3, 4096, 65535};
  size_t i;
  for (i = 0; i < sizeof(chunks) / sizeof(chunks[0]); i++)
    expect_ok(abe, na + ne + nb, chunks[i], want, 100000,
              "member + empty member + member");
  free(a_txt);
  free(b_txt);
  free(a);
  free(b);
  free(e);
  free(ab);
  free(abe);
  free(want);
}

/* ---- errors ------------------------------------------------------------- */

Test(gunzip, empty_input_is_not_gzip_data) {
  expect_err((const uint8_t*)"", 0, 0, PIPE_EGZIP, 0,
             "empty input is not gzip data");
}

Test(gunzip, non_gzip_input_fails_at_offset_0) {
  expect_err((const uint8_t*)"hello, world\n", 13, 0, PIPE_EGZIP, 0,
             "not gzip data");
  expect_err((const uint8_t*)"\x1f\x8c", 2, 1, PIPE_EGZIP, 0, "not gzip data");
}

Test(gunzip, every_truncation_point_is_a_located_etrunc) {
  size_t n, k;
  uint8_t* text = gzh_text(600, 28);
  uint8_t* gz = gzh_cmd("gzip -c", text, 600, &n);
  expect_err(gz, 0, 0, PIPE_EGZIP, 0, "empty input");
  for (k = 1; k < n; k++)
    expect_err(gz, k, 0, PIPE_ETRUNC, k, "inside member 1");
  expect_ok(gz, n, 0, text, 600, "untruncated");
  free(gz);
  free(text);
}

Test(gunzip, truncation_in_a_later_member_names_it) {
  size_t na, nb, k;
  uint8_t* t = gzh_text(3000, 29);
  uint8_t* a = gzh_cmd("gzip -c", t, 1000, &na);
  uint8_t* b = gzh_cmd("gzip -c", t + 1000, 2000, &nb);
  uint8_t* ab = cat2(a, na, b, nb);
  for (k = na + 1; k < na + nb; k += 7)
    expect_err(ab, k, 3, PIPE_ETRUNC, k, "inside member 2");
  /* Cut exactly between members: a complete, shorter stream. */
  expect_ok(ab, na, 0, t, 1000, "first member only");
  free(t);
  free(a);
  free(b);
  free(ab);
}

Test(gunzip, bad_crc_is_located_at_the_crc_field) {
  size_t n;
  uint8_t* text = gzh_text(50000, 30);
  uint8_t* gz = gzh_cmd("gzip -c", text, 50000, &n);
  gz[n - 8] ^= 0x01;
  expect_err(gz, n, 0, PIPE_EGZIP, n - 8, "incorrect data check");
  expect_err(gz, n, 1, PIPE_EGZIP, n - 8, "incorrect data check");
  free(gz);
  free(text);
}

Test(gunzip, bad_isize_is_located_at_the_isize_field) {
  size_t n;
  uint8_t* text = gzh_text(50000, 31);
  uint8_t* gz = gzh_cmd("gzip -c", text, 50000, &n);
  gz[n - 2] ^= 0x40;
  expect_err(gz, n, 0, PIPE_EGZIP, n - 4, "incorrect length check");
  free(gz);
  free(text);
}

Test(gunzip, bad_crc_in_the_first_of_two_members) {
  size_t na, nb;
  uint8_t* t = gzh_text(20000, 32);
  uint8_t* a = gzh_cmd("gzip -c", t, 10000, &na);
  uint8_t* b = gzh_cmd("gzip -c", t + 10000, 10000, &nb);
  uint8_t* ab = cat2(a, na, b, nb);
  ab[na - 5] ^= 0x80; /* last CRC byte of member 1 */
  expect_err(ab, na + nb, 0, PIPE_EGZIP, na - 8, "incorrect data check");
  free(t);
  free(a);
  free(b);
  free(ab);
}

Test(gunzip, flipped_byte_in_the_middle_is_corrupt_data_after_it) {
  size_t n, pos;
  uint8_t* text = gzh_text(200000, 33);
  uint8_t* gz = gzh_cmd("gzip -c", text, 200000, &n);
  gzh_result_t r;
  pos = n / 2;
  gz[pos] ^= 0x10;
  r = gzh_gunzip(gz, n, 0);
  cr_assert_eq(r.status, PIPE_EGZIP, "%s", r.err.msg);
  cr_assert(r.err.has_offset);
  cr_assert_geq(r.err.offset, pos, "offset %llu before the damage at %zu",
                (unsigned long long)r.err.offset, pos);
  cr_assert_leq(r.err.offset, n);
  cr_assert_not_null(strstr(r.err.msg, "corrupt gzip data at byte offset"),
                     "%s", r.err.msg);
  free(r.out);
  free(gz);
  free(text);
}

Test(gunzip, trailing_garbage_is_an_error_at_its_offset) {
  size_t n;
  uint8_t* text = gzh_text(5000, 34);
  uint8_t* gz = gzh_cmd("gzip -c", text, 5000, &n);
  uint8_t* g1 = cat2(gz, n, (const uint8_t*)"garbage", 7);
  uint8_t zeros[512] = {0};
  uint8_t* g2 = cat2(gz, n, zeros, sizeof(zeros)); /* tar-style padding */
  uint8_t* g3 = cat2(gz, n, (const uint8_t*)"\x1f\x00", 2);
  expect_err(g1, n + 7, 0, PIPE_EGZIP, n, "trailing garbage at byte offset");
  expect_err(g1, n + 7, 1, PIPE_EGZIP, n, "trailing garbage at byte offset");
  expect_err(g2, n + 512, 0, PIPE_EGZIP, n, "trailing garbage");
  expect_err(g3, n + 2, 1, PIPE_EGZIP, n, "trailing garbage");
  /* A lone 1f could be the start of a member: input ended inside it. */
  expect_err(g3, n + 1, 0, PIPE_ETRUNC, n + 1, "inside member 2");
  free(g1);
  free(g2);
  free(g3);
  free(gz);
  free(text);
}
