/* The S3 test server (tests/support/swift.h, tests/integration/swift/):
 * Swift starts and answers, aws-cli round-trips a 12 MiB file as a
 * multipart upload byte-exact, a bad signature is refused, a part below
 * the minimum size makes CompleteMultipartUpload fail with EntityTooSmall,
 * and stopping (or the test process dying) leaves no process behind. */
#include <criterion/criterion.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "codec/sigv4.h"
#include "support/cli_exec.h"
#include "support/swift.h"

TestSuite(swift, .timeout = 180);

static void random_file(const char* path, size_t n) {
  char* b = malloc(n);
  size_t i;
  uint64_t x = 0x9e3779b97f4a7c15ull;
  cr_assert(b);
  for (i = 0; i < n; i++) {
    x ^= x << 13, x ^= x >> 7, x ^= x << 17;
    b[i] = (char)(x >> 24);
  }
  cr_assert_eq(cli_write_file(path, b, n), 0);
  free(b);
}

static void sha256_file(const char* path, char out[65]) {
  size_t n = 0;
  char* b = cli_read_file(path, &n);
  cr_assert(b, "cannot read %s", path);
  pipe__sigv4_sha256_hex(b, n, out);
  free(b);
}

Test(swift, aws_cli_round_trips_a_12_mib_multipart_upload_byte_exact) {
  swift_t sw;
  char* tmp = cli_tmpdir();
  char args[1024], up[65], down[65];
  cli_result_t r;
  swift_start(&sw, NULL);
  cr_expect(swift_pid_alive(sw.pids[0]), "the proxy runs");

  snprintf(args, sizeof(args), "%s/up.bin", tmp);
  random_file(args, 12u << 20);
  snprintf(args, sizeof(args),
           "s3 cp --only-show-errors '%s/up.bin' 's3://%s/dir/a b.bin'", tmp,
           sw.bucket);
  r = swift_aws(&sw, args, NULL);
  cr_assert_eq(r.status, 0, "aws s3 cp up: %s", r.err);
  cli_result_free(&r);

  /* aws-cli's 8 MiB parts: two of them, and Swift's multipart ETag. */
  snprintf(args, sizeof(args),
           "s3api head-object --bucket %s --key 'dir/a b.bin' "
           "--query '[ContentLength,ETag]' --output text",
           sw.bucket);
  r = swift_aws(&sw, args, NULL);
  cr_assert_eq(r.status, 0, "head-object: %s", r.err);
  cr_expect(strstr(r.out, "12582912"), "length: %s", r.out);
  cr_expect(strstr(r.out, "-2\""), "a 2-part multipart ETag: %s", r.out);
  cli_result_free(&r);

  snprintf(args, sizeof(args),
           "s3 cp --only-show-errors 's3://%s/dir/a b.bin' '%s/down.bin'",
           sw.bucket, tmp);
  r = swift_aws(&sw, args, NULL);
  cr_assert_eq(r.status, 0, "aws s3 cp down: %s", r.err);
  cli_result_free(&r);

  snprintf(args, sizeof(args), "%s/up.bin", tmp);
  sha256_file(args, up);
  snprintf(args, sizeof(args), "%s/down.bin", tmp);
  sha256_file(args, down);
  cr_expect_str_eq(down, up, "SHA-256 of the download");

  swift_stop(&sw);
  cli_rmtree(tmp);
  free(tmp);
}

