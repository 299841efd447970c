/* The file sink: byte-identical copies, atomic replace, nothing left behind
 * by a failed run, umask-honouring mode, clear errors. */
#include <criterion/criterion.h>
#include <criterion/parameterized.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <unistd.h>
#include <string.h>
#include <linux/magic.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <sys/vfs.h>

#include "support/harness.h"

TestSuite(file_sink, .init = th_loop_init, .fini = th_loop_fini);

static void add_file_source(pipe_pipeline_t* pl, const char* path) {
  pipe_file_source_config_t cfg = {.path = path};
  cr_assert_eq(pipe_file_source_new(pl, &cfg, NULL), 0);
}

/* A file sink at path; direct: with direct_io (O_DIRECT staging). */
static pipe_stage_t* add_sink(pipe_pipeline_t* pl, const char* path, int fsync,
                              int direct) {
  pipe_stage_t* s = NULL;
  pipe_file_sink_config_t cfg = {.path = path, .fsync = fsync, .direct_io = direct};
  cr_assert_eq(pipe_file_sink_new(pl, &cfg, &s), 0);
  return s;
}

static pipe_stage_t* add_file_sink(pipe_pipeline_t* pl, const char* path,
                                   int fsync) {
  return add_sink(pl, path, fsync, 0);
}

/* Copies in -> out with the file source and sink; returns the status. */
static int copy_file(const char* in, const char* out, int fsync) {
  pipe_pipeline_t* pl = th_pipeline(NULL);
  int st;
  add_file_source(pl, in);
  add_file_sink(pl, out, fsync);
  st = th_run(pl);
  th_finish(pl);
  return st;
}

static void assert_file_is(const char* path, const void* want, size_t n) {
  size_t got_len = 0;
  uint8_t* got = th_read_file(path, &got_len);
  cr_assert_not_null(got, "%s is missing", path);
  cr_assert_eq(got_len, n, "%s: %zu bytes, want %zu", path, got_len, n);
  cr_assert(n == 0 || memcmp(got, want, n) == 0, "%s: content differs", path);
  free(got);
}

ParameterizedTestParameters(file_sink, copy_is_byte_identical) {
  static size_t sizes[] = {0, 1, 65535, 65536, 65537, 1024 * 1024 + 3};
  return cr_make_param_array(size_t, sizes, sizeof(sizes) / sizeof(*sizes));
}

ParameterizedTest(size_t* size, file_sink, copy_is_byte_identical) {
  size_t n = *size;
  char* dir = th_tmpdir();
  char* in = th_path(dir, "in.bin");
  char* out = th_path(dir, "out.bin");
  uint8_t* data = th_pattern(n, (uint32_t)n + 1);
  th_write_file(in, data, n);

  cr_assert_eq(copy_file(in, out, 0), 0);
  assert_file_is(out, data, n);
  cr_assert_eq(th_count_entries(dir), 2, "no temporary file left behind");
  free(data);
  free(in);
  free(out);
  free(dir);
}

Test(file_sink, copy_with_fsync_is_byte_identical) {
  size_t n = 200 * 1000;
  char* dir = th_tmpdir();
  char* in = th_path(dir, "in.bin");
  char* out = th_path(dir, "out.bin");
  uint8_t* data = th_pattern(n, 9);
  th_write_file(in, data, n);
  cr_assert_eq(copy_file(in, out, 1), 0);
  assert_file_is(out, data, n);
  cr_assert_eq(th_count_entries(dir), 2);
  free(data);
  free(in);
  free(out);
  free(dir);
}

Test(file_sink, many_small_buffers_under_backpressure_arrive_in_order) {
  /* hwm 2 with 512-byte buffers: the sink answers FULL constantly. */
  pipe_pipeline_config_t cfg = {.buf_size = 512, .pool_limit = 4, .hwm = 2};
  size_t n = 100 * 1000;
  char* dir = th_tmpdir();
  char* out = th_path(dir, "out.bin");
  uint8_t* data = th_pattern(n, 10);
  pipe_pipeline_t* pl = th_pipeline(&cfg);
  th_source_t* src = th_source_new(pl, data, n, 300);
  add_file_sink(pl, out, 0);

  cr_assert_eq(th_run(pl), 0);
  cr_assert_gt(src->fulls, 0, "the file sink applied backpressure");
  cr_assert_leq(pipe_pool_stats(src->stage.pool).peak, 4);
  th_finish(pl);
  assert_file_is(out, data, n);
  free(data);
  free(out);
  free(dir);
}

