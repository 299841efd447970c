/* The flush signal (pipe_stage_flush): a source that has gone idle makes a
 * transform hand on its partly filled output buffer before it fills. The
 * source here pushes one small buffer, optionally flushes, and ends only
 * after a timer, so the test can look at what reached the sink while the
 * stream is still open (as with `tail -f x.csv | pipe csv2json`). */
#include <criterion/criterion.h>
#include <string.h>

#include "pipe/csv.h"
#include "support/harness.h"

TestSuite(flush, .init = th_loop_init, .fini = th_loop_fini);

typedef struct idle_src_s {
  pipe_stage_t stage; /* first */
  const char* data;
  int do_flush;
  uv_timer_t timer;
  th_sink_t* sink;
  size_t seen_before_end; /* sink bytes when the source was about to end */
} idle_src_t;

static void idle_timer_cb(uv_timer_t* t) {
  idle_src_t* s = t->data;
  s->seen_before_end = s->sink->got_len;
  uv_close((uv_handle_t*)t, NULL);
  pipe_stage_end(&s->stage);
}

static int idle_start(pipe_stage_t* st) {
  idle_src_t* s = (idle_src_t*)st;
  pipe_buf_t* b = pipe_pool_acquire(st->pool);
  size_t n = strlen(s->data);
  cr_assert_not_null(b);
  memcpy(pipe_buf_tail(b), s->data, n);
  b->len += n;
  cr_assert_eq(pipe_stage_push(st, b), PIPE_OK);
  if (s->do_flush) pipe_stage_flush(st);
  uv_timer_init(pipe_stage_loop(st), &s->timer);
  s->timer.data = s;
  uv_timer_start(&s->timer, idle_timer_cb, 20, 0);
  return 0;
}

static const pipe_stage_ops_t idle_ops = {
    .name = "idle_src", .size = sizeof(idle_src_t), .start = idle_start,
};

static size_t run_idle(int do_flush, size_t full_at, uint64_t tick_ms,
                       char** out) {
  pipe_pipeline_t* pl = th_pipeline(NULL);
  pipe_stage_t* st;
  idle_src_t* s;
  th_sink_t* k;
  size_t seen, len;
  cr_assert_eq(pipe_stage_new(pl, &idle_ops, &st), 0);
  s = (idle_src_t*)st;
  s->data = "a,b\n1,2\n3,4\n";
  s->do_flush = do_flush;
  cr_assert_eq(pipe_csv2json_new(pl, NULL, NULL), 0);
  k = th_sink_new(pl, full_at, tick_ms);
  s->sink = k;
  cr_assert_eq(th_run(pl), 0);
  seen = s->seen_before_end;
  *out = (char*)th_sink_take(k, &len);
  th_finish(pl);
  return seen;
}

Test(flush, an_idle_source_makes_csv2json_pass_on_its_partial_buffer) {
  char* out;
  size_t seen = run_idle(1, 4, 0, &out);
  cr_assert_eq(seen, 36, "sink had %zu bytes before the source ended", seen);
  cr_assert(memcmp(out, "{\"a\":\"1\",\"b\":\"2\"}\n{\"a\":\"3\",\"b\":\"4\"}\n", 36) == 0);
  free(out);
}

Test(flush, without_the_signal_csv2json_keeps_the_partial_buffer_until_end) {
  char* out;
  size_t seen = run_idle(0, 4, 0, &out);
  cr_assert_eq(seen, 0); /* so the test above is about the signal */
  cr_assert(memcmp(out, "{\"a\":\"1\",\"b\":\"2\"}\n", 18) == 0);
  free(out);
}

Test(flush, a_flush_while_downstream_is_full_is_passed_on_after_the_drain) {
  /* A slow sink (one buffer per 1 ms tick) answering FULL at once. */
  char* out;
  size_t seen = run_idle(1, 1, 1, &out);
  cr_assert_eq(seen, 36, "sink had %zu bytes before the source ended", seen);
  free(out);
}
