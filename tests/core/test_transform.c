/* Synchronous transforms (pipe_xform_t): correctness and bounded memory
 * under backpressure, including a transform whose output is 100x its
 * input. */
#include <criterion/criterion.h>
#include <ctype.h>
#include <string.h>

#include "support/harness.h"

TestSuite(transform, .init = th_loop_init, .fini = th_loop_fini);

/* ---- uppercase: same size out as in -------------------------------------- */

static int upper_convert(pipe_xform_t* x, const uint8_t* in, size_t len,
                         size_t* consumed, uint8_t* out, size_t cap,
                         size_t* produced) {
  size_t n = len < cap ? len : cap, i;
  (void)x;
  for (i = 0; i < n; i++) out[i] = (uint8_t)toupper(in[i]);
  *consumed = *produced = n;
  return 0;
}

static const pipe_xform_ops_t upper_ops = {
    .stage = PIPE_XFORM_STAGE_OPS("upper", sizeof(pipe_xform_t)),
    .convert = upper_convert,
};

/* ---- expand: every input byte 100 times ---------------------------------- */

static int expand_convert(pipe_xform_t* x, const uint8_t* in, size_t len,
                          size_t* consumed, uint8_t* out, size_t cap,
                          size_t* produced) {
  size_t n = cap / 100, i;
  (void)x;
  if (n > len) n = len;
  for (i = 0; i < n; i++) memset(out + i * 100, in[i], 100);
  *consumed = n;
  *produced = n * 100;
  return 0;
}

/* finish() writes a 10000-byte trailer of '#', possibly over several
 * buffers: PIPE_FULL asks to be called again with a fresh one. */
typedef struct {
  pipe_xform_t base; /* first */
  size_t trailer_left;
} expand_t;

static int expand_finish(pipe_xform_t* x, uint8_t* out, size_t cap,
                         size_t* produced) {
  expand_t* e = (expand_t*)x;
  size_t n = e->trailer_left < cap ? e->trailer_left : cap;
  memset(out, '#', n);
  e->trailer_left -= n;
  *produced = n;
  return e->trailer_left > 0 ? PIPE_FULL : 0;
}

static const pipe_xform_ops_t expand_ops = {
    .stage = PIPE_XFORM_STAGE_OPS("expand", sizeof(expand_t)),
    .convert = expand_convert,
    .finish = expand_finish,
};

/* ---- failing converter ----------------------------------------------------
 */

static int bad_convert(pipe_xform_t* x, const uint8_t* in, size_t len,
                       size_t* consumed, uint8_t* out, size_t cap,
                       size_t* produced) {
  pipe_error_t e = {0};
  (void)in;
  (void)out;
  (void)cap;
  (void)len;
  (void)consumed;
  (void)produced;
  pipe_error_set(&e, PIPE_ECSV, "bad input at line 3");
  e.line = 3;
  pipe_stage_fail_with(&x->stage, &e);
  return PIPE_ECSV;
}

static const pipe_xform_ops_t bad_ops = {
    .stage = PIPE_XFORM_STAGE_OPS("bad", sizeof(pipe_xform_t)),
    .convert = bad_convert,
};

static pipe_xform_t* add_xform(pipe_pipeline_t* pl,
                               const pipe_xform_ops_t* ops) {
  pipe_xform_t* x = NULL;
  cr_assert_eq(pipe_xform_new(pl, ops, &x), 0);
  return x;
}

Test(transform, uppercase_through_a_slow_sink_is_correct_and_bounded) {
  pipe_pipeline_config_t cfg = {.buf_size = 1024, .pool_limit = 3, .hwm = 2};
  size_t len = 50000, i;
  uint8_t* data = th_pattern(len, 11);
  for (i = 0; i < len; i++) data[i] = (uint8_t)('a' + data[i] % 26);
  pipe_pipeline_t* pl = th_pipeline(&cfg);
  th_source_t* src = th_source_new(pl, data, len, 700);
  pipe_xform_t* x = add_xform(pl, &upper_ops);
  th_sink_t* snk = th_sink_new(pl, 2, 1);

  cr_assert_eq(th_run(pl), 0);
  cr_assert_eq(snk->got_len, len);
  for (i = 0; i < len; i++)
    cr_assert_eq(snk->got[i], toupper(data[i]), "byte %zu", i);
  cr_assert_leq(pipe_pool_stats(src->stage.pool).peak, 3);
  cr_assert_leq(pipe_pool_stats(x->stage.pool).peak, 3);
  cr_assert_gt(x->stage.stats.waits, 0, "the transform was paused");
  cr_assert_gt(src->fulls, 0, "and paused its source in turn");
  cr_assert_eq(snk->writes_while_full, 0);
  th_finish(pl);
  free(data);
}

Test(transform, expanding_output_stays_within_the_pool_limit) {
  pipe_pipeline_config_t cfg = {.buf_size = 4096, .pool_limit = 3, .hwm = 2};
  size_t len = 3000, i, out_len = len * 100 + 10000;
  uint8_t* data = th_pattern(len, 12);
  pipe_pipeline_t* pl = th_pipeline(&cfg);
  th_source_t* src = th_source_new(pl, data, len, 1000);
  expand_t* x = (expand_t*)add_xform(pl, &expand_ops);
  x->trailer_left = 10000;
  th_sink_t* snk = th_sink_new(pl, 2, 1);

  cr_assert_eq(th_run(pl), 0);
  cr_assert_eq(snk->got_len, out_len);
  for (i = 0; i < len * 100; i++)
    if (snk->got[i] != data[i / 100])
      cr_assert_fail("byte %zu: %d != %d", i, snk->got[i], data[i / 100]);
  for (; i < out_len; i++) cr_assert_eq(snk->got[i], '#');
  pipe_pool_stats_t ps = pipe_pool_stats(x->base.stage.pool);
  cr_assert_leq(ps.peak, ps.limit, "300 KB of output through 3 x 4 KiB");
  cr_assert_gt(ps.acquires, 70, "buffers were recycled, not accumulated");
  cr_assert_gt(x->base.stage.stats.blocked_ns, 0);
  cr_assert_leq(snk->max_qlen, 2);
  cr_assert_gt(src->fulls, 0, "input was held back while output drained");
  th_finish(pl);
  free(data);
}