Test(file_sink, success_replaces_an_existing_target_atomically) {
  char* dir = th_tmpdir();
  char* out = th_path(dir, "out.txt");
  struct stat before, after;
  const char* fresh = "new contents\n";
  th_write_file(out, "old contents, longer than the new ones\n", 39);
  cr_assert_eq(stat(out, &before), 0);

  pipe_pipeline_t* pl = th_pipeline(NULL);
  th_source_new(pl, fresh, strlen(fresh), 4);
  add_file_sink(pl, out, 1);
  cr_assert_eq(th_run(pl), 0);
  th_finish(pl);

  assert_file_is(out, fresh, strlen(fresh));
  cr_assert_eq(stat(out, &after), 0);
  cr_assert_neq(before.st_ino, after.st_ino,
                "a new file was renamed over the target (not rewritten in "
                "place, which readers could see half-done)");
  cr_assert_eq(th_count_entries(dir), 1);
  free(out);
  free(dir);
}

Test(file_sink, failed_run_leaves_no_target_and_no_temp_file) {
  pipe_pipeline_config_t cfg = {.buf_size = 1024, .pool_limit = 4, .hwm = 4};
  size_t n = 50 * 1024;
  char* dir = th_tmpdir();
  char* out = th_path(dir, "out.bin");
  uint8_t* data = th_pattern(n, 11);
  pipe_pipeline_t* pl = th_pipeline(&cfg);
  th_source_new(pl, data, n, 1024);
  th_fail_new(pl, 10, PIPE_EIO); /* after 9 buffers reached the sink */
  pipe_stage_t* snk = add_file_sink(pl, out, 0);

  cr_assert_eq(th_run(pl), PIPE_EIO);
  cr_assert_geq(snk->stats.bytes_in, 9 * 1024, "data had reached the sink");
  th_finish(pl);
  cr_assert_null(th_read_file(out, &n), "no target file");
  cr_assert_eq(th_count_entries(dir), 0, "no temporary file either");
  free(data);
  free(out);
  free(dir);
}

Test(file_sink, failed_run_leaves_an_existing_target_untouched) {
  pipe_pipeline_config_t cfg = {.buf_size = 1024, .pool_limit = 4, .hwm = 4};
  size_t n = 50 * 1024;
  char* dir = th_tmpdir();
  char* out = th_path(dir, "out.bin");
  uint8_t* data = th_pattern(n, 12);
  th_write_file(out, "precious", 8);
  pipe_pipeline_t* pl = th_pipeline(&cfg);
  th_source_new(pl, data, n, 1024);
  th_fail_new(pl, 20, PIPE_ECSV);
  add_file_sink(pl, out, 1);

  cr_assert_eq(th_run(pl), PIPE_ECSV);
  th_finish(pl);
  assert_file_is(out, "precious", 8);
  cr_assert_eq(th_count_entries(dir), 1);
  free(data);
  free(out);
  free(dir);
}

Test(file_sink, missing_directory_fails_naming_the_path) {
  char* dir = th_tmpdir();
  char* out = th_path(dir, "no/such/dir/out.json");
  pipe_pipeline_t* pl = th_pipeline(NULL);
  th_source_t* src = th_source_new(pl, "abc", 3, 1);
  add_file_sink(pl, out, 0);

  cr_assert_eq(th_run(pl), PIPE_ENOENT);
  const pipe_error_t* e = pipe_pipeline_error(pl);
  cr_assert_str_eq(e->stage, "file_sink");
  cr_assert_not_null(strstr(e->msg, out), "%s", e->msg);
  cr_assert_not_null(strstr(e->msg, "does not exist"), "%s", e->msg);
  cr_assert_eq(src->counts.starts, 0, "the source never started");
  cr_assert_eq(src->counts.destroys, 1);
  th_finish(pl);
  cr_assert_eq(th_count_entries(dir), 0);
  free(out);
  free(dir);
}