Test(swift, a_bad_signature_is_refused_with_403) {
  swift_t sw;
  char cmd[2048], env[512], date[17];
  time_t now = time(NULL);
  struct tm tm;
  cli_result_t r;
  swift_start(&sw, NULL);

  /* A well-formed SigV4 Authorization with a wrong signature. */
  gmtime_r(&now, &tm);
  strftime(date, sizeof(date), "%Y%m%dT%H%M%SZ", &tm);
  snprintf(cmd, sizeof(cmd),
           "curl -s -o - -w '\\n%%{http_code}' "
           "-H 'x-amz-date: %s' -H 'x-amz-content-sha256: %s' "
           "-H 'Authorization: AWS4-HMAC-SHA256 Credential=test:tester/"
           "%.8s/us-east-1/s3/aws4_request, SignedHeaders=host;"
           "x-amz-content-sha256;x-amz-date, Signature=%064d' "
           "'%s/%s/'",
           date, PIPE_SIGV4_EMPTY_SHA256, date, 0, sw.endpoint, sw.bucket);
  r = cli_exec(cmd, NULL);
  cr_assert_eq(r.status, 0, "curl: %s", r.err);
  cr_expect(strstr(r.out, "SignatureDoesNotMatch"), "%s", r.out);
  cr_expect(strstr(r.out, "\n403"), "HTTP status: %s", r.out);
  cli_result_free(&r);

  /* aws-cli with a wrong secret: refused too; with the right one, allowed
   * (so the refusal is the signature's doing). */
  swift_env(&sw, env, sizeof(env));
  snprintf(cmd, sizeof(cmd),
           "%s AWS_SECRET_ACCESS_KEY=wrong /usr/bin/aws --endpoint-url '%s' "
           "s3api list-objects-v2 --bucket %s",
           env, sw.endpoint, sw.bucket);
  r = cli_exec(cmd, NULL);
  cr_expect_neq(r.status, 0);
  cr_expect(strstr(r.err, "SignatureDoesNotMatch"), "%s", r.err);
  cli_result_free(&r);
  snprintf(cmd, sizeof(cmd), "s3api list-objects-v2 --bucket %s", sw.bucket);
  r = swift_aws(&sw, cmd, NULL);
  cr_expect_eq(r.status, 0, "%s", r.err);
  cli_result_free(&r);
  swift_stop(&sw);
}

/* upload-part of `size` bytes from a file; prints nothing on success. */
static void upload_part(const swift_t* sw, const char* dir, const char* id,
                        int part, size_t size) {
  char args[1024];
  cli_result_t r;
  snprintf(args, sizeof(args), "%s/part%d", dir, part);
  random_file(args, size);
  snprintf(args, sizeof(args),
           "s3api upload-part --bucket %s --key small --upload-id '%s' "
           "--part-number %d --body '%s/part%d' --query ETag --output text",
           sw->bucket, id, part, dir, part);
  r = swift_aws(sw, args, NULL);
  cr_assert_eq(r.status, 0, "upload-part %d: %s", part, r.err);
  cli_result_free(&r);
}

/* Creates an upload of two parts, part 1 of `first` bytes, and completes
 * it (the parts listed from ListParts); returns the result. */
static cli_result_t two_part_upload(const swift_t* sw, const char* dir,
                                    size_t first, char* id, size_t idcap) {
  char args[2048];
  cli_result_t r;
  snprintf(args, sizeof(args),
           "s3api create-multipart-upload --bucket %s --key small "
           "--query UploadId --output text",
           sw->bucket);
  r = swift_aws(sw, args, NULL);
  cr_assert_eq(r.status, 0, "create: %s", r.err);
  cr_assert(r.out_len > 1 && r.out_len < idcap);
  memcpy(id, r.out, r.out_len - 1); /* without the newline */
  id[r.out_len - 1] = '\0';
  cli_result_free(&r);
  upload_part(sw, dir, id, 1, first);
  upload_part(sw, dir, id, 2, 10);
  snprintf(args, sizeof(args),
           "s3api list-parts --bucket %s --key small --upload-id '%s' "
           "--query '{Parts: Parts[].{PartNumber: PartNumber, ETag: ETag}}'",
           sw->bucket, id);
  r = swift_aws(sw, args, NULL);
  cr_assert_eq(r.status, 0, "list-parts: %s", r.err);
  snprintf(args, sizeof(args), "%s/parts.json", dir);
  cr_assert_eq(cli_write_file(args, r.out, r.out_len), 0);
  cli_result_free(&r);
  snprintf(args, sizeof(args),
           "s3api complete-multipart-upload --bucket %s --key small "
           "--upload-id '%s' --multipart-upload 'file://%s/parts.json'",
           sw->bucket, id, dir);
  return swift_aws(sw, args, NULL);
}

