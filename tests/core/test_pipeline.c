/* Pipelines: backpressure, teardown on error, success, end ordering, free,
 * and run() validation — with the harness's scripted stages. */
#include <criterion/criterion.h>
#include <string.h>

#include "support/harness.h"

TestSuite(pipeline, .init = th_loop_init, .fini = th_loop_fini);

/* Small buffers and pools so that a modest input crosses every limit. */
static const pipe_pipeline_config_t small = {
    .buf_size = 1024, .pool_limit = 4, .hwm = 2};

static void assert_same(const uint8_t* got, size_t got_len, const uint8_t* want,
                        size_t want_len) {
  cr_assert_eq(got_len, want_len, "got %zu bytes, want %zu", got_len, want_len);
  cr_assert(want_len == 0 || memcmp(got, want, want_len) == 0,
            "bytes differ (order or content)");
}

Test(pipeline, slow_sink_pauses_the_source_within_its_pool) {
  size_t len = 64 * 1024;
  uint8_t* data = th_pattern(len, 1);
  pipe_pipeline_t* pl = th_pipeline(&small);
  th_source_t* src = th_source_new(pl, data, len, 1000);
  th_sink_t* snk = th_sink_new(pl, 2, 1); /* FULL at 2, one buffer per ms */

  cr_assert_eq(th_run(pl), 0);

  pipe_pool_stats_t ps = pipe_pool_stats(src->stage.pool);
  cr_assert_leq(ps.peak, ps.limit, "pool peak %zu > limit %zu", ps.peak,
                ps.limit);
  cr_assert_eq(ps.out, 0, "every buffer came back");
  cr_assert_gt(src->fulls, 0, "the source was told to stop");
  cr_assert_gt(src->stage.stats.waits, 0);
  cr_assert_gt(src->stage.stats.blocked_ns, 0);
  cr_assert_gt(src->counts.resumes, 0, "and was resumed");
  cr_assert_leq(snk->max_qlen, 2, "sink never queued past its mark");
  cr_assert_eq(snk->writes_while_full, 0, "no write after PIPE_FULL");
  cr_assert_gt(snk->drains, 0);
  assert_same(snk->got, snk->got_len, data, len);
  cr_assert_eq(src->stage.stats.bytes_out, len);
  cr_assert_eq(snk->stage.stats.bytes_in, len);
  th_finish(pl);
  free(data);
}

Test(pipeline, pool_limit_bounds_a_source_when_downstream_holds_buffers) {
  /* The sink accepts up to 3 buffers, the source's pool has 2: the source
   * must wait on its pool (not on FULL) and still deliver everything. */
  pipe_pipeline_config_t cfg = {.buf_size = 512, .pool_limit = 2, .hwm = 2};
  size_t len = 20000;
  uint8_t* data = th_pattern(len, 2);
  pipe_pipeline_t* pl = th_pipeline(&cfg);
  th_source_t* src = th_source_new(pl, data, len, 512);
  th_sink_t* snk = th_sink_new(pl, 3, 1);

  cr_assert_eq(th_run(pl), 0);
  cr_assert_eq(pipe_pool_stats(src->stage.pool).peak, 2);
  cr_assert_gt(src->pool_waits, 0, "the empty pool stopped the source");
  cr_assert_gt(pipe_pool_stats(src->stage.pool).misses, 0);
  assert_same(snk->got, snk->got_len, data, len);
  th_finish(pl);
  free(data);
}