Test(transform, converter_error_fails_the_run_with_its_detail) {
  pipe_pipeline_t* pl = th_pipeline(NULL);
  th_source_t* src = th_source_new(pl, "a,b\n1,2\n", 8, 8);
  add_xform(pl, &bad_ops);
  th_sink_t* snk = th_sink_new(pl, 0, 0);

  cr_assert_eq(th_run(pl), PIPE_ECSV);
  const pipe_error_t* e = pipe_pipeline_error(pl);
  cr_assert_str_eq(e->stage, "bad");
  cr_assert_str_eq(e->msg, "bad input at line 3");
  cr_assert_eq(e->line, 3);
  cr_assert_eq(src->counts.destroys, 1);
  cr_assert_eq(snk->counts.destroys, 1);
  cr_assert_eq(snk->counts.ends, 0);
  th_finish(pl);
}

Test(transform, sink_ending_early_behind_a_transform_is_success) {
  /* `pipe csv2json big.csv | head`: the sink stops; the transform, still
   * being fed, must not turn the stop into an error (ECANCELED). */
  pipe_pipeline_config_t cfg = {.buf_size = 1024, .pool_limit = 4, .hwm = 4};
  size_t len = 256 * 1024;
  uint8_t* data = th_pattern(len, 13);
  pipe_pipeline_t* pl = th_pipeline(&cfg);
  th_source_t* src = th_source_new(pl, data, len, 1024);
  add_xform(pl, &upper_ops);
  th_sink_t* snk = th_sink_new(pl, 0, 0); /* fast: data keeps flowing */
  snk->stop_after = 5000;

  int st = th_run(pl);
  cr_assert_eq(st, 0, "status %s", pipe_err_name(st));
  cr_assert_lt(src->pos, len);
  cr_assert_eq(src->counts.destroy_status, 0);
  th_finish(pl);
  free(data);
}

/* ---- finish() that never makes progress -------------------------------- */

static int stuck_finish(pipe_xform_t* x, uint8_t* out, size_t cap,
                        size_t* produced) {
  (void)x;
  (void)out;
  (void)cap;
  *produced = 0;
  return PIPE_FULL; /* "call me again", forever, writing nothing */
}

static const pipe_xform_ops_t stuck_ops = {
    .stage = PIPE_XFORM_STAGE_OPS("stuck", sizeof(pipe_xform_t)),
    .convert = upper_convert,
    .finish = stuck_finish,
};

Test(transform, finish_returning_full_without_output_fails_instead_of_spinning,
     .timeout = 20) {
  pipe_pipeline_t* pl = th_pipeline(NULL);
  th_source_new(pl, "abc", 3, 3);
  add_xform(pl, &stuck_ops);
  th_sink_t* snk = th_sink_new(pl, 0, 0);

  int st = th_run(pl);
  cr_assert_eq(st, PIPE_EIO, "status %s", pipe_err_name(st));
  const pipe_error_t* e = pipe_pipeline_error(pl);
  cr_assert_str_eq(e->stage, "stuck");
  cr_assert_not_null(strstr(e->msg, "no progress"), "%s", e->msg);
  cr_assert_eq(snk->counts.ends, 0);
  th_finish(pl);
}

/* finish() writes a 5000-byte trailer in one piece or not at all: given a
 * partly filled buffer with less room, it answers FULL without output and
 * must then get a fresh buffer, as the header promises. */
static int whole_finish(pipe_xform_t* x, uint8_t* out, size_t cap,
                        size_t* produced) {
  (void)x;
  *produced = 0;
  if (cap < 5000) return PIPE_FULL;
  memset(out, '#', 5000);
  *produced = 5000;
  return 0;
}

static const pipe_xform_ops_t whole_ops = {
    .stage = PIPE_XFORM_STAGE_OPS("whole", sizeof(pipe_xform_t)),
    .convert = upper_convert,
    .finish = whole_finish,
};

Test(transform, finish_answering_full_gets_a_fresh_buffer, .timeout = 20) {
  pipe_pipeline_config_t cfg = {.buf_size = 8192, .pool_limit = 3, .hwm = 2};
  size_t len = 4000, i;
  uint8_t* data = malloc(len);
  memset(data, 'a', len); /* leaves 4192 bytes of room: >= min_room */
  pipe_pipeline_t* pl = th_pipeline(&cfg);
  th_source_new(pl, data, len, len);
  add_xform(pl, &whole_ops);
  th_sink_t* snk = th_sink_new(pl, 0, 0);

  cr_assert_eq(th_run(pl), 0);
  cr_assert_eq(snk->got_len, len + 5000);
  for (i = 0; i < len; i++) cr_assert_eq(snk->got[i], 'A');
  for (; i < len + 5000; i++) cr_assert_eq(snk->got[i], '#');
  th_finish(pl);
  free(data);
}
