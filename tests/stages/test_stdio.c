/* The stdin source and the stdout sink, with fd 0 / fd 1 redirected in the
 * test process (criterion runs each test in its own process) to a pipe, a
 * file, /dev/null or a pseudo-terminal. Writers and readers on the far end
 * of a pipe are forked children. */
#define _GNU_SOURCE /* posix_openpt, ptsname */
#include <criterion/criterion.h>
#include <ctype.h>
#include <fcntl.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "support/harness.h"

TestSuite(stdio, .init = th_loop_init, .fini = th_loop_fini);

/* Points `target` (0 or 1) at newfd (consumed); returns a dup of the old
 * one for restore_fd. */
static int redirect_fd(int target, int newfd) {
  int saved = dup(target);
  cr_assert_geq(saved, 0);
  cr_assert_eq(dup2(newfd, target), target);
  close(newfd);
  return saved;
}

static void restore_fd(int target, int saved) {
  cr_assert_eq(dup2(saved, target), target);
  close(saved);
}

/* Forks a child that writes data to the pipe's write end, then exits.
 * Returns its pid; *rd is the read end for the parent. */
static pid_t spawn_writer(const uint8_t* data, size_t n, int* rd) {
  int p[2];
  pid_t pid;
  cr_assert_eq(pipe(p), 0);
  pid = fork();
  cr_assert_geq(pid, 0);
  if (pid == 0) {
    size_t off = 0;
    close(p[0]);
    while (off < n) {
      ssize_t w = write(p[1], data + off, n - off);
      if (w <= 0) _exit(1);
      off += (size_t)w;
    }
    _exit(0);
  }
  close(p[1]);
  *rd = p[0];
  return pid;
}

/* Forks a child that reads the pipe's read end into `path` (at most `max`
 * bytes, then it exits and closes the pipe; 0: until EOF). Returns its pid;
 * *wr is the write end for the parent. */
static pid_t spawn_reader(const char* path, size_t max, int* wr) {
  int p[2];
  pid_t pid;
  cr_assert_eq(pipe(p), 0);
  pid = fork();
  cr_assert_geq(pid, 0);
  if (pid == 0) {
    char buf[8192];
    size_t total = 0;
    int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, 0644);
    close(p[1]);
    for (;;) {
      size_t want = sizeof(buf);
      ssize_t r;
      if (max > 0 && max - total < want) want = max - total;
      if (want == 0) break;
      r = read(p[0], buf, want);
      if (r <= 0) break;
      if (write(fd, buf, (size_t)r) != r) _exit(1);
      total += (size_t)r;
    }
    _exit(0);
  }
  close(p[0]);
  *wr = p[1];
  return pid;
}

static int wait_child(pid_t pid) {
  int st = 0;
  cr_assert_eq(waitpid(pid, &st, 0), pid);
  return st;
}

static pipe_stage_t* add_stdin(pipe_pipeline_t* pl) {
  pipe_stage_t* s = NULL;
  cr_assert_eq(pipe_stdin_source_new(pl, &s), 0);
  return s;
}

static pipe_stage_t* add_stdout(pipe_pipeline_t* pl) {
  pipe_stage_t* s = NULL;
  cr_assert_eq(pipe_stdout_sink_new(pl, &s), 0);
  return s;
}

/* ---- stdin ----------------------------------------------------------------
 */

Test(stdio, stdin_from_a_pipe_delivers_every_byte) {
  size_t n = 1024 * 1024 + 3;
  uint8_t* data = th_pattern(n, 21);
  int rd;
  pid_t pid = spawn_writer(data, n, &rd);
  int saved = redirect_fd(0, rd);
  cr_assert_eq(uv_guess_handle(0), UV_NAMED_PIPE);
  int flags_before = fcntl(0, F_GETFL);

  pipe_pipeline_t* pl = th_pipeline(NULL);
  add_stdin(pl);
  th_sink_t* snk = th_sink_new(pl, 0, 0);
  cr_assert_eq(th_run(pl), 0);
  cr_assert_eq(snk->got_len, n);
  cr_assert_eq(memcmp(snk->got, data, n), 0);
  cr_assert_eq(snk->counts.ends, 1);
  th_finish(pl);
  cr_assert_eq(fcntl(0, F_GETFL), flags_before,
               "O_NONBLOCK set by libuv was taken back");
  cr_assert_eq(wait_child(pid), 0);
  restore_fd(0, saved);
  free(data);
}

