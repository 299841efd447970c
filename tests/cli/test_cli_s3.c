/* pipe cp, pipe run with s3://, pipe s3 ls|cleanup against a real S3 server
 * (Swift with s3api, tests/support/swift.h), cross-checked with aws-cli.
 *
 * Starting Swift takes about two seconds, so each Test() covers a family
 * of cases on one server: the round trips of every interesting size in
 * both directions, the errors, the interruptions. */
#include <criterion/criterion.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "codec/sigv4.h"
#include "support/cli_exec.h"
#include "support/swift.h"

TestSuite(cli_s3, .timeout = 240);

#define MIB (1024 * 1024)

/* Runs `ENV "$PIPE" ARGS` against the server. */
static cli_result_t pipe_s3(const swift_t* sw, const char* fmt, ...)
    __attribute__((format(printf, 2, 3)));
static cli_result_t pipe_s3(const swift_t* sw, const char* fmt, ...) {
  char env[1024], args[4096], cmd[5200];
  va_list ap;
  va_start(ap, fmt);
  vsnprintf(args, sizeof(args), fmt, ap);
  va_end(ap);
  swift_pipe_env(sw, env, sizeof(env));
  strcpy(cmd, env);
  strcat(cmd, " \"$PIPE\" ");
  strcat(cmd, args);
  return cli_exec(cmd, NULL);
}

/* The ETag Swift reports for the key (without quotes), into out. */
static void server_etag(const swift_t* sw, const char* key, char* out, size_t cap) {
  char args[2400];
  cli_result_t r;
  char* p;
  char* q;
  snprintf(args, sizeof(args),
           "s3api head-object --bucket %s --key %s --query ETag --output text",
           sw->bucket, key);
  r = swift_aws(sw, args, NULL);
  cr_assert_eq(r.status, 0, "head-object %s: %s", key, r.err);
  p = r.out;
  while (*p == '"' || *p == '\\') p++;
  q = p + strcspn(p, "\"\\\n");
  *q = '\0';
  snprintf(out, cap, "%s", p);
  cli_result_free(&r);
}

Test(cli_s3, round_trips_every_size_both_ways_with_equal_sha256_and_etag) {
  static const size_t sizes[] = {0, 1, 5 * MIB, 5 * MIB + 1, 16 * MIB + 7};
  swift_t sw;
  char* tmp = cli_tmpdir();
  size_t i;
  swift_start(&sw, NULL);
  for (i = 0; i < sizeof(sizes) / sizeof(sizes[0]); i++) {
    char src[512], down[512], args[2048], a[65], b[65], etag[128], line[256];
    cli_result_t r;
    snprintf(src, sizeof(src), "%s/src%zu", tmp, i);
    snprintf(down, sizeof(down), "%s/down%zu", tmp, i);
    swift_random_file(src, sizes[i], 77 + i);
    swift_sha256_file(src, a);

    /* pipe up (from a file), aws down */
    r = pipe_s3(&sw, "cp --part-size 5M --endpoint-url %s %s s3://%s/up%zu", sw.endpoint,
                src, sw.bucket, i);
    cr_assert_eq(r.status, 0, "pipe cp up %zu bytes: %s", sizes[i], r.err);
    snprintf(line, sizeof(line), "SHA256 (up%zu) = %s\n", i, a);
    cr_expect(strstr(r.err, line) != NULL, "the receipt has the SHA-256: %s", r.err);
    server_etag(&sw, (snprintf(args, sizeof(args), "up%zu", i), args), etag, sizeof(etag));
    cr_expect(strstr(r.err, etag) != NULL, "pipe's ETag %s is the server's: %s", etag,
              r.err);
    if (sizes[i] > 5 * MIB)
      cr_expect(strchr(etag, '-') != NULL, "%zu bytes went multipart: %s", sizes[i], etag);
    else
      cr_expect(strchr(etag, '-') == NULL, "%zu bytes went as one PUT: %s", sizes[i], etag);
    cli_result_free(&r);
    snprintf(args, sizeof(args), "s3 cp s3://%s/up%zu %s", sw.bucket, i, down);
    r = swift_aws(&sw, args, NULL);
    cr_assert_eq(r.status, 0, "aws cp down: %s", r.err);
    cli_result_free(&r);
    swift_sha256_file(down, b);
    cr_expect_str_eq(a, b, "pipe up / aws down, %zu bytes", sizes[i]);
    unlink(down);

    /* aws up, pipe down (to a file, and to stdout) */
    snprintf(args, sizeof(args), "s3 cp %s s3://%s/aws%zu", src, sw.bucket, i);
    r = swift_aws(&sw, args, NULL);
    cr_assert_eq(r.status, 0, "aws cp up: %s", r.err);
    cli_result_free(&r);
    r = pipe_s3(&sw, "cp --part-size 5M --endpoint-url %s s3://%s/aws%zu %s", sw.endpoint,
                sw.bucket, i, down);
    cr_assert_eq(r.status, 0, "pipe cp down: %s", r.err);
    cli_result_free(&r);
    swift_sha256_file(down, b);
    cr_expect_str_eq(a, b, "aws up / pipe down, %zu bytes", sizes[i]);
    r = pipe_s3(&sw, "cp --concurrency 1 --endpoint-url %s s3://%s/aws%zu - | sha256sum",
                sw.endpoint, sw.bucket, i);
    cr_assert_eq(r.status, 0, "pipe cp to stdout: %s", r.err);
    cr_expect(strncmp(r.out, a, 64) == 0, "one streaming GET, %zu bytes", sizes[i]);
    cli_result_free(&r);

    /* a stream of unknown length: pipe up from stdin */
    r = pipe_s3(&sw, "cp --part-size 5M --endpoint-url %s - s3://%s/stream%zu < %s",
                sw.endpoint, sw.bucket, i, src);
    cr_assert_eq(r.status, 0, "pipe cp - up: %s", r.err);
    cli_result_free(&r);
    snprintf(args, sizeof(args), "s3 cp s3://%s/stream%zu %s", sw.bucket, i, down);
    r = swift_aws(&sw, args, NULL);
    cr_assert_eq(r.status, 0, "aws cp down: %s", r.err);
    cli_result_free(&r);
    swift_sha256_file(down, b);
    cr_expect_str_eq(a, b, "stdin up / aws down, %zu bytes", sizes[i]);
  }
  cr_expect_eq(swift_uploads_left(&sw), 0, "no multipart upload left");
  swift_stop(&sw);
  cli_rmtree(tmp);
  free(tmp);
}

