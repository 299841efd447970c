/* The file source: full buffers, exact bytes, size, errors naming the
 * path, pausing under backpressure, teardown with a read in flight. */
#include <criterion/criterion.h>
#include <criterion/parameterized.h>
#include <fcntl.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "support/harness.h"

TestSuite(file_source, .init = th_loop_init, .fini = th_loop_fini);

static pipe_stage_t* add_source(pipe_pipeline_t* pl, const char* path) {
  pipe_stage_t* s = NULL;
  pipe_file_source_config_t cfg = {.path = path};
  cr_assert_eq(pipe_file_source_new(pl, &cfg, &s), 0);
  cr_assert_not_null(s);
  return s;
}

ParameterizedTestParameters(file_source, reads_every_byte_in_full_buffers) {
  static size_t sizes[] = {0, 1, 65535, 65536, 65537, 1024 * 1024 + 3};
  return cr_make_param_array(size_t, sizes, sizeof(sizes) / sizeof(*sizes));
}

ParameterizedTest(size_t* size, file_source, reads_every_byte_in_full_buffers) {
  size_t n = *size, bs = PIPE_DEFAULT_BUF_SIZE;
  char* dir = th_tmpdir();
  char* path = th_path(dir, "in.bin");
  uint8_t* data = th_pattern(n, (uint32_t)n);
  th_write_file(path, data, n);
  pipe_pipeline_t* pl = th_pipeline(NULL);
  pipe_stage_t* src = add_source(pl, path);
  th_sink_t* snk = th_sink_new(pl, 0, 0);
  cr_assert_eq(pipe_file_source_size(src), -1, "unknown before start");

  cr_assert_eq(th_run(pl), 0);
  cr_assert_eq(pipe_file_source_size(src), (int64_t)n);
  cr_assert_eq(snk->got_len, n);
  cr_assert(n == 0 || memcmp(snk->got, data, n) == 0);
  /* Every buffer but the last is filled to capacity. */
  cr_assert_eq(snk->counts.writes, (int)((n + bs - 1) / bs));
  cr_assert_eq(snk->counts.ends, 1);
  cr_assert_eq(pipe_pool_stats(src->pool).out, 0);
  th_finish(pl);
  free(data);
  free(path);
  free(dir);
}

Test(file_source, missing_file_fails_with_enoent_naming_the_path) {
  pipe_pipeline_t* pl = th_pipeline(NULL);
  add_source(pl, "/nonexistent/dir/input.csv");
  th_sink_t* snk = th_sink_new(pl, 0, 0);

  cr_assert_eq(th_run(pl), PIPE_ENOENT);
  const pipe_error_t* e = pipe_pipeline_error(pl);
  cr_assert_str_eq(e->stage, "file_source");
  cr_assert_not_null(strstr(e->msg, "/nonexistent/dir/input.csv"), "%s",
                     e->msg);
  cr_assert_not_null(strstr(e->msg, "no such file"), "%s", e->msg);
  cr_assert_eq(snk->counts.starts, 1, "the sink had started first");
  cr_assert_eq(snk->counts.destroys, 1);
  cr_assert_eq(snk->counts.destroy_status, PIPE_ENOENT);
  th_finish(pl);
}

Test(file_source, directory_fails_with_eisdir) {
  char* dir = th_tmpdir();
  pipe_pipeline_t* pl = th_pipeline(NULL);
  add_source(pl, dir);
  th_sink_new(pl, 0, 0);
  cr_assert_eq(th_run(pl), PIPE_EISDIR);
  cr_assert_not_null(strstr(pipe_pipeline_error(pl)->msg, dir));
  th_finish(pl);
  free(dir);
}

Test(file_source, constructor_rejects_a_missing_path) {
  pipe_pipeline_t* pl = th_pipeline(NULL);
  pipe_stage_t* s = (pipe_stage_t*)1;
  pipe_file_source_config_t cfg = {.path = NULL};
  cr_assert_eq(pipe_file_source_new(pl, NULL, &s), PIPE_EINVAL);
  cr_assert_null(s);
  cr_assert_eq(pipe_file_source_new(pl, &cfg, &s), PIPE_EINVAL);
  cr_assert_null(pipe_pipeline_first(pl), "nothing was linked");
  th_finish(pl);
}

Test(file_source, slow_sink_stops_the_reads_within_the_pool) {
  pipe_pipeline_config_t cfg = {.buf_size = 4096, .pool_limit = 3, .hwm = 2};
  size_t n = 300 * 1000;
  char* dir = th_tmpdir();
  char* path = th_path(dir, "in.bin");
  uint8_t* data = th_pattern(n, 42);
  th_write_file(path, data, n);
  pipe_pipeline_t* pl = th_pipeline(&cfg);
  pipe_stage_t* src = add_source(pl, path);
  th_sink_t* snk = th_sink_new(pl, 2, 1);

  cr_assert_eq(th_run(pl), 0);
  cr_assert_eq(snk->got_len, n);
  cr_assert_eq(memcmp(snk->got, data, n), 0);
  cr_assert_leq(pipe_pool_stats(src->pool).peak, 3);
  cr_assert_gt(src->stats.waits, 0, "the source was paused");
  cr_assert_gt(src->stats.blocked_ns, 0);
  cr_assert_leq(snk->max_qlen, 2);
  cr_assert_eq(snk->writes_while_full, 0);
  th_finish(pl);
  free(data);
  free(path);
  free(dir);
}

