/* Stage-owned pools (pipe_stage_pool_new): listed by pipe_stage_pool_at
 * after the output pool, bounded like any pool, replaced early with
 * pipe_stage_pool_free, freed with the pipeline even with a chunk still
 * out (ASan checks nothing leaks or is used after free). */
#include <criterion/criterion.h>
#include <string.h>

#include "support/harness.h"

TestSuite(stage_pool, .init = th_loop_init, .fini = th_loop_fini);

Test(stage_pool, own_pools_are_listed_bounded_and_freed_with_the_pipeline) {
  pipe_pipeline_t* pl = th_pipeline(NULL);
  uint8_t data[100] = {0};
  th_source_t* src = th_source_new(pl, data, sizeof(data), 10);
  th_sink_t* snk = th_sink_new(pl, 0, 0);
  pipe_stage_t* s = &snk->stage;
  pipe_pool_t* p;
  pipe_pool_t* q;
  pipe_pool_t* extra[PIPE_STAGE_MAX_POOLS];
  pipe_buf_t* b[3];
  pipe_pool_stats_t st;
  int i;
  (void)src;
  cr_assert_eq(pipe_stage_pool_at(s, 0), s->pool, "0 is the output pool");
  cr_assert_null(pipe_stage_pool_at(s, 1));
  cr_assert_eq(pipe_stage_pool_new(s, 4096, 3, &p), 0);
  cr_assert_eq(pipe_stage_pool_at(s, 1), p);
  cr_assert_null(pipe_stage_pool_at(s, 2));
  for (i = 0; i < 3; i++) cr_assert_not_null(b[i] = pipe_pool_acquire(p));
  cr_assert_null(pipe_pool_acquire(p), "the limit holds");
  st = pipe_pool_stats(p);
  cr_expect_eq(st.size, 4096);
  cr_expect_eq(st.peak, 3);
  pipe_buf_unref(b[0]);
  pipe_buf_unref(b[1]);
  /* Up to PIPE_STAGE_MAX_POOLS, then PIPE_ELIMIT. */
  for (i = 1; i < PIPE_STAGE_MAX_POOLS; i++)
    cr_assert_eq(pipe_stage_pool_new(s, 64, 1, &extra[i]), 0);
  cr_expect_eq(pipe_stage_pool_new(s, 64, 1, &q), PIPE_ELIMIT);
  cr_expect_null(q);
  /* Freed early (a bigger pool replaces it): gone from the list. */
  pipe_stage_pool_free(s, extra[1]);
  for (i = 0; pipe_stage_pool_at(s, (size_t)i) != NULL; i++)
    cr_expect_neq(pipe_stage_pool_at(s, (size_t)i), extra[1]);
  cr_expect_eq(i, PIPE_STAGE_MAX_POOLS, "output pool + 3 own ones");
  cr_assert_eq(th_run(pl), 0);
  th_finish(pl); /* b[2] still out: the pool lingers until it comes back */
  pipe_buf_unref(b[2]);
}
