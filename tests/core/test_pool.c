/* Buffer pools: references, the hard limit, waiters, lingering free. */
#include <criterion/criterion.h>

#include "support/harness.h"

static pipe_pool_t* new_pool(size_t size, size_t limit) {
  pipe_pool_t* p = NULL;
  cr_assert_eq(pipe_pool_new(size, limit, &p), 0);
  cr_assert_not_null(p);
  return p;
}

Test(pool, new_rejects_zero_size_or_limit) {
  pipe_pool_t* p = (pipe_pool_t*)1;
  cr_assert_eq(pipe_pool_new(0, 4, &p), PIPE_EINVAL);
  cr_assert_null(p);
  cr_assert_eq(pipe_pool_new(64, 0, &p), PIPE_EINVAL);
  cr_assert_null(p);
}

Test(pool, acquire_gives_an_empty_buffer_with_one_ref) {
  pipe_pool_t* p = new_pool(100, 2);
  pipe_buf_t* b = pipe_pool_acquire(p);
  cr_assert_not_null(b);
  cr_assert_eq(b->refs, 1);
  cr_assert_eq(b->off, 0);
  cr_assert_eq(b->len, 0);
  cr_assert_eq(b->cap, 100);
  cr_assert_eq(b->pool, p);
  cr_assert_eq(pipe_buf_room(b), 100);
  cr_assert_eq((uintptr_t)b->base % 64, 0, "data is 64-byte aligned");
  pipe_buf_unref(b);
  pipe_pool_free(p);
}

Test(pool, last_unref_returns_the_buffer_to_the_pool) {
  pipe_pool_t* p = new_pool(64, 1);
  pipe_buf_t* b = pipe_pool_acquire(p);
  cr_assert_eq(pipe_buf_ref(b), b);
  cr_assert_eq(b->refs, 2);
  pipe_buf_unref(b);
  cr_assert_eq(pipe_pool_stats(p).out, 1, "still out after one unref");
  cr_assert_null(pipe_pool_acquire(p), "limit 1 and the chunk is out");
  pipe_buf_unref(b);
  cr_assert_eq(pipe_pool_stats(p).out, 0);
  pipe_buf_t* again = pipe_pool_acquire(p);
  cr_assert_eq(again, b, "the same chunk is reused, not reallocated");
  cr_assert_eq(again->refs, 1);
  cr_assert_eq(again->len, 0, "a recycled chunk comes back empty");
  cr_assert_eq(pipe_pool_stats(p).allocated, 1);
  pipe_buf_unref(again);
  pipe_pool_free(p);
}

Test(pool, acquire_returns_null_at_the_limit_and_counts_misses) {
  pipe_pool_t* p = new_pool(64, 3);
  pipe_buf_t* b[3];
  int i;
  for (i = 0; i < 3; i++) cr_assert_not_null(b[i] = pipe_pool_acquire(p));
  cr_assert_null(pipe_pool_acquire(p));
  cr_assert_null(pipe_pool_acquire(p));
  pipe_pool_stats_t st = pipe_pool_stats(p);
  cr_assert_eq(st.out, 3);
  cr_assert_eq(st.misses, 2);
  cr_assert_eq(st.acquires, 3);
  cr_assert_eq(st.limit, 3);
  cr_assert_eq(st.size, 64);
  for (i = 0; i < 3; i++) pipe_buf_unref(b[i]);
  pipe_pool_free(p);
}

Test(pool, unref_of_null_is_harmless) {
  pipe_buf_unref(NULL);
}

/* Waiters record the order in which they were woken. */
typedef struct {
  pipe_pool_waiter_t w; /* first */
  int id;
  int* log;
  int* nlog;
} waiter_t;

static void on_wake(pipe_pool_waiter_t* w) {
  waiter_t* x = (waiter_t*)w;
  x->log[(*x->nlog)++] = x->id;
}

Test(pool, every_waiter_is_woken_in_fifo_order_when_a_buffer_returns) {
  /* All waiters retry: one that does not acquire cannot strand the rest. */
  pipe_pool_t* p = new_pool(64, 2);
  pipe_buf_t* a = pipe_pool_acquire(p);
  pipe_buf_t* b = pipe_pool_acquire(p);
  int log[8], nlog = 0, i;
  waiter_t w[3];
  memset(w, 0, sizeof(w));
  for (i = 0; i < 3; i++) {
    w[i].id = i + 1;
    w[i].log = log;
    w[i].nlog = &nlog;
    cr_assert_eq(pipe_pool_wait(p, &w[i].w, on_wake), 0);
  }
  cr_assert_eq(pipe_pool_wait(p, &w[0].w, on_wake), PIPE_EBUSY,
               "a waiter is queued at most once");
  pipe_buf_unref(a);
  cr_assert_eq(nlog, 3, "one release wakes every waiter");
  cr_assert_eq(log[0], 1);
  cr_assert_eq(log[1], 2);
  cr_assert_eq(log[2], 3);
  for (i = 0; i < 3; i++) cr_assert_not(w[i].w.queued, "one-shot");
  /* A waiter that queues again is woken by the next release only. */
  cr_assert_eq(pipe_pool_wait(p, &w[1].w, on_wake), 0);
  pipe_buf_unref(b);
  cr_assert_eq(nlog, 4);
  cr_assert_eq(log[3], 2);
  pipe_pool_free(p);
}

