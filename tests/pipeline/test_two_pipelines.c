/* Several pipelines at once on one loop, with the real stages: each keeps
 * its own pools, deferred queue and outcome. Two big runs overlap in time
 * and both produce exactly their output; a third that fails (missing
 * input) on the same loop fails alone. */
#include <criterion/criterion.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "support/gz_helpers.h"
#include "support/harness.h"

TestSuite(two_pipelines, .init = th_loop_init, .fini = th_loop_fini);

typedef struct run_s {
  pipe_pipeline_t* pl;
  struct run_s* other; /* the run whose progress we look at when done */
  int done_calls;
  int status;
  uint64_t other_bytes_at_done; /* other's source output when we finished */
  int other_done_at_done;
} run_t;

static void on_done(pipe_pipeline_t* pl, int status) {
  run_t* r = pipe_pipeline_data(pl);
  r->done_calls++;
  r->status = status;
  if (r->other != NULL) {
    /* The other's source, not its sink: gzip's sink sees nothing until a
     * whole block is compressed, which may come after csv2json is done
     * with all 8 MiB on a fast machine; the source has been reading all
     * along, its reads interleaved on the thread pool with ours. */
    r->other_bytes_at_done = pipe_pipeline_first(r->other->pl)->stats.bytes_out;
    r->other_done_at_done = r->other->done_calls;
  }
}

/* A CSV of about n bytes. malloc'd, *len set. */
static char* make_csv(size_t n, size_t* len) {
  char* s = malloc(n + 64);
  size_t k = (size_t)snprintf(s, n, "id,name,note\n");
  unsigned i = 0;
  while (k < n) k += (size_t)snprintf(s + k, n + 64 - k, "%u,n%u,\"x, y\"\n", i, i * 7), i++;
  *len = k;
  return s;
}

static pipe_pipeline_t* new_pipeline(run_t* r, const char* in, const char* out,
                                     int gzip) {
  pipe_pipeline_t* pl = th_pipeline(NULL);
  pipe_file_source_config_t sc = {in};
  pipe_file_sink_config_t kc = {.path = out, .fsync = 0};
  cr_assert_eq(pipe_file_source_new(pl, &sc, NULL), 0);
  if (gzip)
    cr_assert_eq(pipe_gzip_new(pl, &(pipe_gzip_config_t){.threads = 1}, NULL), 0);
  else
    cr_assert_eq(pipe_csv2json_new(pl, NULL, NULL), 0);
  cr_assert_eq(pipe_file_sink_new(pl, &kc, NULL), 0);
  r->pl = pl;
  pipe_pipeline_set_data(pl, r);
  return pl;
}

Test(two_pipelines, run_at_once_on_one_loop_and_each_gets_its_own_output,
     .timeout = 60) {
  char* dir = th_tmpdir();
  char* in = th_path(dir, "in.csv");
  char* json = th_path(dir, "out.json");
  char* gz = th_path(dir, "out.csv.gz");
  char* bad = th_path(dir, "missing.csv");
  char* badout = th_path(dir, "never.json");
  size_t len, n, jn;
  char* csv = make_csv(8u << 20, &len);
  run_t a = {0}, b = {0}, c = {0};
  th_write_file(in, csv, len);

  new_pipeline(&a, in, json, 0);
  new_pipeline(&b, in, gz, 1);
  new_pipeline(&c, bad, badout, 0);
  a.other = &b;
  b.other = &a;
  cr_assert_eq(pipe_pipeline_run(a.pl, on_done), 0);
  cr_assert_eq(pipe_pipeline_run(b.pl, on_done), 0);
  cr_assert_eq(pipe_pipeline_run(c.pl, on_done), 0);
  uv_run(th_loop(), UV_RUN_DEFAULT);

  cr_assert_eq(a.done_calls, 1);
  cr_assert_eq(b.done_calls, 1);
  cr_assert_eq(c.done_calls, 1);
  cr_assert_eq(a.status, 0, "%s", pipe_pipeline_error(a.pl)->msg);
  cr_assert_eq(b.status, 0, "%s", pipe_pipeline_error(b.pl)->msg);
  cr_assert_eq(c.status, PIPE_ENOENT, "the failing run fails alone: %s",
               pipe_err_name(c.status));
  /* They overlapped: whichever finished first saw the other under way. */
  {
    run_t* first = a.other_done_at_done == 0 ? &a : &b;
    cr_assert_eq(first->other_done_at_done, 0);
    cr_assert_gt(first->other_bytes_at_done, 0,
                 "the other pipeline had not started when the first ended");
  }
  {
    uint8_t* j = th_read_file(json, &jn);
    uint8_t* z = th_read_file(gz, &n);
    size_t un = 0;
    uint8_t* u = gzh_cmd("gzip -dc", z, n, &un);
    cr_assert_eq(un, len, "gzip -dc gave %zu bytes, want %zu", un, len);
    cr_assert_eq(memcmp(u, csv, len), 0);
    cr_assert_eq(memcmp(j, "{\"id\":\"0\",\"name\":\"n0\",\"note\":\"x, y\"}\n", 37), 0);
    {
      size_t i, rows = 0, lines = 0;
      for (i = 0; i < len; i++) rows += csv[i] == '\n';
      for (i = 0; i < jn; i++) lines += j[i] == '\n';
      cr_assert_eq(lines, rows - 1, "one JSON line per data row");
      cr_assert_eq(pipe_csv2json_records(pipe_pipeline_first(a.pl)->next),
                   rows - 1);
    }
    free(j);
    free(z);
    free(u);
  }
  cr_assert_eq(access(badout, F_OK), -1, "the failed run wrote nothing");
  pipe_pipeline_free(a.pl);
  pipe_pipeline_free(b.pl);
  pipe_pipeline_free(c.pl);
  uv_run(th_loop(), UV_RUN_DEFAULT);
  unlink(in);
  unlink(json);
  unlink(gz);
  rmdir(dir);
  free(csv);
  free(in);
  free(json);
  free(gz);
  free(bad);
  free(badout);
  free(dir);
}