Test(pipeline, error_in_middle_stage_tears_down_every_stage_once) {
  size_t len = 32 * 1024;
  uint8_t* data = th_pattern(len, 3);
  pipe_pipeline_t* pl = th_pipeline(&small);
  th_source_t* src = th_source_new(pl, data, len, 1024);
  th_fail_t* mid = th_fail_new(pl, 5, PIPE_ECSV);
  th_sink_t* snk = th_sink_new(pl, 2, 1);

  int st = th_run(pl);
  cr_assert_eq(st, PIPE_ECSV, "status %d (%s)", st, pipe_err_name(st));
  cr_assert_eq(th_done_calls(), 1);
  const pipe_error_t* e = pipe_pipeline_error(pl);
  cr_assert_eq(e->code, PIPE_ECSV);
  cr_assert_str_eq(e->stage, "th_fail");
  cr_assert_not_null(strstr(e->msg, "injected failure at buffer 5"), "%s",
                     e->msg);
  cr_assert_eq(src->counts.destroys, 1);
  cr_assert_eq(mid->counts.destroys, 1);
  cr_assert_eq(snk->counts.destroys, 1);
  cr_assert_eq(src->counts.destroy_status, PIPE_ECSV);
  cr_assert_eq(mid->counts.destroy_status, PIPE_ECSV);
  cr_assert_eq(snk->counts.destroy_status, PIPE_ECSV);
  cr_assert_eq(snk->counts.ends, 0, "a failed run never ends the sink");
  cr_assert_lt(snk->got_len, len);
  cr_assert_eq(pipe_pool_stats(src->stage.pool).out, 0,
               "queued buffers were released at teardown");
  th_finish(pl);
  free(data);
}

Test(pipeline, success_destroys_each_stage_once_with_status_0) {
  size_t len = 10000;
  uint8_t* data = th_pattern(len, 4);
  pipe_pipeline_t* pl = th_pipeline(&small);
  th_source_t* src = th_source_new(pl, data, len, 333);
  th_fail_t* mid = th_fail_new(pl, 0, 0); /* plain pass-through */
  th_sink_t* snk = th_sink_new(pl, 0, 0); /* fast */

  cr_assert_eq(th_run(pl), 0);
  cr_assert_eq(pipe_pipeline_error(pl)->code, 0);
  cr_assert_eq(src->counts.starts, 1);
  cr_assert_eq(snk->counts.starts, 1);
  cr_assert_eq(src->counts.destroys, 1);
  cr_assert_eq(mid->counts.destroys, 1);
  cr_assert_eq(snk->counts.destroys, 1);
  cr_assert_eq(src->counts.destroy_status, 0);
  cr_assert_eq(mid->counts.destroy_status, 0);
  cr_assert_eq(snk->counts.destroy_status, 0);
  cr_assert_eq(mid->counts.ends, 1);
  cr_assert_eq(snk->counts.ends, 1);
  cr_assert_eq(mid->counts.writes, (int)((len + 332) / 333));
  assert_same(snk->got, snk->got_len, data, len);
  th_finish(pl);
  free(data);
}

Test(pipeline, end_is_delivered_after_data_even_when_the_sink_was_full) {
  /* Every write fills the sink (FULL at 1): the source's end arrives while
   * it is blocked and must wait behind the last buffer. */
  size_t len = 5000;
  uint8_t* data = th_pattern(len, 5);
  pipe_pipeline_t* pl = th_pipeline(&small);
  th_source_t* src = th_source_new(pl, data, len, 1000);
  th_fail_t* mid = th_fail_new(pl, 0, 0);
  th_sink_t* snk = th_sink_new(pl, 1, 2);

  cr_assert_eq(th_run(pl), 0);
  cr_assert_eq(src->fulls, 5, "every push was answered FULL");
  cr_assert_eq(snk->counts.ends, 1);
  cr_assert_eq(mid->counts.ends, 1);
  cr_assert_eq(snk->writes_after_end, 0);
  cr_assert_eq(snk->writes_while_full, 0);
  cr_assert_eq(snk->in_at_end, len, "all data had arrived when end() came");
  cr_assert_lt(snk->queued_at_end, 2);
  assert_same(snk->got, snk->got_len, data, len);
  th_finish(pl);
  free(data);
}