Test(pool, free_with_waiters_leaves_them_unqueued) {
  pipe_pool_t* p = new_pool(64, 1);
  pipe_buf_t* a = pipe_pool_acquire(p);
  int log[2], nlog = 0;
  waiter_t w = {.id = 1, .log = log, .nlog = &nlog};
  cr_assert_eq(pipe_pool_wait(p, &w.w, on_wake), 0);
  pipe_pool_free(p); /* lingers: a is out */
  cr_assert_not(w.w.queued);
  pipe_buf_unref(a); /* frees the pool; must not wake anyone */
  cr_assert_eq(nlog, 0);
}

Test(pool, cancel_removes_a_waiter_and_is_idempotent) {
  pipe_pool_t* p = new_pool(64, 1);
  pipe_buf_t* a = pipe_pool_acquire(p);
  int log[4], nlog = 0;
  waiter_t w1 = {.id = 1, .log = log, .nlog = &nlog};
  waiter_t w2 = {.id = 2, .log = log, .nlog = &nlog};
  cr_assert_eq(pipe_pool_wait(p, &w1.w, on_wake), 0);
  cr_assert_eq(pipe_pool_wait(p, &w2.w, on_wake), 0);
  pipe_pool_cancel(p, &w1.w);
  pipe_pool_cancel(p, &w1.w);
  cr_assert_not(w1.w.queued);
  pipe_buf_unref(a);
  cr_assert_eq(nlog, 1);
  cr_assert_eq(log[0], 2, "the cancelled waiter is skipped");
  pipe_pool_free(p);
}

Test(pool, cancel_on_another_pool_leaves_the_waiter_queued) {
  /* A waiter sits on pool A; cancelling it against pool B (the pipeline's
   * teardown tries every pool) must not unlink or corrupt A's queue. */
  pipe_pool_t* pa = new_pool(64, 1);
  pipe_pool_t* pb = new_pool(64, 1);
  pipe_buf_t* a = pipe_pool_acquire(pa);
  int log[4], nlog = 0;
  waiter_t w1 = {.id = 1, .log = log, .nlog = &nlog};
  waiter_t w2 = {.id = 2, .log = log, .nlog = &nlog};
  cr_assert_eq(pipe_pool_wait(pa, &w1.w, on_wake), 0);
  cr_assert_eq(pipe_pool_wait(pa, &w2.w, on_wake), 0);
  pipe_pool_cancel(pb, &w1.w);
  cr_assert(w1.w.queued, "still queued on its own pool");
  pipe_pool_cancel(pa, &w1.w);
  cr_assert_not(w1.w.queued);
  pipe_buf_unref(a);
  cr_assert_eq(nlog, 1);
  cr_assert_eq(log[0], 2, "the waiter behind it was not lost");
  pipe_pool_free(pa);
  pipe_pool_free(pb);
}

Test(pool, free_with_buffers_out_lingers_until_the_last_unref) {
  /* Under ASan this proves the late unrefs touch live memory and that the
   * pool goes away with the last of them (no leak). */
  pipe_pool_t* p = new_pool(128, 4);
  pipe_buf_t* a = pipe_pool_acquire(p);
  pipe_buf_t* b = pipe_pool_acquire(p);
  pipe_buf_t* c = pipe_pool_acquire(p);
  pipe_buf_unref(c); /* cached: freed right away by pipe_pool_free */
  memset(pipe_buf_tail(a), 'x', 128);
  pipe_pool_free(p);
  cr_assert_null(pipe_pool_acquire(p), "a dying pool hands out nothing");
  a->len = 128;
  cr_assert_eq(pipe_buf_data(a)[127], 'x', "buffers stay usable");
  pipe_buf_unref(a);
  pipe_buf_unref(b); /* frees the pool */
}

Test(pool, stats_track_peak_out_and_allocated) {
  pipe_pool_t* p = new_pool(32, 5);
  pipe_buf_t* b[4];
  int i;
  for (i = 0; i < 4; i++) b[i] = pipe_pool_acquire(p);
  for (i = 0; i < 3; i++) pipe_buf_unref(b[i]);
  b[0] = pipe_pool_acquire(p);
  pipe_pool_stats_t st = pipe_pool_stats(p);
  cr_assert_eq(st.peak, 4);
  cr_assert_eq(st.out, 2);
  cr_assert_eq(st.allocated, 4, "chunks are cached, not freed");
  cr_assert_eq(st.acquires, 5);
  cr_assert_eq(st.misses, 0);
  pipe_buf_unref(b[0]);
  pipe_buf_unref(b[3]);
  pipe_pool_free(p);
}
