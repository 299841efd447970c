/* S3 uploads and downloads through a fault-injecting proxy
 * (tests/integration/faultproxy.py) in front of Swift: every fault ends
 * with the object byte-exact, or a clean non-zero exit, and no multipart
 * upload left on the server. */
#include <criterion/criterion.h>
#include <fcntl.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "codec/sigv4.h"
#include "support/cli_exec.h"
#include "support/faultproxy.h"
#include "support/swift.h"

TestSuite(cli_s3_faults, .timeout = 240);

#define MIB (1024 * 1024)

/* The object as aws-cli reads it straight from Swift, hashed. */
static void stored_sha(const swift_t* sw, const char* key, const char* tmp, char out[65]) {
  char args[1024], path[512];
  cli_result_t r;
  snprintf(path, sizeof(path), "%s/check", tmp);
  snprintf(args, sizeof(args), "s3 cp s3://test/%s %s", key, path);
  r = swift_aws(sw, args, NULL);
  cr_assert_eq(r.status, 0, "aws cp: %s", r.err);
  cli_result_free(&r);
  swift_sha256_file(path, out);
  unlink(path);
}

/* Starts `sh -c CMD` in the background, stdin from in_fd (or /dev/null),
 * stderr into errpath. */
static pid_t spawn(const char* cmd, int in_fd, const char* errpath) {
  pid_t pid = fork();
  if (pid == 0) {
    int e = open(errpath, O_WRONLY | O_CREAT | O_TRUNC, 0600);
    int n = in_fd >= 0 ? in_fd : open("/dev/null", O_RDONLY);
    dup2(n, 0);
    dup2(e, 2);
    execl("/bin/sh", "sh", "-c", cmd, (char*)NULL);
    _exit(127);
  }
  cr_assert(pid > 0);
  return pid;
}

static int wait_exit(pid_t pid) {
  int st;
  cr_assert_eq(waitpid(pid, &st, 0), pid);
  return WIFEXITED(st) ? WEXITSTATUS(st) : 128 + WTERMSIG(st);
}

/* 503 SlowDown on every 3rd request, two part uploads reset mid-body and
 * a 200 carrying an error on CompleteMultipartUpload: all retried, the
 * object is byte-exact; a download through 503s too. */
Test(cli_s3_faults, slowdown_resets_and_a_200_error_on_complete_are_ridden_out) {
  swift_t sw;
  fproxy_t fp;
  char* tmp = cli_tmpdir();
  char src[512], env[1024], cmd[4096], a[65], b[65];
  cli_result_t r;
  swift_start(&sw, NULL);
  fproxy_start(&fp, sw.port,
               "{\"slowdown\": {\"every\": 3}, "
               "\"reset\": {\"query\": \"partNumber\", \"times\": 2}, "
               "\"complete_error\": {\"times\": 1}}");
  snprintf(src, sizeof(src), "%s/src", tmp);
  swift_random_file(src, 16 * MIB + 11, 21);
  swift_sha256_file(src, a);
  swift_pipe_env(&sw, env, sizeof(env));
  snprintf(cmd, sizeof(cmd), "%s \"$PIPE\" cp --part-size 5M --endpoint-url %s %s "
           "s3://test/faulty", env, fp.url, src);
  r = cli_exec(cmd, NULL);
  cr_assert_eq(r.status, 0, "%s", r.err);
  cli_result_free(&r);
  cr_expect_gt(fproxy_count(&fp, "slowdown"), 0);
  cr_expect_eq(fproxy_count(&fp, "reset"), 2);
  cr_expect_eq(fproxy_count(&fp, "complete_error"), 1);
  stored_sha(&sw, "faulty", tmp, b);
  cr_expect_str_eq(a, b, "the object is byte-exact");
  cr_expect_eq(swift_uploads_left(&sw), 0);
  /* The same from a stream (parts copied into the sink's buffers). */
  fproxy_faults(&fp, "{\"slowdown\": {\"every\": 4}, "
                     "\"reset\": {\"query\": \"partNumber\", \"times\": 1}}");
  snprintf(cmd, sizeof(cmd), "cat %s | %s \"$PIPE\" cp --part-size 5M --endpoint-url %s "
           "- s3://test/faulty2", src, env, fp.url);
  r = cli_exec(cmd, NULL);
  cr_assert_eq(r.status, 0, "%s", r.err);
  cli_result_free(&r);
  stored_sha(&sw, "faulty2", tmp, b);
  cr_expect_str_eq(a, b, "the streamed object is byte-exact");
  /* Download through 503s: ranged GETs retried. */
  fproxy_faults(&fp, "{\"slowdown\": {\"every\": 2, \"method\": \"GET\"}}");
  snprintf(cmd, sizeof(cmd), "%s \"$PIPE\" cp --part-size 5M --endpoint-url %s "
           "s3://test/faulty - | sha256sum", env, fp.url);
  r = cli_exec(cmd, NULL);
  cr_assert_eq(r.status, 0, "%s", r.err);
  cr_expect(strncmp(r.out, a, 64) == 0, "download through 503s");
  cli_result_free(&r);
  cr_expect_gt(fproxy_count(&fp, "slowdown"), 0);
  cr_expect_eq(swift_uploads_left(&sw), 0);
  fproxy_stop(&fp);
  swift_stop(&sw);
  cli_rmtree(tmp);
  free(tmp);
}