Test(file_sink, target_that_is_a_directory_fails_with_eisdir) {
  char* dir = th_tmpdir();
  pipe_pipeline_t* pl = th_pipeline(NULL);
  th_source_new(pl, "abc", 3, 1);
  add_file_sink(pl, dir, 0);
  cr_assert_eq(th_run(pl), PIPE_EISDIR);
  cr_assert_not_null(strstr(pipe_pipeline_error(pl)->msg, dir));
  th_finish(pl);
  cr_assert_eq(th_count_entries(dir), 0);
  free(dir);
}

static mode_t write_with_umask(mode_t mask) {
  char* dir = th_tmpdir();
  char* out = th_path(dir, "out.txt");
  struct stat st;
  mode_t old = umask(mask);
  pipe_pipeline_t* pl = th_pipeline(NULL);
  th_source_new(pl, "x", 1, 1);
  add_file_sink(pl, out, 0);
  cr_assert_eq(th_run(pl), 0);
  th_finish(pl);
  umask(old);
  cr_assert_eq(stat(out, &st), 0);
  free(out);
  free(dir);
  return st.st_mode & 0777;
}

Test(file_sink, created_file_mode_honours_the_umask) {
  cr_assert_eq(write_with_umask(022), 0644);
  cr_assert_eq(write_with_umask(077), 0600);
  cr_assert_eq(write_with_umask(002), 0664);
}

Test(file_sink, abort_during_writes_removes_the_temp_file) {
  /* A slow-ish run aborted from outside while writes are in flight: the
   * temp file must go only after the write finished, and go it must. */
  size_t n = 8 * 1024 * 1024;
  char* dir = th_tmpdir();
  char* out = th_path(dir, "out.bin");
  uint8_t* data = th_pattern(n, 13);
  pipe_pipeline_t* pl = th_pipeline(NULL);
  th_source_t* src = th_source_new(pl, data, n, 65536);
  pipe_stage_t* snk = add_file_sink(pl, out, 0);
  /* start() runs the source until the sink says FULL: the first write is
   * on the thread pool when the abort comes. */
  cr_assert_eq(pipe_pipeline_run(pl, NULL), 0);
  cr_assert_gt(snk->stats.bytes_in, 0);
  cr_assert_gt(src->fulls, 0);
  pipe_pipeline_abort(pl, PIPE_ECANCELED);
  uv_run(th_loop(), UV_RUN_DEFAULT);
  cr_assert_eq(pipe_pipeline_error(pl)->code, PIPE_ECANCELED);
  th_finish(pl);
  cr_assert_eq(th_count_entries(dir), 0);
  free(data);
  free(out);
  free(dir);
}

Test(file_sink, abort_racing_the_end_does_not_replace_the_target) {
  /* The source ends inside run() (no data), so the sink's end() and the
   * abort are handled in the same deferred pass: the sink must not commit
   * a run that failed. */
  char* dir = th_tmpdir();
  char* out = th_path(dir, "out.txt");
  th_write_file(out, "keep me", 7);
  pipe_pipeline_t* pl = th_pipeline(NULL);
  th_source_new(pl, "", 0, 1);
  add_file_sink(pl, out, 0);
  cr_assert_eq(pipe_pipeline_run(pl, NULL), 0);
  pipe_pipeline_abort(pl, PIPE_ECANCELED);
  uv_run(th_loop(), UV_RUN_DEFAULT);
  cr_assert_eq(pipe_pipeline_error(pl)->code, PIPE_ECANCELED);
  th_finish(pl);
  assert_file_is(out, "keep me", 7);
  cr_assert_eq(th_count_entries(dir), 1, "the temp file is gone");
  free(out);
  free(dir);
}

/* Writes `text` to path through a file source-less pipeline; returns the
 * run's status. */
static int write_text(const char* path, const char* text) {
  pipe_pipeline_t* pl = th_pipeline(NULL);
  int st;
  th_source_new(pl, text, strlen(text), 4);
  add_file_sink(pl, path, 1);
  st = th_run(pl);
  th_finish(pl);
  return st;
}

