/* The push source (src/stages/push_source.h): a source fed by its owner,
 * as the HTTP server feeds it request body bytes. It takes every byte
 * given, answers PIPE_FULL when the owner must stop, and calls on_drain
 * when it may go on; bytes come out in order, whatever the pieces. */
#include <criterion/criterion.h>
#include <string.h>
#include <uv.h>

#include "stages/push_source.h"
#include "support/harness.h"

TestSuite(push_source, .init = th_loop_init, .fini = th_loop_fini);

typedef struct feeder_s {
  uv_idle_t idle;
  pipe_stage_t* src;
  const uint8_t* data;
  size_t len, pos, piece;
  int blocked, fulls, drains, ended, errors;
  size_t given_while_blocked;
} feeder_t;

static void feed_step(uv_idle_t* h) {
  feeder_t* f = h->data;
  size_t n;
  int r;
  if (f->blocked) return;
  if (f->pos == f->len) {
    if (!f->ended) pipe__push_source_end(f->src);
    f->ended = 1;
    uv_idle_stop(h);
    uv_close((uv_handle_t*)h, NULL);
    return;
  }
  n = f->len - f->pos < f->piece ? f->len - f->pos : f->piece;
  r = pipe__push_source_write(f->src, f->data + f->pos, n);
  f->pos += n;
  if (r == PIPE_FULL) {
    f->fulls++;
    f->blocked = 1;
  } else if (r < 0) {
    f->errors++;
    uv_idle_stop(h);
    uv_close((uv_handle_t*)h, NULL);
  }
}

static void on_drain(void* ud) {
  feeder_t* f = ud;
  cr_assert(f->blocked, "on_drain without a PIPE_FULL before");
  f->drains++;
  f->blocked = 0;
}

static void run_case(size_t len, size_t piece, size_t full_at, uint64_t tick) {
  pipe_pipeline_config_t cfg = {4096, 4, 2};
  pipe_pipeline_t* pl = th_pipeline(&cfg);
  feeder_t f;
  th_sink_t* k;
  uint8_t* data = th_pattern(len, 7);
  uint8_t* got;
  size_t got_len;
  memset(&f, 0, sizeof(f));
  f.data = data;
  f.len = len;
  f.piece = piece;
  cr_assert_eq(pipe__push_source_new(pl, on_drain, &f, &f.src), 0);
  k = th_sink_new(pl, full_at, tick);
  uv_idle_init(th_loop(), &f.idle);
  f.idle.data = &f;
  uv_idle_start(&f.idle, feed_step);
  cr_assert_eq(th_run(pl), 0);
  cr_assert_eq(k->writes_while_full, 0);
  cr_assert_eq(f.errors, 0);
  if (tick > 0) cr_assert_gt(f.fulls, 0, "a slow sink never made the source say FULL");
  cr_assert_eq(f.fulls, f.drains, "every FULL is followed by one drain");
  cr_assert_eq(pipe__push_source_bytes(f.src), len);
  got = th_sink_take(k, &got_len);
  cr_assert_eq(got_len, len);
  cr_assert(memcmp(got, data, len) == 0, "bytes out of order or changed");
  free(got);
  free(data);
  th_finish(pl);
}

Test(push_source, a_fast_sink_gets_every_byte_in_order) { run_case(100000, 1000, 0, 0); }

Test(push_source, a_slow_sink_makes_it_answer_full_and_drain) {
  run_case(200000, 3000, 2, 1);
}

Test(push_source, pieces_larger_than_the_whole_pool_are_taken_and_spilled) {
  /* 40 KiB at once into 4 x 4 KiB buffers: the rest waits in the spill. */
  run_case(400000, 40000, 2, 1);
}

Test(push_source, one_byte_pieces) { run_case(20000, 1, 0, 0); }

Test(push_source, bytes_given_before_the_run_are_delivered) {
  pipe_pipeline_t* pl = th_pipeline(NULL);
  pipe_stage_t* src;
  th_sink_t* k;
  uint8_t* got;
  size_t n;
  cr_assert_eq(pipe__push_source_new(pl, NULL, NULL, &src), 0);
  k = th_sink_new(pl, 0, 0);
  pipe__push_source_write(src, "hello ", 6);
  pipe__push_source_write(src, "world", 5);
  pipe__push_source_end(src);
  cr_assert_eq(th_run(pl), 0);
  got = th_sink_take(k, &n);
  cr_assert_eq(n, 11);
  cr_assert(memcmp(got, "hello world", 11) == 0);
  free(got);
  th_finish(pl);
}

Test(push_source, an_empty_body_ends_the_run) {
  pipe_pipeline_t* pl = th_pipeline(NULL);
  pipe_stage_t* src;
  th_sink_t* k;
  cr_assert_eq(pipe__push_source_new(pl, NULL, NULL, &src), 0);
  k = th_sink_new(pl, 0, 0);
  pipe__push_source_end(src);
  cr_assert_eq(th_run(pl), 0);
  cr_assert_eq(k->got_len, 0);
  th_finish(pl);
}

static void abort_soon(uv_timer_t* t) {
  pipe_pipeline_abort(t->data, PIPE_ECLOSED);
  uv_close((uv_handle_t*)t, NULL);
}

Test(push_source, an_abort_makes_writes_fail_and_the_run_report_it) {
  pipe_pipeline_t* pl = th_pipeline(NULL);
  pipe_stage_t* src;
  uv_timer_t t;
  cr_assert_eq(pipe__push_source_new(pl, NULL, NULL, &src), 0);
  th_sink_new(pl, 1, 1000);
  pipe__push_source_write(src, "abc", 3);
  uv_timer_init(th_loop(), &t);
  t.data = pl;
  uv_timer_start(&t, abort_soon, 10, 0);
  cr_assert_eq(th_run(pl), PIPE_ECLOSED);
  cr_assert_lt(pipe__push_source_write(src, "x", 1), 0);
  th_finish(pl);
}
