/* pipe_spec_build_transforms: the transforms-only spec of the HTTP service
 * ("csv2json --infer | gzip"): no paths ever, caps applied, worst-case
 * memory known before anything is built, errors pointing at the word. */
#include <criterion/criterion.h>
#include <string.h>

#include "pipe/gzip.h"
#include "pipe/spec.h"
#include "support/harness.h"

TestSuite(spec_transforms, .init = th_loop_init, .fini = th_loop_fini);

static size_t count_stages(pipe_pipeline_t* pl) {
  size_t n = 0;
  pipe_stage_t* s;
  for (s = pipe_pipeline_first(pl); s != NULL; s = s->next) n++;
  return n;
}

Test(spec_transforms, builds_the_stages_in_order) {
  pipe_pipeline_t* pl = th_pipeline(NULL);
  pipe_error_t e;
  pipe_stage_t* s;
  cr_assert_eq(pipe_spec_build_transforms("csv2json --infer | gzip -9 | hash md5", pl, NULL, NULL, &e), 0, "%s", e.msg);
  s = pipe_pipeline_first(pl);
  cr_assert_str_eq(s->name, "csv2json");
  cr_assert_str_eq(s->next->name, "gzip");
  cr_assert_str_eq(s->next->next->name, "hash");
  cr_assert_null(s->next->next->next);
  th_finish(pl);
}

static void expect_refused(const char* text, const char* msg_part, uint64_t col) {
  pipe_pipeline_t* pl = th_pipeline(NULL);
  pipe_error_t e;
  int r = pipe_spec_build_transforms(text, pl, NULL, NULL, &e);
  cr_assert_eq(r, PIPE_EUSAGE, "[%s] -> %d", text, r);
  cr_assert(strstr(e.msg, msg_part) != NULL, "[%s]: %s", text, e.msg);
  cr_assert_eq(e.has_offset, 1);
  cr_assert_eq(e.column, col, "[%s]: column %llu", text, (unsigned long long)e.column);
  cr_assert_eq(count_stages(pl), 0, "nothing is added when the spec is wrong");
  th_finish(pl);
}

Test(spec_transforms, a_path_is_never_accepted) {
  expect_refused("in.csv | gzip", "unknown stage 'in.csv'", 1);
  expect_refused("gzip | /etc/passwd", "unknown stage '/etc/passwd'", 8);
  expect_refused("- | gzip", "unknown stage '-'", 1);
}

Test(spec_transforms, empty_specs_and_stages_are_refused) {
  expect_refused("", "empty pipeline", 1);
  expect_refused("gzip | | gunzip", "empty stage", 8);
  expect_refused("gzip |", "empty stage", 6);
  expect_refused("| gzip", "empty stage", 1);
}

Test(spec_transforms, bad_options_point_at_their_word_and_add_nothing) {
  expect_refused("gzip | csv2json --bogus", "unknown option '--bogus'", 17);
  expect_refused("gzip -0", "level must be 1..9", 6);
}

Test(spec_transforms, memory_is_the_sum_of_pools_plus_gzip_blocks) {
  pipe_spec_limits_t lim = {0, 0, 0, 65536, 4};
  pipe_error_t e;
  pipe_spec_cost_t c;
  cr_assert_eq(pipe_spec_build_transforms("csv2json | gunzip", NULL, &lim, &c, &e), 0);
  cr_assert_eq(c.mem, 2 * 65536 * 4);
  cr_assert_eq(c.cpu_jobs, 0);
  cr_assert_eq(pipe_spec_build_transforms("gzip --threads 3 --block-size 2M", NULL, &lim, &c, &e), 0);
  cr_assert_eq(c.mem, 65536 * 4 + (2 * 3 + 3) * ((size_t)2 << 20) + 3 * (768u << 10));
  cr_assert_eq(c.cpu_jobs, 3);
}

Test(spec_transforms, caps_bound_threads_and_block_size) {
  /* gzip --threads 256 --block-size 64M asks for ~33 GiB; capped at 2
   * threads of 1 MiB blocks it is ~8.5 MiB, and that is what gets built. */
  pipe_spec_limits_t lim = {2, (size_t)1 << 20, 0, 65536, 4};
  pipe_pipeline_t* pl = th_pipeline(NULL);
  pipe_gzip_stats_t st;
  pipe_error_t e;
  pipe_spec_cost_t capped, uncapped;
  cr_assert_eq(pipe_spec_build_transforms("gzip --threads 256 --block-size 64M", NULL, NULL, &uncapped, &e), 0);
  cr_assert_gt(uncapped.mem, (size_t)32 << 30);
  cr_assert_eq(uncapped.cpu_jobs, 256);
  cr_assert_eq(pipe_spec_build_transforms("gzip --threads 256 --block-size 64M", pl, &lim, &capped, &e), 0);
  cr_assert_lt(capped.mem, (size_t)10 << 20, "capped cost %zu", capped.mem);
  cr_assert_eq(capped.cpu_jobs, 2);
  st = pipe_gzip_stats(pipe_pipeline_first(pl));
  cr_assert_eq(st.block_size, (size_t)1 << 20);
  cr_assert_leq(st.threads, 2);
  th_finish(pl);
}

Test(spec_transforms, a_stage_count_cap_is_enforced) {
  pipe_spec_limits_t lim = {0, 0, 2, 0, 0};
  pipe_error_t e;
  cr_assert_eq(pipe_spec_build_transforms("gzip | gunzip | gzip", NULL, &lim, NULL, &e), PIPE_EUSAGE);
  cr_assert(strstr(e.msg, "too many stages") != NULL, "%s", e.msg);
  cr_assert_eq(e.column, 17);
}

Test(spec_transforms, quoting_works_as_in_pipe_run) {
  pipe_pipeline_t* pl = th_pipeline(NULL);
  pipe_error_t e;
  cr_assert_eq(pipe_spec_build_transforms("csv2json -d '|'", pl, NULL, NULL, &e), 0, "%s", e.msg);
  cr_assert_eq(count_stages(pl), 1);
  th_finish(pl);
}