Test(stdio, stdin_pipe_with_a_slow_sink_stops_reading) {
  pipe_pipeline_config_t cfg = {.buf_size = 4096, .pool_limit = 3, .hwm = 2};
  size_t n = 300 * 1000;
  uint8_t* data = th_pattern(n, 22);
  int rd;
  pid_t pid = spawn_writer(data, n, &rd);
  int saved = redirect_fd(0, rd);

  pipe_pipeline_t* pl = th_pipeline(&cfg);
  pipe_stage_t* src = add_stdin(pl);
  th_sink_t* snk = th_sink_new(pl, 2, 1);
  cr_assert_eq(th_run(pl), 0);
  cr_assert_eq(snk->got_len, n);
  cr_assert_eq(memcmp(snk->got, data, n), 0);
  cr_assert_leq(pipe_pool_stats(src->pool).peak, 3);
  cr_assert_gt(src->stats.waits, 0, "reading was paused");
  cr_assert_leq(snk->max_qlen, 2);
  cr_assert_eq(snk->writes_while_full, 0);
  th_finish(pl);
  cr_assert_eq(wait_child(pid), 0);
  restore_fd(0, saved);
  free(data);
}

Test(stdio, stdin_from_a_file_reads_from_its_position_in_full_buffers) {
  size_t n = 3 * 65536 + 100, skip = 100;
  uint8_t* data = th_pattern(n, 23);
  char* dir = th_tmpdir();
  char* path = th_path(dir, "in.bin");
  th_write_file(path, data, n);
  int fd = open(path, O_RDONLY);
  cr_assert_geq(fd, 0);
  cr_assert_eq(lseek(fd, (off_t)skip, SEEK_SET), (off_t)skip);
  int saved = redirect_fd(0, fd);
  cr_assert_eq(uv_guess_handle(0), UV_FILE);

  pipe_pipeline_config_t cfg = {.buf_size = 65536};
  pipe_pipeline_t* pl = th_pipeline(&cfg);
  add_stdin(pl);
  th_sink_t* snk = th_sink_new(pl, 0, 0);
  cr_assert_eq(th_run(pl), 0);
  cr_assert_eq(snk->got_len, n - skip);
  cr_assert_eq(memcmp(snk->got, data + skip, n - skip), 0);
  cr_assert_eq(snk->counts.writes, 3, "three full 64 KiB buffers");
  th_finish(pl);
  cr_assert_geq(fcntl(0, F_GETFD), 0, "fd 0 is still open");
  restore_fd(0, saved);
  free(data);
  free(path);
  free(dir);
}

Test(stdio, stdin_from_dev_null_is_empty) {
  int saved = redirect_fd(0, open("/dev/null", O_RDONLY));
  pipe_pipeline_t* pl = th_pipeline(NULL);
  add_stdin(pl);
  th_sink_t* snk = th_sink_new(pl, 0, 0);
  cr_assert_eq(th_run(pl), 0);
  cr_assert_eq(snk->got_len, 0);
  cr_assert_eq(snk->counts.ends, 1);
  th_finish(pl);
  restore_fd(0, saved);
}

Test(stdio, stdin_from_a_terminal_reads_lines_until_eof) {
  int master = posix_openpt(O_RDWR | O_NOCTTY);
  cr_assert_geq(master, 0);
  cr_assert_eq(grantpt(master), 0);
  cr_assert_eq(unlockpt(master), 0);
  int slave = open(ptsname(master), O_RDWR | O_NOCTTY);
  cr_assert_geq(slave, 0);
  int saved = redirect_fd(0, slave);
  cr_assert_eq(uv_guess_handle(0), UV_TTY);
  /* Canonical mode: two lines, then ^D at the start of a line = EOF. */
  cr_assert_eq(write(master, "hello\nworld\n\x04", 13), 13);

  pipe_pipeline_t* pl = th_pipeline(NULL);
  add_stdin(pl);
  th_sink_t* snk = th_sink_new(pl, 0, 0);
  cr_assert_eq(th_run(pl), 0);
  cr_assert_eq(snk->got_len, 12);
  cr_assert_eq(memcmp(snk->got, "hello\nworld\n", 12), 0);
  th_finish(pl);
  restore_fd(0, saved);
  close(master);
}

/* ---- stdout ---------------------------------------------------------------
 */

Test(stdio, stdout_to_a_pipe_delivers_every_byte) {
  size_t n = 2 * 1024 * 1024 + 5;
  uint8_t* data = th_pattern(n, 31);
  char* dir = th_tmpdir();
  char* path = th_path(dir, "out.bin");
  int wr;
  pid_t pid = spawn_reader(path, 0, &wr);
  int saved = redirect_fd(1, wr);
  cr_assert_eq(uv_guess_handle(1), UV_NAMED_PIPE);
  int flags_before = fcntl(1, F_GETFL);

  pipe_pipeline_t* pl = th_pipeline(NULL);
  th_source_t* src = th_source_new(pl, data, n, 65536);
  add_stdout(pl);
  cr_assert_eq(th_run(pl), 0);
  cr_assert_gt(src->fulls, 0, "a pipe fills up: the sink said FULL");
  th_finish(pl);
  cr_assert_eq(fcntl(1, F_GETFL), flags_before, "pipe flags restored");
  restore_fd(1, saved); /* closes our write end: the reader sees EOF */
  cr_assert_eq(wait_child(pid), 0);

  size_t got_len = 0;
  uint8_t* got = th_read_file(path, &got_len);
  cr_assert_eq(got_len, n);
  cr_assert_eq(memcmp(got, data, n), 0);
  free(got);
  free(data);
  free(path);
  free(dir);
}