Test(file_sink, replacing_a_file_keeps_its_mode) {
  char* dir = th_tmpdir();
  char* out = th_path(dir, "secret.json");
  struct stat st;
  th_write_file(out, "old\n", 4);
  cr_assert_eq(chmod(out, 0600), 0);
  cr_assert_eq(write_text(out, "new\n"), 0);
  assert_file_is(out, "new\n", 4);
  cr_assert_eq(stat(out, &st), 0);
  cr_assert_eq(st.st_mode & 07777, 0600, "mode %o: a private file must stay "
               "private", (unsigned)(st.st_mode & 07777));
  cr_assert_eq(chmod(out, 0751), 0);
  cr_assert_eq(write_text(out, "newer\n"), 0);
  cr_assert_eq(stat(out, &st), 0);
  cr_assert_eq(st.st_mode & 07777, 0751);
  free(out);
  free(dir);
}

Test(file_sink, replacing_a_file_keeps_its_owner_where_permitted) {
  char* dir = th_tmpdir();
  char* out = th_path(dir, "theirs.json");
  struct stat st;
  if (geteuid() != 0) {
    cr_skip_test("changing a file's owner needs root");
    return;
  }
  th_write_file(out, "old\n", 4);
  cr_assert_eq(chown(out, 65534, 65534), 0);
  cr_assert_eq(write_text(out, "new\n"), 0);
  cr_assert_eq(stat(out, &st), 0);
  cr_assert_eq(st.st_uid, 65534, "owner %u", (unsigned)st.st_uid);
  cr_assert_eq(st.st_gid, 65534, "group %u", (unsigned)st.st_gid);
  free(out);
  free(dir);
}

Test(file_sink, a_symlink_is_written_through_to_its_target) {
  char* dir = th_tmpdir();
  char* sub = th_path(dir, "real");
  char* target = th_path(sub, "data.json");
  char* link = th_path(dir, "link.json");
  char got[64];
  ssize_t n;
  cr_assert_eq(mkdir(sub, 0755), 0);
  th_write_file(target, "old\n", 4);
  cr_assert_eq(symlink("real/data.json", link), 0);
  cr_assert_eq(write_text(link, "new\n"), 0);
  n = readlink(link, got, sizeof(got) - 1);
  cr_assert_gt(n, 0, "link.json is still a symlink");
  got[n] = '\0';
  cr_assert_str_eq(got, "real/data.json");
  assert_file_is(target, "new\n", 4);
  cr_assert_eq(th_count_entries(sub), 1, "no temp file left in the target's folder");
  cr_assert_eq(th_count_entries(dir), 2);
  free(link);
  free(target);
  free(sub);
  free(dir);
}

Test(file_sink, a_dangling_symlink_creates_its_target) {
  char* dir = th_tmpdir();
  char* target = th_path(dir, "new.json");
  char* link = th_path(dir, "link.json");
  struct stat st;
  cr_assert_eq(symlink("new.json", link), 0);
  cr_assert_eq(write_text(link, "x\n"), 0);
  cr_assert_eq(lstat(link, &st), 0);
  cr_assert(S_ISLNK(st.st_mode));
  assert_file_is(target, "x\n", 2);
  free(link);
  free(target);
  free(dir);
}

Test(file_sink, a_link_to_an_open_fd_writes_that_file_in_place) {
  /* What /dev/stdout and /dev/fd/N are: a link into /proc/self/fd. The
   * file behind the fd is written (appended to), the link is not renamed
   * over. */
  char* dir = th_tmpdir();
  char* real = th_path(dir, "real.txt");
  char* link = th_path(dir, "fdlink");
  char proc[64];
  struct stat st;
  int fd;
  th_write_file(real, "head\n", 5);
  fd = open(real, O_WRONLY | O_APPEND);
  cr_assert_geq(fd, 0);
  snprintf(proc, sizeof(proc), "/proc/self/fd/%d", fd);
  cr_assert_eq(symlink(proc, link), 0);
  cr_assert_eq(write_text(link, "tail\n"), 0);
  cr_assert_eq(lstat(link, &st), 0);
  cr_assert(S_ISLNK(st.st_mode), "the fd link was replaced by a file");
  assert_file_is(real, "head\ntail\n", 10);
  cr_assert_eq(th_count_entries(dir), 2, "no temp file");
  close(fd);
  free(link);
  free(real);
  free(dir);
}