Test(swift, a_part_below_min_segment_size_gives_entity_too_small) {
  swift_t sw;
  swift_options_t opt = {.min_segment_size = 1 << 20};
  char* tmp = cli_tmpdir();
  char id[512], args[1024];
  cli_result_t r;
  swift_start(&sw, &opt);

  r = two_part_upload(&sw, tmp, 512 * 1024, id, sizeof(id));
  cr_expect_neq(r.status, 0, "completed with a 512 KiB first part");
  cr_expect(strstr(r.err, "EntityTooSmall"), "%s", r.err);
  cli_result_free(&r);
  snprintf(args, sizeof(args),
           "s3api abort-multipart-upload --bucket %s --key small "
           "--upload-id '%s'",
           sw.bucket, id);
  r = swift_aws(&sw, args, NULL);
  cr_expect_eq(r.status, 0, "abort: %s", r.err);
  cli_result_free(&r);

  /* At the lowered minimum the same upload completes. */
  r = two_part_upload(&sw, tmp, 1 << 20, id, sizeof(id));
  cr_expect_eq(r.status, 0, "a 1 MiB first part: %s", r.err);
  cr_expect(strstr(r.out, "-2\\\""), "multipart ETag: %s", r.out);
  cli_result_free(&r);

  snprintf(args, sizeof(args),
           "s3api list-multipart-uploads --bucket %s --query "
           "'length(Uploads || `[]`)'",
           sw.bucket);
  r = swift_aws(&sw, args, NULL);
  cr_expect_eq(r.status, 0, "%s", r.err);
  cr_expect_eq(atoi(r.out), 0, "uploads left: %s", r.out);
  cli_result_free(&r);
  swift_stop(&sw);
  cli_rmtree(tmp);
  free(tmp);
}

Test(swift, stop_leaves_no_process_and_no_directory) {
  swift_t sw;
  int i;
  swift_start(&sw, NULL);
  cr_assert_geq(sw.npids, 5, "four servers and the watchdog");
  for (i = 0; i < sw.npids; i++)
    cr_expect(swift_pid_alive(sw.pids[i]), "pid %d runs", (int)sw.pids[i]);
  swift_stop(&sw); /* asserts every PID gone and the directory removed */
  for (i = 0; i < sw.npids; i++) cr_expect(!swift_pid_alive(sw.pids[i]));
}

Test(swift, a_test_process_that_dies_takes_its_server_with_it) {
  int fds[2], st, i, left = 0;
  swift_t sw;
  pid_t child;
  cr_assert_eq(pipe(fds), 0);
  child = fork();
  cr_assert_geq(child, 0);
  if (child == 0) {
    /* Starts a server, hands its PIDs over, and dies without stopping it. */
    close(fds[0]);
    swift_start(&sw, NULL);
    if (write(fds[1], &sw, sizeof(sw)) != (ssize_t)sizeof(sw)) _exit(3);
    _exit(0);
  }
  close(fds[1]);
  cr_assert_eq(read(fds[0], &sw, sizeof(sw)), (ssize_t)sizeof(sw));
  close(fds[0]);
  cr_assert_eq(waitpid(child, &st, 0), child);
  for (i = 0; i < 200; i++) { /* the watchdog polls twice a second */
    int k;
    left = 0;
    for (k = 0; k < sw.npids; k++) left += swift_pid_alive(sw.pids[k]);
    if (!left && access(sw.dir, F_OK) != 0) break;
    usleep(100 * 1000);
  }
  cr_expect_eq(left, 0, "processes left after the test died");
  cr_expect_neq(access(sw.dir, F_OK), 0, "%s left behind", sw.dir);
}