Test(pipeline, empty_source_ends_at_once) {
  pipe_pipeline_t* pl = th_pipeline(NULL);
  th_source_new(pl, "", 0, 10);
  th_sink_t* snk = th_sink_new(pl, 1, 1);
  cr_assert_eq(th_run(pl), 0);
  cr_assert_eq(snk->counts.writes, 0);
  cr_assert_eq(snk->counts.ends, 1);
  th_finish(pl);
}

Test(pipeline, sink_ending_early_succeeds_and_stops_upstream) {
  /* Like stdout on EPIPE: the sink ends while the source still has data.
   * A transform in between must not turn that into an error. */
  size_t len = 200 * 1024;
  uint8_t* data = th_pattern(len, 6);
  pipe_pipeline_t* pl = th_pipeline(&small);
  th_source_t* src = th_source_new(pl, data, len, 1024);
  th_fail_t* mid = th_fail_new(pl, 0, 0);
  th_sink_t* snk = th_sink_new(pl, 4, 1);
  snk->stop_after = 3000;

  cr_assert_eq(th_run(pl), 0);
  cr_assert_eq(pipe_pipeline_error(pl)->code, 0);
  cr_assert(snk->stopped);
  cr_assert_lt(src->pos, len, "the source was stopped before the end");
  cr_assert_eq(src->counts.destroys, 1);
  cr_assert_eq(mid->counts.destroys, 1);
  cr_assert_eq(snk->counts.destroys, 1);
  cr_assert_eq(src->counts.destroy_status, 0);
  cr_assert_eq(snk->counts.destroy_status, 0);
  cr_assert_eq(memcmp(snk->got, data, 3000), 0);
  cr_assert_eq(pipe_pool_stats(src->stage.pool).out, 0);
  th_finish(pl);
  free(data);
}

static void abort_cb(uv_timer_t* t) {
  pipe_pipeline_abort(t->data, PIPE_ECANCELED);
  uv_close((uv_handle_t*)t, NULL);
}

Test(pipeline, abort_from_outside_fails_the_run_once) {
  size_t len = 1024 * 1024; /* one buffer per ms: far longer than 20 ms */
  uint8_t* data = th_pattern(len, 7);
  pipe_pipeline_t* pl = th_pipeline(&small);
  th_source_t* src = th_source_new(pl, data, len, 1024);
  th_sink_t* snk = th_sink_new(pl, 2, 1);
  uv_timer_t t;
  uv_timer_init(th_loop(), &t);
  t.data = pl;
  uv_timer_start(&t, abort_cb, 20, 0);

  cr_assert_eq(th_run(pl), PIPE_ECANCELED);
  cr_assert_eq(src->counts.destroys, 1);
  cr_assert_eq(snk->counts.destroys, 1);
  cr_assert_eq(snk->counts.destroy_status, PIPE_ECANCELED);
  cr_assert_gt(snk->got_len, 0);
  cr_assert_lt(snk->got_len, len);
  th_finish(pl);
  free(data);
}

Test(pipeline, free_of_a_never_run_pipeline_destroys_stages_canceled) {
  pipe_pipeline_t* pl = th_pipeline(NULL);
  th_source_t* src = th_source_new(pl, "abc", 3, 1);
  th_sink_t* snk = th_sink_new(pl, 1, 1);
  pipe_pipeline_free(pl);
  /* Stage memory goes only once the internal handle has closed. */
  cr_assert_eq(src->counts.destroys, 1);
  cr_assert_eq(snk->counts.destroys, 1);
  cr_assert_eq(src->counts.destroy_status, PIPE_ECANCELED);
  cr_assert_eq(src->counts.starts, 0);
  cr_assert_eq(snk->counts.starts, 0);
  uv_run(th_loop(), UV_RUN_DEFAULT);
  /* .fini asserts the loop closes: nothing leaked. */
}

static void never(pipe_pipeline_t* pl, int status) {
  (void)pl;
  (void)status;
  cr_assert_fail("done must not fire for a rejected run");
}