Test(file_sink, a_symlink_to_dev_null_stays_a_device) {
  char* dir = th_tmpdir();
  char* link = th_path(dir, "null");
  struct stat st;
  cr_assert_eq(symlink("/dev/null", link), 0);
  cr_assert_eq(write_text(link, "gone\n"), 0);
  cr_assert_eq(lstat(link, &st), 0);
  cr_assert(S_ISLNK(st.st_mode));
  cr_assert_eq(stat("/dev/null", &st), 0);
  cr_assert(S_ISCHR(st.st_mode));
  cr_assert_eq(th_count_entries(dir), 1);
  free(link);
  free(dir);
}

Test(file_sink, a_fifo_whose_reader_leaves_ends_the_run_quietly) {
  /* Like `-o -` into `head`: EPIPE on a non-regular output is success. */
  char* dir = th_tmpdir();
  char* fifo = th_path(dir, "fifo");
  size_t n = 4 * 1024 * 1024;
  uint8_t* data = th_pattern(n, 7);
  pipe_pipeline_t* pl;
  int rfd;
  signal(SIGPIPE, SIG_IGN);
  cr_assert_eq(mkfifo(fifo, 0600), 0);
  rfd = open(fifo, O_RDONLY | O_NONBLOCK); /* a reader, so open(O_WRONLY) returns */
  cr_assert_geq(rfd, 0);
  pl = th_pipeline(NULL);
  th_source_new(pl, data, n, 65536);
  add_file_sink(pl, fifo, 0);
  cr_assert_eq(pipe_pipeline_run(pl, NULL), 0);
  close(rfd); /* the reader goes away before reading anything */
  uv_run(th_loop(), UV_RUN_DEFAULT);
  cr_assert_eq(pipe_pipeline_error(pl)->code, 0, "%s",
               pipe_pipeline_error(pl)->msg);
  th_finish(pl);
  free(data);
  free(fifo);
  free(dir);
}

Test(file_sink, a_250_byte_name_is_written) {
  /* The temp name adds 13 bytes: it is shortened to fit NAME_MAX. */
  char* dir = th_tmpdir();
  char name[251];
  char* out;
  memset(name, 'n', 250);
  name[250] = '\0';
  out = th_path(dir, name);
  cr_assert_eq(write_text(out, "ok\n"), 0, "%s", "a long name must work");
  assert_file_is(out, "ok\n", 3);
  cr_assert_eq(th_count_entries(dir), 1);
  free(out);
  free(dir);
}

Test(file_sink, a_file_used_as_a_directory_is_not_a_directory) {
  char* dir = th_tmpdir();
  char* file = th_path(dir, "s.csv");
  char* out = th_path(file, "x");
  pipe_pipeline_t* pl = th_pipeline(NULL);
  const pipe_error_t* e;
  th_write_file(file, "a\n", 2);
  th_source_new(pl, "abc", 3, 1);
  add_file_sink(pl, out, 0);
  cr_assert_eq(th_run(pl), PIPE_ENOTDIR);
  e = pipe_pipeline_error(pl);
  cr_assert_not_null(strstr(e->msg, "is not a directory"), "%s", e->msg);
  cr_assert_null(strstr(e->msg, "does not exist"), "%s", e->msg);
  th_finish(pl);
  free(out);
  free(file);
  free(dir);
}

typedef struct late_reader_s {
  const char* fifo;
  int fd;
} late_reader_t;

static void open_reader_cb(uv_timer_t* t) {
  late_reader_t* lr = t->data;
  lr->fd = open(lr->fifo, O_RDONLY | O_NONBLOCK);
  uv_close((uv_handle_t*)t, NULL);
}