Test(stdio, stdout_to_a_file_appends_at_its_position) {
  size_t n = 300 * 1000;
  uint8_t* data = th_pattern(n, 32);
  char* dir = th_tmpdir();
  char* path = th_path(dir, "out.bin");
  th_write_file(path, "HEAD", 4);
  int saved = redirect_fd(1, open(path, O_WRONLY | O_APPEND));
  cr_assert_eq(uv_guess_handle(1), UV_FILE);

  pipe_pipeline_t* pl = th_pipeline(NULL);
  th_source_new(pl, data, n, 10000);
  add_stdout(pl);
  cr_assert_eq(th_run(pl), 0);
  th_finish(pl);
  restore_fd(1, saved);

  size_t got_len = 0;
  uint8_t* got = th_read_file(path, &got_len);
  cr_assert_eq(got_len, n + 4);
  cr_assert_eq(memcmp(got, "HEAD", 4), 0);
  cr_assert_eq(memcmp(got + 4, data, n), 0);
  free(got);
  free(data);
  free(path);
  free(dir);
}

Test(stdio, stdout_epipe_without_a_reader_ends_quietly) {
  size_t n = 1024 * 1024;
  uint8_t* data = th_pattern(n, 33);
  int p[2];
  signal(SIGPIPE, SIG_IGN); /* as the CLI does */
  cr_assert_eq(pipe(p), 0);
  close(p[0]); /* nobody will ever read */
  int saved = redirect_fd(1, p[1]);

  pipe_pipeline_t* pl = th_pipeline(NULL);
  th_source_t* src = th_source_new(pl, data, n, 65536);
  pipe_stage_t* out = add_stdout(pl);
  int st = th_run(pl);
  cr_assert_eq(st, 0, "EPIPE is not an error (got %s)", pipe_err_name(st));
  cr_assert_eq(pipe_pipeline_error(pl)->code, 0);
  cr_assert_lt(src->pos, n, "the source was stopped early");
  cr_assert_eq(src->counts.destroys, 1);
  cr_assert_eq(src->counts.destroy_status, 0);
  cr_assert_eq(pipe_pool_stats(src->stage.pool).out, 0,
               "queued buffers were released");
  (void)out;
  th_finish(pl);
  restore_fd(1, saved);
  free(data);
}

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

Test(stdio, stdout_reader_closing_early_ends_the_run_with_status_0) {
  /* `pipe x big.csv | head -c 1000`: file source -> transform -> stdout,
   * the reader takes 1000 bytes and exits while we are mid-stream. */
  size_t n = 16 * 1024 * 1024;
  uint8_t* data = th_pattern(n, 34);
  char* dir = th_tmpdir();
  char* in = th_path(dir, "in.bin");
  char* head = th_path(dir, "head.bin");
  th_write_file(in, data, n);
  signal(SIGPIPE, SIG_IGN);
  int wr;
  pid_t pid = spawn_reader(head, 1000, &wr);
  int saved = redirect_fd(1, wr);

  pipe_pipeline_t* pl = th_pipeline(NULL);
  pipe_file_source_config_t scfg = {.path = in};
  pipe_stage_t* src = NULL;
  pipe_xform_t* x = NULL;
  cr_assert_eq(pipe_file_source_new(pl, &scfg, &src), 0);
  cr_assert_eq(pipe_xform_new(pl, &upper_ops, &x), 0);
  add_stdout(pl);
  int st = th_run(pl);
  cr_assert_eq(st, 0, "got %s: %s", pipe_err_name(st),
               pipe_pipeline_error(pl)->msg);
  cr_assert_lt(src->stats.bytes_out, n, "reading stopped early");
  th_finish(pl);
  restore_fd(1, saved);
  cr_assert_eq(wait_child(pid), 0);

  size_t got_len = 0;
  uint8_t* got = th_read_file(head, &got_len);
  cr_assert_eq(got_len, 1000);
  for (size_t i = 0; i < got_len; i++) cr_assert_eq(got[i], toupper(data[i]));
  free(got);
  free(data);
  free(in);
  free(head);
  free(dir);
}