/* Lines of the proxy's log for GETs whose Range starts inside a part of
 * part_size bytes (not at a part boundary): a transfer resumed from the
 * byte where it was cut, not restarted. */
static int resumed_gets(const fproxy_t* fp, long long part_size) {
  char* log = fproxy_log(fp);
  char* line = log;
  int n = 0;
  while (line && *line) {
    char* nl = strchr(line, '\n');
    char* r = strstr(line, "\tbytes=");
    if (r && (!nl || r < nl) && strstr(line, "\tGET\t") != NULL) {
      long long start = strtoll(r + 7, NULL, 10);
      if (start % part_size != 0) n++;
    }
    line = nl ? nl + 1 : NULL;
  }
  free(log);
  return n;
}

/* Downloads cut short (the connection closed after 1 MB of a body): the
 * ranged download and the single streaming GET each resume from the byte
 * where they stopped, and the bytes are exact. */
Test(cli_s3_faults, downloads_cut_short_resume_where_they_stopped) {
  swift_t sw;
  fproxy_t fp;
  char* tmp = cli_tmpdir();
  char src[512], env[1024], cmd[4096], a[65];
  cli_result_t r;
  swift_start(&sw, NULL);
  fproxy_start(&fp, sw.port, NULL);
  snprintf(src, sizeof(src), "%s/src", tmp);
  swift_random_file(src, 12 * MIB + 5, 24);
  swift_sha256_file(src, a);
  swift_pipe_env(&sw, env, sizeof(env));
  snprintf(cmd, sizeof(cmd), "%s \"$PIPE\" cp --part-size 5M --endpoint-url %s %s "
           "s3://test/cut", env, fp.url, src);
  r = cli_exec(cmd, NULL);
  cr_assert_eq(r.status, 0, "%s", r.err);
  cli_result_free(&r);
  /* Ranged GETs of 5 MiB, the first two cut after 1,000,000 bytes. */
  fproxy_faults(&fp, "{\"cut\": {\"method\": \"GET\", \"times\": 2, "
                     "\"after_bytes\": 1000000}}");
  snprintf(cmd, sizeof(cmd), "%s \"$PIPE\" cp --part-size 5M --endpoint-url %s "
           "s3://test/cut - | sha256sum", env, fp.url);
  r = cli_exec(cmd, NULL);
  cr_assert_eq(r.status, 0, "%s", r.err);
  cr_expect(strncmp(r.out, a, 64) == 0, "ranged download cut twice: %s", r.out);
  cli_result_free(&r);
  cr_expect_eq(fproxy_count(&fp, "cut"), 2);
  cr_expect_geq(resumed_gets(&fp, 5 * MIB), 2, "both cut ranges resumed mid-part");
  /* One streaming GET (--concurrency 1), cut once (the log goes on:
   * counts are compared with those before). */
  int cuts = fproxy_count(&fp, "cut"), resumed = resumed_gets(&fp, 12 * MIB + 5);
  fproxy_faults(&fp, "{\"cut\": {\"method\": \"GET\", \"times\": 1, "
                     "\"after_bytes\": 1000000}}");
  snprintf(cmd, sizeof(cmd), "%s \"$PIPE\" cp --concurrency 1 --endpoint-url %s "
           "s3://test/cut - | sha256sum", env, fp.url);
  r = cli_exec(cmd, NULL);
  cr_assert_eq(r.status, 0, "%s", r.err);
  cr_expect(strncmp(r.out, a, 64) == 0, "streaming download cut once: %s", r.out);
  cli_result_free(&r);
  cr_expect_eq(fproxy_count(&fp, "cut"), cuts + 1);
  cr_expect_geq(resumed_gets(&fp, 12 * MIB + 5), resumed + 1, "the stream resumed mid-object");
  fproxy_stop(&fp);
  swift_stop(&sw);
  cli_rmtree(tmp);
  free(tmp);
}