Test(file_sink, a_fifo_without_a_reader_is_written_once_one_comes, .timeout = 10) {
  /* The open must not block start() (the loop, and with it SIGINT's
   * handler): the sink waits for the reader on the loop. */
  char* dir = th_tmpdir();
  char* fifo = th_path(dir, "fifo");
  late_reader_t lr = {fifo, -1};
  uv_timer_t t;
  pipe_pipeline_t* pl;
  char got[16] = {0};
  cr_assert_eq(mkfifo(fifo, 0600), 0);
  uv_timer_init(th_loop(), &t);
  t.data = &lr;
  uv_timer_start(&t, open_reader_cb, 150, 0);
  pl = th_pipeline(NULL);
  th_source_new(pl, "late\n", 5, 2);
  add_file_sink(pl, fifo, 0);
  cr_assert_eq(pipe_pipeline_run(pl, NULL), 0);
  /* The other end is opened by a timer on this same loop, which only runs
   * in uv_run below: a start() that blocked on the FIFO would never return
   * (the test's timeout), and it returns before the other end exists. */
  cr_assert_eq(lr.fd, -1, "start() returned before the other end was opened");
  uv_run(th_loop(), UV_RUN_DEFAULT);
  cr_assert_eq(pipe_pipeline_error(pl)->code, 0, "%s", pipe_pipeline_error(pl)->msg);
  cr_assert_geq(lr.fd, 0);
  cr_assert_eq(read(lr.fd, got, sizeof(got) - 1), 5);
  cr_assert_str_eq(got, "late\n");
  close(lr.fd);
  th_finish(pl);
  free(fifo);
  free(dir);
}

Test(file_sink, abort_while_waiting_for_a_fifo_reader_ends_the_run, .timeout = 10) {
  char* dir = th_tmpdir();
  char* fifo = th_path(dir, "fifo");
  pipe_pipeline_t* pl;
  cr_assert_eq(mkfifo(fifo, 0600), 0);
  pl = th_pipeline(NULL);
  th_source_new(pl, "never read\n", 11, 4);
  add_file_sink(pl, fifo, 0);
  cr_assert_eq(pipe_pipeline_run(pl, NULL), 0);
  pipe_pipeline_abort(pl, PIPE_ECANCELED);
  uv_run(th_loop(), UV_RUN_DEFAULT);
  cr_assert_eq(pipe_pipeline_error(pl)->code, PIPE_ECANCELED);
  th_finish(pl);
  free(fifo);
  free(dir);
}

/* ---- direct_io: O_DIRECT through aligned staging ------------------------- */

static pipe_stage_t* add_direct_sink(pipe_pipeline_t* pl, const char* path,
                                     int fsync) {
  return add_sink(pl, path, fsync, 1);
}

/* Writes data[0, n) to path through a file sink (fsync'd), in 64 KiB
 * buffers. */
static void write_through_sink(const char* path, const uint8_t* data, size_t n,
                               int direct) {
  pipe_pipeline_t* pl = th_pipeline(NULL);
  th_source_new(pl, data, n, 65536);
  add_sink(pl, path, 1, direct);
  cr_assert_eq(th_run(pl), 0);
  th_finish(pl);
}

/* Pages of path in the page cache (mincore on a mapping of it). */
static size_t resident_pages(const char* path, size_t* total) {
  int fd = open(path, O_RDONLY);
  struct stat st;
  size_t pg = (size_t)sysconf(_SC_PAGESIZE), n, i, res = 0;
  unsigned char* vec;
  void* map;
  cr_assert_geq(fd, 0);
  cr_assert_eq(fstat(fd, &st), 0);
  n = ((size_t)st.st_size + pg - 1) / pg;
  *total = n;
  if (n == 0) {
    close(fd);
    return 0;
  }
  map = mmap(NULL, (size_t)st.st_size, PROT_READ, MAP_SHARED, fd, 0);
  cr_assert_neq(map, MAP_FAILED);
  vec = malloc(n);
  cr_assert_eq(mincore(map, (size_t)st.st_size, vec), 0);
  for (i = 0; i < n; i++) res += vec[i] & 1;
  free(vec);
  munmap(map, (size_t)st.st_size);
  close(fd);
  return res;
}

/* Sizes around the staging chunk (256 KiB) and the 4096-byte alignment,
 * pushed in awkward buffer sizes so that copies straddle every edge. */
ParameterizedTestParameters(file_sink, direct_io_copy_is_byte_identical) {
  static size_t sizes[] = {0,          1,          4095,       4096,
                           262143,     262144,     262145,     524288,
                           786432 + 17, 5 * 1048576 + 3};
  return cr_make_param_array(size_t, sizes, sizeof(sizes) / sizeof(*sizes));
}