Test(pipeline, run_rejects_a_pipeline_without_source_or_sink) {
  pipe_pipeline_t* pl;

  pl = th_pipeline(NULL); /* no stages */
  cr_assert_eq(pipe_pipeline_run(pl, never), PIPE_EINVAL);
  pipe_pipeline_free(pl);

  pl = th_pipeline(NULL); /* a source alone */
  th_source_new(pl, "x", 1, 1);
  cr_assert_eq(pipe_pipeline_run(pl, never), PIPE_EINVAL);
  pipe_pipeline_free(pl);

  pl = th_pipeline(NULL); /* sink first */
  th_sink_new(pl, 1, 0);
  th_source_new(pl, "x", 1, 1);
  cr_assert_eq(pipe_pipeline_run(pl, never), PIPE_EINVAL);
  pipe_pipeline_free(pl);

  pl = th_pipeline(NULL); /* ends with a source */
  th_source_new(pl, "x", 1, 1);
  th_source_new(pl, "y", 1, 1);
  cr_assert_eq(pipe_pipeline_run(pl, never), PIPE_EINVAL);
  pipe_pipeline_free(pl);

  uv_run(th_loop(), UV_RUN_DEFAULT);
}

Test(pipeline, run_twice_is_rejected_and_stages_cannot_be_added) {
  pipe_pipeline_t* pl = th_pipeline(NULL);
  pipe_stage_t* s;
  th_source_new(pl, "abc", 3, 1);
  th_sink_new(pl, 0, 0);
  cr_assert_eq(th_run(pl), 0);
  cr_assert_eq(pipe_pipeline_run(pl, never), PIPE_EINVAL);
  cr_assert_eq(
      pipe_file_sink_new(pl, &(pipe_file_sink_config_t){.path = "/tmp/x"}, &s),
      PIPE_EINVAL);
  th_finish(pl);
}

Test(pipeline, run_rejects_a_stage_without_write_in_the_middle) {
  /* A source (no write()) between two stages would be called through a
   * NULL pointer by the first push: run() checks every stage, not only
   * the ends. */
  pipe_pipeline_t* pl = th_pipeline(NULL);
  th_source_t* a = th_source_new(pl, "x", 1, 1);
  th_source_t* b = th_source_new(pl, "y", 1, 1);
  th_sink_new(pl, 1, 0);
  cr_assert_eq(pipe_pipeline_run(pl, never), PIPE_EINVAL);
  cr_assert_eq(a->counts.starts, 0, "nothing was started");
  cr_assert_eq(b->counts.starts, 0);
  pipe_pipeline_free(pl);
  uv_run(th_loop(), UV_RUN_DEFAULT);
}

Test(pipeline, abort_before_run_makes_the_run_fail_with_that_error) {
  /* Aborted before it ran (a signal during set-up): the run reports the
   * abort, starts nothing (a file sink creates no temp file), destroys
   * every stage once and fires the completion once. */
  char* dir = th_tmpdir();
  char* out = th_path(dir, "out.bin");
  pipe_pipeline_t* pl = th_pipeline(NULL);
  th_source_t* src = th_source_new(pl, "abc", 3, 1);
  pipe_stage_t* snk;
  cr_assert_eq(pipe_file_sink_new(pl, &(pipe_file_sink_config_t){.path = out},
                                  &snk), 0);
  pipe_pipeline_abort(pl, PIPE_ECANCELED);
  pipe_pipeline_abort(pl, PIPE_EIO); /* the first one wins */
  uv_run(th_loop(), UV_RUN_NOWAIT);  /* the loop turns before run() */

  int st = th_run(pl);
  cr_assert_eq(st, PIPE_ECANCELED, "status %s", pipe_err_name(st));
  cr_assert_eq(pipe_pipeline_error(pl)->code, PIPE_ECANCELED);
  cr_assert_eq(src->counts.starts, 0, "an aborted pipeline starts nothing");
  cr_assert_eq(src->counts.destroys, 1);
  cr_assert_eq(src->counts.destroy_status, PIPE_ECANCELED);
  cr_assert_eq(th_count_entries(dir), 0, "no output and no temp file");
  th_finish(pl);
  free(out);
  free(dir);
}