/* The server refuses connections for 30 s in the middle of an upload: the
 * default retry budget (12 attempts, backoff doubling to 20 s) rides it
 * out, and the object is byte-exact. */
Test(cli_s3_faults, connections_refused_for_30_s_mid_upload_are_ridden_out) {
  swift_t sw;
  fproxy_t fp;
  char* tmp = cli_tmpdir();
  char src[512], env[1024], cmd[4096], a[65], b[65];
  cli_result_t r;
  swift_start(&sw, NULL);
  /* The 3rd request from now (a part upload) is reset and the port closed. */
  fproxy_start(&fp, sw.port,
               "{\"refuse\": {\"seconds\": 30, \"after_requests\": 3}}");
  snprintf(src, sizeof(src), "%s/src", tmp);
  swift_random_file(src, 16 * MIB, 22);
  swift_sha256_file(src, a);
  swift_pipe_env(&sw, env, sizeof(env));
  snprintf(cmd, sizeof(cmd), "%s \"$PIPE\" cp --part-size 5M --endpoint-url %s %s "
           "s3://test/outage", env, fp.url, src);
  r = cli_exec(cmd, NULL);
  cr_assert_eq(r.status, 0, "%s", r.err);
  cli_result_free(&r);
  stored_sha(&sw, "outage", tmp, b);
  cr_expect_str_eq(a, b);
  cr_expect_eq(swift_uploads_left(&sw), 0);
  fproxy_stop(&fp);
  swift_stop(&sw);
  cli_rmtree(tmp);
  free(tmp);
}

/* The server goes away for good mid-upload, with a short retry budget:
 * pipe exits 5, says the abort failed and names the upload id; once the
 * server is back, `pipe s3 cleanup` removes it. */