ParameterizedTest(size_t* size, file_sink, direct_io_copy_is_byte_identical) {
  size_t n = *size;
  char* dir = th_tmpdir();
  char* out = th_path(dir, "out.bin");
  uint8_t* data = th_pattern(n, (uint32_t)n + 5);
  pipe_pipeline_t* pl = th_pipeline(NULL);
  th_source_new(pl, data, n, 65536 - 7);
  pipe_stage_t* snk = add_direct_sink(pl, out, 1);
  cr_assert_eq(th_run(pl), 0);
  cr_assert_eq(snk->stats.bytes_in, n);
  th_finish(pl);
  assert_file_is(out, data, n);
  cr_assert_eq(th_count_entries(dir), 1, "no temporary file left behind");
  free(data);
  free(out);
  free(dir);
}

Test(file_sink, direct_io_bytes_skip_the_page_cache) {
  /* The point of direct_io: what is written is not copied into the page
   * cache. Buffered, every page of a fresh 8 MiB file is resident; direct,
   * at most the tail written buffered (< one 256 KiB chunk). On tmpfs the
   * page cache is the file itself: nothing to observe there. */
  size_t n = 8 * 1048576 + 1000, total, res_direct, res_buffered;
  char* dir = th_tmpdir();
  char* a = th_path(dir, "direct.bin");
  char* b = th_path(dir, "buffered.bin");
  uint8_t* data = th_pattern(n, 21);
  struct statfs sfs;
  cr_assert_eq(statfs(dir, &sfs), 0);
  if (sfs.f_type == TMPFS_MAGIC) cr_skip_test("%s is tmpfs", dir);

  write_through_sink(a, data, n, 1);
  write_through_sink(b, data, n, 0);

  res_direct = resident_pages(a, &total);
  cr_assert_leq(res_direct, (PIPE_FILE_SINK_DIRECT_MEM / 2 + 4095) / 4096,
                "direct: %zu of %zu pages in the page cache", res_direct, total);
  res_buffered = resident_pages(b, &total);
  cr_assert_gt(res_buffered, total / 2,
               "buffered control: %zu of %zu pages resident (the check bites)",
               res_buffered, total);
  assert_file_is(a, data, n);
  free(data);
  free(a);
  free(b);
  free(dir);
}

Test(file_sink, direct_io_slow_consumer_flow_and_abort_clean_up) {
  /* Aborted while a staging write is in flight: the temp file goes only
   * after the write returned, and the staging memory with it (ASan). */
  size_t n = 16 * 1048576;
  char* dir = th_tmpdir();
  char* out = th_path(dir, "out.bin");
  uint8_t* data = th_pattern(n, 23);
  pipe_pipeline_t* pl = th_pipeline(NULL);
  th_source_t* src = th_source_new(pl, data, n, 65536);
  pipe_stage_t* snk = add_direct_sink(pl, out, 0);
  cr_assert_eq(pipe_pipeline_run(pl, NULL), 0);
  /* Both staging buffers and the queue filled before the first write
   * returned: the sink said FULL, flow control holds in direct mode. */
  cr_assert_gt(src->fulls, 0);
  cr_assert_gt(snk->stats.bytes_in, PIPE_FILE_SINK_DIRECT_MEM);
  pipe_pipeline_abort(pl, PIPE_ECANCELED);
  uv_run(th_loop(), UV_RUN_DEFAULT);
  cr_assert_eq(pipe_pipeline_error(pl)->code, PIPE_ECANCELED);
  th_finish(pl);
  cr_assert_eq(th_count_entries(dir), 0);
  free(data);
  free(out);
  free(dir);
}

Test(file_sink, direct_io_failed_run_leaves_nothing) {
  pipe_pipeline_config_t cfg = {.buf_size = 65536, .pool_limit = 4, .hwm = 4};
  size_t n = 4 * 1048576;
  char* dir = th_tmpdir();
  char* out = th_path(dir, "out.bin");
  uint8_t* data = th_pattern(n, 25);
  pipe_pipeline_t* pl = th_pipeline(&cfg);
  th_source_new(pl, data, n, 65536);
  th_fail_new(pl, 30, PIPE_EIO); /* after ~1.8 MiB: chunks were written */
  add_direct_sink(pl, out, 1);
  cr_assert_eq(th_run(pl), PIPE_EIO);
  th_finish(pl);
  cr_assert_null(th_read_file(out, &n), "no target file");
  cr_assert_eq(th_count_entries(dir), 0, "no temporary file either");
  free(data);
  free(out);
  free(dir);
}