Test(pipeline, abort_names_no_stage_as_the_one_that_failed) {
  size_t len = 1024 * 1024;
  uint8_t* data = th_pattern(len, 8);
  pipe_pipeline_t* pl = th_pipeline(&small);
  th_source_new(pl, data, len, 1024);
  th_sink_new(pl, 2, 1);
  uv_timer_t t;
  uv_timer_init(th_loop(), &t);
  t.data = pl;
  uv_timer_start(&t, abort_cb, 10, 0);

  cr_assert_eq(th_run(pl), PIPE_ECANCELED);
  const pipe_error_t* e = pipe_pipeline_error(pl);
  cr_assert_str_eq(e->stage, "", "the source did not fail: '%s'", e->stage);
  cr_assert_str_eq(e->msg, pipe_strerror(PIPE_ECANCELED));
  th_finish(pl);
  free(data);
}

typedef struct {
  pipe_pipeline_t* pl;
  th_sink_t* snk;
  int done_calls;
} free_case_t;

static void free_cb(uv_timer_t* t) {
  free_case_t* fc = t->data;
  size_t n;
  pipe_pipeline_free(fc->pl);
  /* The stages live until teardown ends: the sink may still be read, and
   * its collected bytes (the harness frees them only in th_finish) go now.
   * Its timer stops so that nothing is collected again. */
  uv_timer_stop(&fc->snk->timer);
  free(th_sink_take(fc->snk, &n));
  uv_close((uv_handle_t*)t, NULL);
}

static void count_done(pipe_pipeline_t* pl, int status) {
  (void)status;
  ((free_case_t*)pipe_pipeline_data(pl))->done_calls++;
}

Test(pipeline, free_of_a_running_pipeline_is_deferred_until_teardown_ends) {
  /* Freed while data flows (a client gone, the caller giving up): the run
   * is aborted, every stage is destroyed once, and the memory goes only
   * when the async work has finished — nothing is freed under the loop.
   * The completion callback does not fire: the caller gave the pipeline
   * up. ASan and the loop fixture check nothing is used after free or
   * leaked. */
  size_t len = 1024 * 1024;
  uint8_t* data = th_pattern(len, 9);
  free_case_t fc = {0};
  fc.pl = th_pipeline(&small);
  th_source_new(fc.pl, data, len, 1024);
  fc.snk = th_sink_new(fc.pl, 2, 1); /* a live timer: async close */
  pipe_pipeline_set_data(fc.pl, &fc);
  uv_timer_t t;
  uv_timer_init(th_loop(), &t);
  t.data = &fc;
  uv_timer_start(&t, free_cb, 10, 0);
  cr_assert_eq(pipe_pipeline_run(fc.pl, count_done), 0);
  uv_run(th_loop(), UV_RUN_DEFAULT);
  cr_assert_eq(fc.done_calls, 0, "done fired %d times after free",
               fc.done_calls);
  free(data);
  /* .fini asserts the loop closes: no handle left. */
}

static void free_in_done(pipe_pipeline_t* pl, int status) {
  free_case_t* fc = pipe_pipeline_data(pl);
  size_t n;
  uint8_t* got = th_sink_take(fc->snk, &n);
  (void)status;
  fc->done_calls++;
  cr_expect_eq(n, 3);
  free(got);
  pipe_pipeline_free(pl);
}

Test(pipeline, free_from_inside_the_completion_callback_frees_at_once) {
  free_case_t fc = {0};
  fc.pl = th_pipeline(NULL);
  th_source_new(fc.pl, "abc", 3, 1);
  fc.snk = th_sink_new(fc.pl, 0, 0);
  pipe_pipeline_set_data(fc.pl, &fc);
  cr_assert_eq(pipe_pipeline_run(fc.pl, free_in_done), 0);
  uv_run(th_loop(), UV_RUN_DEFAULT);
  cr_assert_eq(fc.done_calls, 1);
}
