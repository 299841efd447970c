/* The gunzip stage that decides from its input's first bytes
 * (pipe_gunzip_auto_new): gzip is decompressed, anything else passes
 * through unchanged with the flow contract intact. */
#include <criterion/criterion.h>
#include <string.h>

#include "pipe/gzip.h"
#include "support/gz_helpers.h"
#include "support/harness.h"

TestSuite(gunzip_auto, .init = th_loop_init, .fini = th_loop_fini);

typedef struct {
  int status;
  uint8_t* out;
  size_t len;
  int fulls;
} auto_run_t;

/* source(data, chunk) -> gunzip auto -> sink(full_at, tick_ms). */
static auto_run_t run_auto(const void* data, size_t len, size_t chunk,
                           size_t full_at, uint64_t tick_ms) {
  auto_run_t r;
  pipe_pipeline_t* pl = th_pipeline(NULL);
  th_source_t* src = th_source_new(pl, data, len, chunk);
  th_sink_t* snk;
  cr_assert_eq(pipe_gunzip_auto_new(pl, NULL), 0);
  snk = th_sink_new(pl, full_at, tick_ms);
  r.status = th_run(pl);
  cr_assert_eq(snk->writes_while_full + snk->writes_after_end, 0);
  cr_assert_eq(src->counts.destroys, 1);
  r.fulls = src->fulls;
  r.out = th_sink_take(snk, &r.len);
  th_finish(pl);
  return r;
}

Test(gunzip_auto, gzip_input_is_decompressed) {
  uint8_t* plain = th_pattern(300000, 7);
  size_t gzlen;
  uint8_t* gz = gzh_compress(plain, 300000, NULL, 0, &gzlen, NULL);
  auto_run_t r = run_auto(gz, gzlen, 1000, 0, 0);
  cr_assert_eq(r.status, 0);
  cr_assert_eq(r.len, 300000);
  cr_assert(memcmp(r.out, plain, r.len) == 0);
  free(r.out);
  free(gz);
  free(plain);
}

Test(gunzip_auto, other_input_passes_through_unchanged_with_backpressure) {
  uint8_t* plain = th_pattern(300000, 9);
  plain[0] = 'a'; /* not 1f */
  /* A slow sink that is full at one buffer: the source must be paused and
   * resumed through the pass-through stage. */
  auto_run_t r = run_auto(plain, 300000, 4096, 1, 1);
  cr_assert_eq(r.status, 0);
  cr_assert_eq(r.len, 300000);
  cr_assert(memcmp(r.out, plain, r.len) == 0);
  cr_assert_gt(r.fulls, 0, "the source never saw backpressure");
  free(r.out);
  free(plain);
}

Test(gunzip_auto, empty_input_is_empty_output_not_an_error) {
  auto_run_t r = run_auto("", 0, 1, 0, 0);
  cr_assert_eq(r.status, 0);
  cr_assert_eq(r.len, 0);
  free(r.out);
}

Test(gunzip_auto, a_1f_byte_not_followed_by_8b_is_data) {
  auto_run_t r = run_auto("\x1f" "abc,d\n", 7, 64, 0, 0);
  cr_assert_eq(r.status, 0);
  cr_assert_eq(r.len, 7);
  cr_assert(memcmp(r.out, "\x1f" "abc,d\n", 7) == 0);
  free(r.out);
}

Test(gunzip_auto, magic_check) {
  cr_assert_eq(pipe_gzip_magic("\x1f\x8b\x08", 3), 1);
  cr_assert_eq(pipe_gzip_magic("\x1f", 1), 1);
  cr_assert_eq(pipe_gzip_magic("\x1f\x8c", 2), 0);
  cr_assert_eq(pipe_gzip_magic("a,b", 3), 0);
  cr_assert_eq(pipe_gzip_magic("", 0), 0);
}