Test(cli_s3, run_spec_gzips_into_s3_and_back_byte_exact) {
  swift_t sw;
  char* tmp = cli_tmpdir();
  char src[512], down[512], a[65], b[65];
  cli_result_t r;
  swift_start(&sw, NULL);
  snprintf(src, sizeof(src), "%s/src", tmp);
  snprintf(down, sizeof(down), "%s/down", tmp);
  swift_random_file(src, 12 * MIB + 3, 5);
  swift_sha256_file(src, a);
  /* file | gzip | s3://: random data barely compresses, so 3 parts of 5M. */
  r = pipe_s3(&sw, "run --part-size 5M --endpoint-url %s '%s | gzip -1 | s3://%s/g.gz'",
              sw.endpoint, src, sw.bucket);
  cr_assert_eq(r.status, 0, "pipe run up: %s", r.err);
  cr_expect(strstr(r.err, "(3 parts)") != NULL, "%s", r.err);
  cli_result_free(&r);
  r = swift_aws(&sw, "s3 cp s3://test/g.gz - | gunzip | sha256sum", NULL);
  cr_assert_eq(r.status, 0, "aws down: %s", r.err);
  cr_expect(strncmp(r.out, a, 64) == 0, "aws down | gunzip");
  cli_result_free(&r);
  /* s3:// | gunzip | file, through ranges of 5M in parallel. */
  r = pipe_s3(&sw, "run --part-size 5M --endpoint-url %s 's3://%s/g.gz | gunzip | %s'",
              sw.endpoint, sw.bucket, down);
  cr_assert_eq(r.status, 0, "pipe run down: %s", r.err);
  cli_result_free(&r);
  swift_sha256_file(down, b);
  cr_expect_str_eq(a, b);
  /* -o s3:// on a one-stage command */
  r = pipe_s3(&sw, "gzip --endpoint-url %s %s -o s3://%s/o.gz", sw.endpoint, src,
              sw.bucket);
  cr_assert_eq(r.status, 0, "pipe gzip -o s3://: %s", r.err);
  cli_result_free(&r);
  r = swift_aws(&sw, "s3 cp s3://test/o.gz - | gunzip | sha256sum", NULL);
  cr_expect(strncmp(r.out, a, 64) == 0, "gzip -o s3:// round trip");
  cli_result_free(&r);
  swift_stop(&sw);
  cli_rmtree(tmp);
  free(tmp);
}