Test(cli_s3_faults, a_server_gone_for_good_fails_cleanly_and_cleanup_removes_the_upload) {
  swift_t sw;
  fproxy_t fp;
  char* tmp = cli_tmpdir();
  char env[1024], cmd[4096], errpath[512];
  char* chunk = calloc(1, MIB);
  char* err;
  int in[2], rc, tries;
  size_t sent = 0;
  pid_t pid;
  cli_result_t r;
  swift_start(&sw, NULL);
  fproxy_start(&fp, sw.port, NULL);
  swift_pipe_env(&sw, env, sizeof(env));
  snprintf(errpath, sizeof(errpath), "%s/err", tmp);
  cr_assert_eq(pipe(in), 0);
  snprintf(cmd, sizeof(cmd), "exec env %s %s cp --part-size 5M --max-attempts 3 "
           "--retry-timeout 3 --endpoint-url %s - s3://test/gone", env, PIPE_BIN, fp.url);
  pid = spawn(cmd, in[0], errpath);
  close(in[0]);
  while (sent < 11 * MIB) {
    ssize_t w = write(in[1], chunk, MIB);
    cr_assert(w > 0);
    sent += (size_t)w;
  }
  for (tries = 0; tries < 100 && swift_uploads_left(&sw) == 0; tries++) usleep(100000);
  cr_assert_gt(swift_uploads_left(&sw), 0, "the upload started");
  fproxy_post(&fp, "/down");
  while (sent < 16 * MIB) {
    ssize_t w = write(in[1], chunk, MIB);
    if (w <= 0) break; /* pipe gave up and closed its input */
    sent += (size_t)w;
  }
  close(in[1]);
  rc = wait_exit(pid);
  err = cli_read_file(errpath, NULL);
  cr_assert_not_null(err);
  cr_expect_eq(rc, 5, "exit 5 (network): %s", err);
  cr_expect(strstr(err, "could not be aborted") != NULL, "%s", err);
  cr_expect(strstr(err, "pipe s3 cleanup s3://test/gone") != NULL, "%s", err);
  free(err);
  cr_expect_eq(swift_uploads_left(&sw), 1, "the upload is left while the server is gone");
  fproxy_post(&fp, "/up");
  snprintf(cmd, sizeof(cmd), "%s \"$PIPE\" s3 cleanup --endpoint-url %s s3://test/gone",
           env, fp.url);
  r = cli_exec(cmd, NULL);
  cr_expect_eq(r.status, 0, "%s", r.err);
  cr_expect(strstr(r.out, "aborted") != NULL, "%s", r.out);
  cli_result_free(&r);
  cr_expect_eq(swift_uploads_left(&sw), 0, "cleanup removed it");
  free(chunk);
  fproxy_stop(&fp);
  swift_stop(&sw);
  cli_rmtree(tmp);
  free(tmp);
}

/* A part upload stalls (the server reads it and never answers); SIGINT
 * ends pipe within seconds (not after a read timeout) and the upload is
 * aborted. */
Test(cli_s3_faults, sigint_during_a_stall_aborts_the_upload_at_once) {
  swift_t sw;
  fproxy_t fp;
  char* tmp = cli_tmpdir();
  char src[512], env[1024], cmd[4096], errpath[512];
  char* log;
  int rc, tries;
  pid_t pid;
  swift_start(&sw, NULL);
  fproxy_start(&fp, sw.port, "{\"stall\": {\"query\": \"partNumber=2\"}}");
  snprintf(src, sizeof(src), "%s/src", tmp);
  swift_random_file(src, 12 * MIB, 23);
  snprintf(errpath, sizeof(errpath), "%s/err", tmp);
  swift_pipe_env(&sw, env, sizeof(env));
  snprintf(cmd, sizeof(cmd), "exec env %s %s cp --part-size 5M --endpoint-url %s %s "
           "s3://test/stall", env, PIPE_BIN, fp.url, src);
  pid = spawn(cmd, -1, errpath);
  for (tries = 0; tries < 200; tries++) {
    log = fproxy_log(&fp);
    if (strstr(log, "stall") != NULL) {
      free(log);
      break;
    }
    free(log);
    usleep(50000);
  }
  cr_assert_lt(tries, 200, "part 2 stalled");
  kill(pid, SIGINT);
  rc = wait_exit(pid);
  cr_expect_eq(rc, 130, "interrupted");
  cr_expect_eq(swift_uploads_left(&sw), 0, "the upload was aborted");
  fproxy_stop(&fp);
  swift_stop(&sw);
  cli_rmtree(tmp);
  free(tmp);
}