static void abort_now(uv_idle_t* h) {
  pipe_pipeline_abort(h->data, PIPE_ECANCELED);
  uv_close((uv_handle_t*)h, NULL);
}

Test(file_source, abort_with_a_read_in_flight_cleans_up) {
  /* The abort lands on the first loop iteration, while the first
   * uv_fs_read is on the thread pool: the callback must only release. */
  size_t n = 4 * 1024 * 1024;
  char* dir = th_tmpdir();
  char* path = th_path(dir, "big.bin");
  uint8_t* data = th_pattern(n, 7);
  th_write_file(path, data, n);
  pipe_pipeline_t* pl = th_pipeline(NULL);
  pipe_stage_t* src = add_source(pl, path);
  th_sink_t* snk = th_sink_new(pl, 2, 1);
  uv_idle_t idle;
  uv_idle_init(th_loop(), &idle);
  idle.data = pl;
  uv_idle_start(&idle, abort_now);

  cr_assert_eq(th_run(pl), PIPE_ECANCELED);
  cr_assert_lt(snk->got_len, n);
  cr_assert_eq(snk->counts.destroys, 1);
  cr_assert_eq(pipe_pool_stats(src->pool).out, 0);
  th_finish(pl);
  free(data);
  free(path);
  free(dir);
}

typedef struct fifo_writer_s {
  const char* path;
  const char* text;
  int wrote;
} fifo_writer_t;

static void write_fifo_cb(uv_timer_t* t) {
  fifo_writer_t* w = t->data;
  /* O_NONBLOCK succeeds: the source holds the read end open. */
  int fd = open(w->path, O_WRONLY | O_NONBLOCK);
  if (fd >= 0) {
    w->wrote = (int)write(fd, w->text, strlen(w->text));
    close(fd);
  }
  uv_close((uv_handle_t*)t, NULL);
}

Test(file_source, a_fifo_waits_for_its_writer_and_is_read_to_the_end,
     .timeout = 10) {
  /* A FIFO used to be opened blocking (start() hung until a writer came)
   * and then read with pread (ESPIPE). */
  char* dir = th_tmpdir();
  char* fifo = th_path(dir, "in.fifo");
  fifo_writer_t w = {fifo, "a,b\n1,2\n", -1};
  uv_timer_t t;
  pipe_pipeline_t* pl;
  pipe_stage_t* src;
  th_sink_t* snk;
  cr_assert_eq(mkfifo(fifo, 0600), 0);
  uv_timer_init(th_loop(), &t);
  t.data = &w;
  uv_timer_start(&t, write_fifo_cb, 150, 0);
  pl = th_pipeline(NULL);
  src = add_source(pl, fifo);
  snk = th_sink_new(pl, 0, 0);
  cr_assert_eq(pipe_pipeline_run(pl, NULL), 0);
  /* The other end is opened by a timer on this same loop, which only runs
   * in uv_run below: a start() that blocked on the FIFO would never return
   * (the test's timeout), and it returns before the other end exists. */
  cr_assert_eq(w.wrote, -1, "start() returned before the other end was opened");
  uv_run(th_loop(), UV_RUN_DEFAULT);
  cr_assert_eq(pipe_pipeline_error(pl)->code, 0, "%s", pipe_pipeline_error(pl)->msg);
  cr_assert_eq(w.wrote, 8);
  cr_assert_eq(snk->got_len, 8);
  cr_assert(memcmp(snk->got, "a,b\n1,2\n", 8) == 0);
  cr_assert_eq(snk->counts.ends, 1);
  cr_assert_eq(pipe_file_source_size(src), -1, "a FIFO has no size");
  th_finish(pl);
  free(fifo);
  free(dir);
}

Test(file_source, a_fifo_without_a_writer_can_be_aborted, .timeout = 10) {
  char* dir = th_tmpdir();
  char* fifo = th_path(dir, "in.fifo");
  pipe_pipeline_t* pl;
  cr_assert_eq(mkfifo(fifo, 0600), 0);
  pl = th_pipeline(NULL);
  add_source(pl, fifo);
  th_sink_new(pl, 0, 0);
  cr_assert_eq(pipe_pipeline_run(pl, NULL), 0);
  pipe_pipeline_abort(pl, PIPE_ECANCELED);
  uv_run(th_loop(), UV_RUN_DEFAULT);
  cr_assert_eq(pipe_pipeline_error(pl)->code, PIPE_ECANCELED);
  th_finish(pl);
  free(fifo);
  free(dir);
}