Test(cli_s3, errors_say_no_such_bucket_or_key_and_bad_credentials_exit_4) {
  swift_t sw;
  char* tmp = cli_tmpdir();
  char src[512], env[1024], cmd[4096];
  cli_result_t r;
  swift_start(&sw, NULL);
  snprintf(src, sizeof(src), "%s/src", tmp);
  swift_random_file(src, 1000, 9);
  r = pipe_s3(&sw, "cp --endpoint-url %s %s s3://nosuchbucket/k", sw.endpoint, src);
  cr_expect_eq(r.status, 4, "%s", r.err);
  cr_expect(strstr(r.err, "s3://nosuchbucket/k: NoSuchBucket") != NULL, "%s", r.err);
  cr_expect(strstr(r.err, "request id") != NULL, "%s", r.err);
  cli_result_free(&r);
  r = pipe_s3(&sw, "cp --endpoint-url %s s3://%s/nokey -", sw.endpoint, sw.bucket);
  cr_expect_eq(r.status, 4, "%s", r.err);
  cr_expect(strstr(r.err, "NoSuchKey") != NULL, "%s", r.err);
  cli_result_free(&r);
  /* A wrong secret: refused, and the secret is not in the message. */
  swift_pipe_env(&sw, env, sizeof(env));
  snprintf(cmd, sizeof(cmd), "%s AWS_SECRET_ACCESS_KEY=s3cr3tXYZ \"$PIPE\" cp "
           "--endpoint-url %s %s s3://%s/k", env, sw.endpoint, src, sw.bucket);
  r = cli_exec(cmd, NULL);
  cr_expect_eq(r.status, 4, "%s", r.err);
  cr_expect(strstr(r.err, "SignatureDoesNotMatch") != NULL, "%s", r.err);
  cr_expect(strstr(r.err, "s3cr3tXYZ") == NULL, "no secret in: %s", r.err);
  cli_result_free(&r);
  /* Nobody listening: a network error after the (short) retry budget. */
  r = pipe_s3(&sw, "cp --max-attempts 2 --endpoint-url http://127.0.0.1:1 %s s3://%s/k",
              src, sw.bucket);
  cr_expect_eq(r.status, 5, "%s", r.err);
  cr_expect(strstr(r.err, "gave up after 2 attempts") != NULL, "%s", r.err);
  cli_result_free(&r);
  swift_stop(&sw);
  cli_rmtree(tmp);
  free(tmp);
}

/* SIGINT while a multipart upload from a stream is under way: pipe exits
 * 130 after aborting it, and the server has no upload left. */
Test(cli_s3, sigint_during_an_upload_aborts_it_and_leaves_no_upload) {
  swift_t sw;
  char env[1024], cmd[2048];
  int in[2], st;
  pid_t pid;
  size_t sent = 0;
  char* chunk = calloc(1, MIB);
  swift_start(&sw, NULL);
  swift_pipe_env(&sw, env, sizeof(env));
  cr_assert(chunk);
  cr_assert_eq(pipe(in), 0);
  pid = fork();
  if (pid == 0) {
    dup2(in[0], 0);
    close(in[0]);
    close(in[1]);
    snprintf(cmd, sizeof(cmd), "exec env %s %s cp --part-size 5M --endpoint-url %s - "
             "s3://%s/int 2>/dev/null", env, PIPE_BIN, sw.endpoint, sw.bucket);
    execl("/bin/sh", "sh", "-c", cmd, (char*)NULL);
    _exit(127);
  }
  close(in[0]);
  /* 12 MiB: two parts in flight or done, the upload exists. */
  while (sent < 12 * MIB) {
    ssize_t w = write(in[1], chunk, MIB);
    cr_assert(w > 0);
    sent += (size_t)w;
  }
  {
    int tries;
    for (tries = 0; tries < 100 && swift_uploads_left(&sw) == 0; tries++) usleep(100000);
    cr_assert_gt(swift_uploads_left(&sw), 0, "the upload started");
  }
  kill(pid, SIGINT);
  cr_assert_eq(waitpid(pid, &st, 0), pid);
  close(in[1]);
  cr_expect(WIFEXITED(st) && WEXITSTATUS(st) == 130, "exit status %d", st);
  cr_expect_eq(swift_uploads_left(&sw), 0, "the upload was aborted");
  free(chunk);
  swift_stop(&sw);
}

Test(cli_s3, ls_lists_and_cleanup_aborts_leftover_uploads) {
  swift_t sw;
  cli_result_t r;
  swift_start(&sw, NULL);
  r = swift_aws(&sw, "s3api put-object --bucket test --key dir/a", NULL);
  cr_assert_eq(r.status, 0, "%s", r.err);
  cli_result_free(&r);
  r = swift_aws(&sw, "s3api create-multipart-upload --bucket test --key dir/left", NULL);
  cr_assert_eq(r.status, 0, "%s", r.err);
  cli_result_free(&r);
  r = pipe_s3(&sw, "s3 ls --endpoint-url %s s3://%s/dir/", sw.endpoint, sw.bucket);
  cr_assert_eq(r.status, 0, "%s", r.err);
  cr_expect(strstr(r.out, " 0 dir/a\n") != NULL, "%s", r.out);
  cli_result_free(&r);
  cr_assert_eq(swift_uploads_left(&sw), 1);
  r = pipe_s3(&sw, "s3 cleanup --older-than 1h --endpoint-url %s s3://%s/dir/",
              sw.endpoint, sw.bucket);
  cr_assert_eq(r.status, 0, "%s", r.err);
  cr_expect(strstr(r.out, "kept") != NULL, "%s", r.out);
  cli_result_free(&r);
  cr_expect_eq(swift_uploads_left(&sw), 1, "a young upload is kept");
  r = pipe_s3(&sw, "s3 cleanup --endpoint-url %s s3://%s/dir/", sw.endpoint, sw.bucket);
  cr_assert_eq(r.status, 0, "%s", r.err);
  cr_expect(strstr(r.out, "aborted") != NULL, "%s", r.out);
  cr_expect(strstr(r.out, "s3://test/dir/left") != NULL, "%s", r.out);
  cli_result_free(&r);
  cr_expect_eq(swift_uploads_left(&sw), 0);
  swift_stop(&sw);
}
