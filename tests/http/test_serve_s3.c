/* `pipe serve --store s3://test/pre` against a real S3 server (Swift with
 * s3api, tests/support/swift.h), with real curl as the client and aws-cli
 * (/usr/bin/aws) as the independent judge of what was stored; faults
 * through the fault proxy (tests/support/faultproxy.h).
 *
 * Each Test() starts its own Swift (about two seconds) and covers a family
 * of cases, to keep the file's runtime modest. */
#include <criterion/criterion.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "support/faultproxy.h"
#include "support/serve_helpers.h"
#include "support/swift.h"

#define BIG 12000000 /* three 5 MiB parts: a multipart upload */

/* The server's S3 credentials: its environment, as aws-cli users set it. */
static void s3_env(void) {
  setenv("AWS_ACCESS_KEY_ID", SWIFT_ACCESS_KEY, 1);
  setenv("AWS_SECRET_ACCESS_KEY", SWIFT_SECRET_KEY, 1);
  setenv("AWS_REGION", SWIFT_REGION, 1);
  setenv("AWS_CONFIG_FILE", "/dev/null", 1);
  setenv("AWS_SHARED_CREDENTIALS_FILE", "/dev/null", 1);
  unsetenv("AWS_PROFILE");
  unsetenv("AWS_ENDPOINT_URL");
}

static swift_t* start_swift(void) {
  static swift_t sw;
  swift_options_t o;
  memset(&o, 0, sizeof(o));
  o.min_segment_size = 1048576;
  swift_start(&sw, &o);
  s3_env();
  return &sw;
}

/* pipe serve on the bucket "test" under the prefix "pre", through
 * endpoint (Swift or the fault proxy). */
static serve_t* start_serve(const char* endpoint, const char* extra) {
  char args[1024];
  snprintf(args, sizeof(args),
           "--store s3://test/pre --endpoint-url %s --part-size 5M %s", endpoint,
           extra != NULL ? extra : "");
  return serve_start(args);
}

static void sleep_ms(int ms) {
  struct timespec ts = {ms / 1000, (long)(ms % 1000) * 1000000L};
  nanosleep(&ts, NULL);
}

/* The value of "name":"..." (the n-th) in a JSON receipt (malloc'd). */
static char* json_str(const char* json, const char* name, int n) {
  char pat[64];
  const char* p = json;
  const char* end;
  int i;
  snprintf(pat, sizeof(pat), "\"%s\":\"", name);
  for (i = 0; i <= n; i++) {
    p = strstr(p, pat);
    cr_assert(p != NULL, "no %s %d in %s", name, n, json);
    p += strlen(pat);
  }
  end = p;
  while (*end != '\0' && !(*end == '"' && end[-1] != '\\')) end++;
  return strndup(p, (size_t)(end - p));
}

/* SHA-256 of s3://test/pre/KEY as aws-cli downloads it (after `filter`,
 * e.g. "| gunzip", may be ""). malloc'd. */
static char* s3_sha(const swift_t* sw, const char* key, const char* filter) {
  char args[1500];
  cli_result_t r;
  char* sha;
  snprintf(args, sizeof(args), "s3 cp 's3://test/pre/%s' - %s | sha256sum | cut -c1-64",
           key, filter);
  r = swift_aws(sw, args, NULL);
  cr_assert_eq(r.status, 0, "aws s3 cp %s: %s", key, r.err);
  sha = strndup(r.out, 64);
  cli_result_free(&r);
  return sha;
}

/* The ETag Swift reports for pre/KEY (without quotes), malloc'd. */
static char* s3_etag(const swift_t* sw, const char* key) {
  char args[1500];
  cli_result_t r;
  char *p, *q, *out;
  snprintf(args, sizeof(args),
           "s3api head-object --bucket test --key 'pre/%s' --query ETag --output text", key);
  r = swift_aws(sw, args, NULL);
  cr_assert_eq(r.status, 0, "head-object %s: %s", key, r.err);
  p = r.out;
  while (*p == '"' || *p == '\\') p++;
  q = p + strcspn(p, "\"\\\n");
  *q = '\0';
  out = strdup(p);
  cli_result_free(&r);
  return out;
}

/* 1 when the receipt's JSON holds "etag":"\"ETAG\"". */
static int receipt_has_etag(const char* json, const char* etag) {
  char pat[200];
  snprintf(pat, sizeof(pat), "\"etag\":\"\\\"%s\\\"\"", etag);
  return strstr(json, pat) != NULL;
}

/* Objects under s3://test/pre/ (count of keys). */
static int s3_objects(const swift_t* sw) {
  cli_result_t r = swift_aws(sw, "s3api list-objects-v2 --bucket test --prefix pre/ --output json", NULL);
  int n = 0;
  const char* p;
  cr_assert_eq(r.status, 0, "list-objects-v2: %s", r.err);
  for (p = r.out; (p = strstr(p, "\"Key\"")) != NULL; p++) n++;
  cli_result_free(&r);
  return n;
}

static int s3_uploads_left(const swift_t* sw) {
  cli_result_t r = swift_aws(sw, "s3api list-multipart-uploads --bucket test --output json", NULL);
  int n = 0;
  const char* p;
  cr_assert_eq(r.status, 0, "list-multipart-uploads: %s", r.err);
  for (p = r.out; (p = strstr(p, "\"UploadId\"")) != NULL; p++) n++;
  cli_result_free(&r);
  return n;
}

/* The HTTP status of curl's `-w '\n%{http_code}'` output (its last line). */
static int http_code(const char* out) {
  const char* nl = strrchr(out, '\n');
  return atoi(nl != NULL ? nl + 1 : out);
}

Test(serve_s3, put_and_post_store_objects_in_s3_that_aws_reads_back_sha256_equal,
     .timeout = 120) {
  swift_t* sw = start_swift();
  serve_t* s = start_serve(sw->endpoint, "");
  char big[600], small[600];
  char *sha_big, *sha_small, *key, *got, *want;
  cli_result_t r;
  snprintf(big, sizeof(big), "%s/big.bin", s->dir);
  snprintf(small, sizeof(small), "%s/small.csv", s->dir);
  serve_make_file(big, BIG, 3);
  serve_make_file(small, 70000, 4);
  sha_big = serve_sha256(big);
  sha_small = serve_sha256(small);

  /* PUT with Content-Length, multipart in S3: the receipt's SHA-256 and
   * ETag are those of the object aws-cli sees. */
  r = serve_sh(s, "curl -sS -T \"$D/big.bin\" \"$U/v1/objects/dir/big.bin\" -w '\\n%%{http_code}'");
  cr_assert_eq(http_code(r.out), 201, "%s %s", r.out, r.err);
  got = json_str(r.out, "sha256", 0);
  cr_assert_str_eq(got, sha_big);
  free(got);
  cr_assert(strstr(r.out, "\"bytes_in\":12000000,\"bytes_out\":12000000") != NULL, "%s", r.out);
  got = s3_sha(sw, "dir/big.bin", "");
  cr_assert_str_eq(got, sha_big);
  free(got);
  want = s3_etag(sw, "dir/big.bin");
  cr_assert(strstr(want, "-3") != NULL, "%s", want);
  cr_assert(receipt_has_etag(r.out, want), "%s vs %s", r.out, want);
  free(want);
  cli_result_free(&r);

  /* PUT chunked (curl -T - sends Transfer-Encoding: chunked), one PutObject. */
  r = serve_sh(s, "curl -sS -T - \"$U/v1/objects/chunked.csv\" -w '\\n%%{http_code}' < \"$D/small.csv\"");
  cr_assert_eq(http_code(r.out), 201, "%s %s", r.out, r.err);
  got = s3_sha(sw, "chunked.csv", "");
  cr_assert_str_eq(got, sha_small);
  free(got);
  want = s3_etag(sw, "chunked.csv");
  cr_assert(receipt_has_etag(r.out, want), "%s vs %s", r.out, want);
  free(want);
  cli_result_free(&r);

  /* POST -F with several files and a field: every file an object under a
   * generated key. */
  r = serve_sh(s, "curl -sS -F \"a=@$D/big.bin\" -F note=hi -F \"b=@$D/small.csv\" "
                  "\"$U/v1/uploads\" -w '\\n%%{http_code}'");
  cr_assert_eq(http_code(r.out), 201, "%s %s", r.out, r.err);
  cr_assert(strstr(r.out, "\"fields\":{\"note\":\"hi\"}") != NULL, "%s", r.out);
  key = json_str(r.out, "key", 0);
  cr_assert(strstr(key, "/big.bin") != NULL, "%s", key);
  got = s3_sha(sw, key, "");
  cr_assert_str_eq(got, sha_big);
  free(got);
  free(key);
  key = json_str(r.out, "key", 1);
  got = s3_sha(sw, key, "");
  cr_assert_str_eq(got, sha_small);
  free(got);
  free(key);
  cli_result_free(&r);

  /* POST one file through ?pipeline=gzip: stored gzipped (the receipt's
   * sha256 is of the stored bytes), gunzips to the original. */
  r = serve_sh(s, "curl -sS -F \"f=@$D/big.bin\" \"$U/v1/uploads?pipeline=gzip\" -w '\\n%%{http_code}'");
  cr_assert_eq(http_code(r.out), 201, "%s %s", r.out, r.err);
  key = json_str(r.out, "key", 0);
  got = s3_sha(sw, key, "| gunzip");
  cr_assert_str_eq(got, sha_big);
  free(got);
  got = s3_sha(sw, key, "");
  want = json_str(r.out, "sha256", 0);
  cr_assert_str_eq(got, want);
  free(got);
  free(want);
  free(key);
  cli_result_free(&r);

  /* Four multipart uploads at once share the one S3 client: all intact. */
  r = serve_sh(s, "for i in 1 2 3 4; do curl -sS -F \"f=@$D/big.bin\" \"$U/v1/uploads\" "
                  "> \"$D/r$i\" & done; wait; cat \"$D\"/r?");
  cr_assert_eq(r.status, 0, "%s", r.err);
  {
    int i;
    for (i = 0; i < 4; i++) {
      key = json_str(r.out, "key", i);
      got = s3_sha(sw, key, "");
      cr_assert_str_eq(got, sha_big, "%s", key);
      free(got);
      free(key);
    }
  }
  cli_result_free(&r);

  cr_expect_eq(s3_uploads_left(sw), 0);
  cr_expect_eq(s3_objects(sw), 9);
  cr_assert_eq(serve_stop(s, 0), 0);
  free(sha_big);
  free(sha_small);
  swift_stop(sw);
}

Test(serve_s3, get_head_and_range_stream_objects_back_from_s3, .timeout = 120) {
  swift_t* sw = start_swift();
  serve_t* s = start_serve(sw->endpoint, "");
  char big[600], args[800];
  char *sha, *etag;
  cli_result_t r;
  snprintf(big, sizeof(big), "%s/big.bin", s->dir);
  serve_make_file(big, BIG, 5);
  sha = serve_sha256(big);
  /* Stored by aws-cli (its own multipart upload), read through pipe. */
  snprintf(args, sizeof(args), "s3 cp '%s' s3://test/pre/up/by-aws.bin", big);
  r = swift_aws(sw, args, NULL);
  cr_assert_eq(r.status, 0, "%s", r.err);
  cli_result_free(&r);
  etag = s3_etag(sw, "up/by-aws.bin");

  r = serve_sh(s, "curl -sS -f \"$U/v1/objects/up/by-aws.bin\" | sha256sum | cut -c1-64");
  cr_assert_eq(r.status, 0, "%s", r.err);
  cr_assert(strncmp(r.out, sha, 64) == 0, "%s vs %s", r.out, sha);
  cli_result_free(&r);

  /* A slow client: the read from S3 pauses, the bytes arrive intact. */
  r = serve_sh(s, "curl -sS -f --limit-rate 4M \"$U/v1/objects/up/by-aws.bin\" | sha256sum | cut -c1-64");
  cr_assert(strncmp(r.out, sha, 64) == 0, "%s vs %s", r.out, sha);
  cli_result_free(&r);

  r = serve_sh(s, "curl -sS -I \"$U/v1/objects/up/by-aws.bin\"");
  cr_assert(strstr(r.out, "HTTP/1.1 200") != NULL, "%s", r.out);
  cr_assert(strstr(r.out, "Content-Length: 12000000\r\n") != NULL, "%s", r.out);
  {
    char pat[200];
    snprintf(pat, sizeof(pat), "ETag: \"%s\"\r\n", etag);
    cr_assert(strstr(r.out, pat) != NULL, "%s vs %s", r.out, pat);
  }
  cli_result_free(&r);

  /* The client has that version: 304, no body. */
  {
    char cmd[400];
    snprintf(cmd, sizeof(cmd),
             "curl -sS -i -H 'If-None-Match: \"%s\"' \"$U/v1/objects/up/by-aws.bin\"",
             etag);
    r = serve_sh(s, "%s", cmd);
    cr_assert(strstr(r.out, "HTTP/1.1 304") != NULL, "%s", r.out);
    cr_assert(r.out_len < 300 && strcmp(r.out + r.out_len - 4, "\r\n\r\n") == 0, "%s",
              r.out); /* the head only */
    cli_result_free(&r);
  }

  /* A range across the parts: 206 and exactly those bytes. */
  r = serve_sh(s, "curl -sS -r 5242000-5243999 -D \"$D/h\" \"$U/v1/objects/up/by-aws.bin\" "
                  "| cmp - \"$D/big.bin\" -i 0:5242000 -n 2000 && grep -c '^HTTP/1.1 206' \"$D/h\" "
                  "&& grep -i 'content-range' \"$D/h\"");
  cr_assert_eq(r.status, 0, "%s %s", r.out, r.err);
  cr_assert(strstr(r.out, "bytes 5242000-5243999/12000000") != NULL, "%s", r.out);
  cli_result_free(&r);
  r = serve_sh(s, "curl -sS -r -10 \"$U/v1/objects/up/by-aws.bin\" | cmp - \"$D/big.bin\" -i 0:11999990");
  cr_assert_eq(r.status, 0, "%s %s", r.out, r.err);
  cli_result_free(&r);

  /* Outside the object: 416; no such key: 404 JSON with the request id. */
  r = serve_sh(s, "curl -sS -r 12000000- \"$U/v1/objects/up/by-aws.bin\" -w '\\n%%{http_code}'");
  cr_assert_eq(http_code(r.out), 416, "%s", r.out);
  cr_assert(strstr(r.out, "range_not_satisfiable") != NULL, "%s", r.out);
  cli_result_free(&r);
  r = serve_sh(s, "curl -sS \"$U/v1/objects/up/none\" -w '\\n%%{http_code}'");
  cr_assert_eq(http_code(r.out), 404, "%s", r.out);
  cr_assert(strstr(r.out, "\"code\":\"no_such_key\"") != NULL, "%s", r.out);
  cr_assert(strstr(r.out, "\"request_id\":\"") != NULL, "%s", r.out);
  cli_result_free(&r);

  /* An empty object: 200 with no body. */
  r = serve_sh(s, "curl -sS -T /dev/null \"$U/v1/objects/empty\" >/dev/null && "
                  "curl -sS -D - \"$U/v1/objects/empty\" -o \"$D/e\" && wc -c < \"$D/e\"");
  cr_assert(strstr(r.out, "Content-Length: 0\r\n") != NULL, "%s %s", r.out, r.err);
  cli_result_free(&r);

  cr_assert_eq(serve_stop(s, 0), 0);
  free(sha);
  free(etag);
  swift_stop(sw);
}

/* Sends a PUT announcing `announced` bytes, sends `sent` of them, then
 * closes the connection (a client gone mid-upload). */
static void put_and_vanish(const serve_t* s, const char* key, long announced, long sent) {
  cli_result_t r = serve_sh(
      s,
      "/usr/bin/python3 -c 'import socket,sys,time\n"
      "s=socket.create_connection((\"127.0.0.1\",%d))\n"
      "s.sendall(b\"PUT /v1/objects/%s HTTP/1.1\\r\\nHost: x\\r\\nContent-Length: %ld\\r\\n\\r\\n\")\n"
      "blk=b\"x\"*65536\n"
      "n=%ld\n"
      "while n>0:\n"
      "  k=min(n,len(blk)); s.sendall(blk[:k]); n-=k\n"
      "time.sleep(0.5)\n"
      "s.close()'",
      s->port, key, announced, sent);
  cr_assert_eq(r.status, 0, "%s", r.err);
  cli_result_free(&r);
}

Test(serve_s3, a_failed_upload_leaves_no_object_and_no_multipart_upload, .timeout = 120) {
  swift_t* sw = start_swift();
  serve_t* s = start_serve(sw->endpoint, "");
  char small[600];
  char* log;
  cli_result_t r;
  int i, left = -1;
  snprintf(small, sizeof(small), "%s/small.bin", s->dir);
  serve_make_file(small, 100000, 9);

  /* Gone after 12 of 20 MB: two parts were uploaded, the upload is
   * aborted. */
  put_and_vanish(s, "gone.bin", 20000000, 12000000);
  for (i = 0; i < 100; i++) { /* the abort follows the client's close */
    left = s3_uploads_left(sw);
    if (left == 0) break;
    sleep_ms(100);
  }
  cr_assert_eq(left, 0, "a multipart upload was left behind");
  log = serve_log(s);
  cr_assert(strstr(log, "client gone mid-upload") != NULL, "%s", log);
  free(log);

  /* A multipart body cut before its closing delimiter, after a whole first
   * file and most of a second (multipart in S3): 400, and neither the
   * stored first file nor the second's upload is left. */
  r = serve_sh(s,
               "B=xyzzy; { printf -- \"--$B\\r\\nContent-Disposition: form-data; name=\\\"a\\\"; "
               "filename=\\\"a.bin\\\"\\r\\n\\r\\n\"; cat \"$D/small.bin\"; "
               "printf -- \"\\r\\n--$B\\r\\nContent-Disposition: form-data; name=\\\"b\\\"; "
               "filename=\\\"b.bin\\\"\\r\\n\\r\\n\"; head -c 11000000 /dev/zero; } > \"$D/body\"; "
               "curl -sS -H \"Content-Type: multipart/form-data; boundary=$B\" "
               "--data-binary @\"$D/body\" \"$U/v1/uploads\" -w '\\n%%{http_code}'");
  cr_assert_eq(http_code(r.out), 400, "%s %s", r.out, r.err);
  cr_assert(strstr(r.out, "\"request_id\":\"") != NULL, "%s", r.out);
  cli_result_free(&r);
  cr_expect_eq(s3_uploads_left(sw), 0);
  cr_expect_eq(s3_objects(sw), 0, "an object of the failed request is left");

  /* A bad pipeline for the data (gunzip of bytes that are not gzip): 422,
   * nothing stored. */
  r = serve_sh(s, "curl -sS -T \"$D/small.bin\" \"$U/v1/objects/bad.gz?pipeline=gunzip\" "
                  "-w '\\n%%{http_code}'");
  cr_assert_eq(http_code(r.out), 422, "%s %s", r.out, r.err);
  cli_result_free(&r);
  cr_expect_eq(s3_objects(sw), 0);
  cr_expect_eq(s3_uploads_left(sw), 0);
  cr_assert_eq(serve_stop(s, 0), 0);
  swift_stop(sw);
}

Test(serve_s3, a_shutdown_aborts_the_uploads_still_running_and_exits_0, .timeout = 120) {
  swift_t* sw = start_swift();
  serve_t* s = start_serve(sw->endpoint, "--grace 0.5");
  cli_result_t r;
  int i, left = 0;
  /* A client that sends 12 of 20 MB, then waits: a multipart upload in
   * flight when SIGTERM comes. */
  r = serve_sh(s,
               "/usr/bin/python3 -c 'import socket,time\n"
               "s=socket.create_connection((\"127.0.0.1\",%d))\n"
               "s.sendall(b\"PUT /v1/objects/slow HTTP/1.1\\r\\nHost: x\\r\\n"
               "Content-Length: 20000000\\r\\n\\r\\n\")\n"
               "s.sendall(b\"y\"*12000000)\n"
               "time.sleep(20)' >/dev/null 2>&1 & echo $! > \"$D/client.pid\"",
               s->port);
  cr_assert_eq(r.status, 0, "%s", r.err);
  cli_result_free(&r);
  for (i = 0; i < 100 && left == 0; i++) {
    left = s3_uploads_left(sw);
    if (left == 0) sleep_ms(100);
  }
  cr_assert_eq(left, 1, "no multipart upload started");
  {
    char pidf[600];
    FILE* f;
    int cpid = 0;
    snprintf(pidf, sizeof(pidf), "%s/client.pid", s->dir);
    f = fopen(pidf, "r");
    if (f != NULL) {
      if (fscanf(f, "%d", &cpid) != 1) cpid = 0;
      fclose(f);
    }
    cr_assert_eq(serve_stop(s, 0), 0); /* SIGTERM: drain, grace, abort */
    cr_expect_eq(s3_uploads_left(sw), 0);
    cr_expect_eq(s3_objects(sw), 0);
    if (cpid > 0) kill(cpid, SIGTERM);
  }
  swift_stop(sw);
}

/* GET /readyz until it answers `want` (at most ~15 s). */
static int wait_ready(const serve_t* s, int want) {
  int i, code = 0;
  for (i = 0; i < 60; i++) {
    cli_result_t r = serve_sh(s, "curl -sS \"$U/readyz\" -o /dev/null -w '%%{http_code}'");
    code = atoi(r.out);
    cli_result_free(&r);
    if (code == want) break;
    sleep_ms(250);
  }
  return code;
}

Test(serve_s3, storage_failures_answer_502_or_503_json_and_leave_no_upload, .timeout = 120) {
  swift_t* sw = start_swift();
  fproxy_t fp;
  serve_t* s;
  char big[600];
  cli_result_t r;
  fproxy_start(&fp, sw->port, NULL);
  s = start_serve(fp.url, "--max-attempts 3 --retry-timeout 2");
  snprintf(big, sizeof(big), "%s/big.bin", s->dir);
  serve_make_file(big, BIG, 11);
  cr_assert_eq(wait_ready(s, 200), 200);
  r = serve_sh(s, "curl -sS -f -T \"$D/big.bin\" \"$U/v1/objects/ok.bin\"");
  cr_assert_eq(r.status, 0, "%s", r.err);
  cli_result_free(&r);

  /* Reads ride out SlowDown on every other GET: byte-exact. */
  fproxy_faults(&fp, "{\"slowdown\": {\"every\": 2, \"method\": \"GET\"}}");
  r = serve_sh(s, "curl -sS -f \"$U/v1/objects/ok.bin\" | cmp - \"$D/big.bin\" && "
                  "curl -sS -f -r 7000000- \"$U/v1/objects/ok.bin\" | cmp - \"$D/big.bin\" -i 0:7000000");
  cr_assert_eq(r.status, 0, "%s %s", r.out, r.err);
  cli_result_free(&r);
  cr_expect_gt(fproxy_count(&fp, "slowdown"), 0);

  /* S3 keeps answering SlowDown: 503 with Retry-After, after retries. */
  fproxy_faults(&fp, "{\"slowdown\": {\"every\": 1}}");
  r = serve_sh(s, "curl -sS -D - -T \"$D/big.bin\" \"$U/v1/objects/slow.bin\" -w '\\n%%{http_code}'");
  cr_assert_eq(http_code(r.out), 503, "%s %s", r.out, r.err);
  cr_assert(strstr(r.out, "Retry-After: 1") != NULL, "%s", r.out);
  cr_assert(strstr(r.out, "\"code\":\"store_busy\"") != NULL, "%s", r.out);
  cr_assert(strstr(r.out, "\"request_id\":\"") != NULL, "%s", r.out);
  cli_result_free(&r);
  cr_expect_gt(fproxy_count(&fp, "slowdown"), 1);

  /* Every part upload is reset: the upload fails (502) and is aborted
   * before the answer. */
  fproxy_faults(&fp, "{\"reset\": {\"query\": \"partNumber\"}}");
  r = serve_sh(s, "curl -sS -T \"$D/big.bin\" \"$U/v1/objects/cut.bin\" -w '\\n%%{http_code}'");
  cr_assert_eq(http_code(r.out), 502, "%s %s", r.out, r.err);
  cr_assert(strstr(r.out, "\"code\":\"store_unavailable\"") != NULL, "%s", r.out);
  cr_assert(strstr(r.out, "\"request_id\":\"") != NULL, "%s", r.out);
  cli_result_free(&r);
  cr_expect_gt(fproxy_count(&fp, "reset"), 1);
  cr_expect_eq(s3_uploads_left(sw), 0);

  /* S3 gone for good after CreateMultipartUpload: the upload fails (502)
   * and its abort cannot reach S3 either: the log names the upload and the
   * command that removes it, which does once S3 is back. */
  fproxy_faults(&fp, "{\"refuse\": {\"seconds\": 60, \"after_requests\": 2}}");
  r = serve_sh(s, "curl -sS -T \"$D/big.bin\" \"$U/v1/objects/left.bin\" -w '\\n%%{http_code}'");
  cr_assert_eq(http_code(r.out), 502, "%s %s", r.out, r.err);
  cli_result_free(&r);
  fproxy_post(&fp, "/up");
  cr_assert_eq(s3_uploads_left(sw), 1);
  {
    char* log = serve_log(s);
    cr_assert(strstr(log, "could not be aborted: remove it with 'pipe s3 cleanup "
                          "s3://test/pre/left.bin'") != NULL, "%s", log);
    free(log);
  }
  r = serve_sh(s, "\"$PIPE\" s3 cleanup s3://test/pre/ --endpoint-url %s", sw->endpoint);
  cr_assert_eq(r.status, 0, "%s", r.err);
  cli_result_free(&r);
  cr_expect_eq(s3_uploads_left(sw), 0);

  /* Unreachable: uploads and reads 502, /readyz 503; back: 200. */
  fproxy_faults(&fp, "{}");
  fproxy_post(&fp, "/down");
  r = serve_sh(s, "curl -sS -T /etc/hostname \"$U/v1/objects/down.txt\" -w '\\n%%{http_code}'");
  cr_assert_eq(http_code(r.out), 502, "%s %s", r.out, r.err);
  cli_result_free(&r);
  r = serve_sh(s, "curl -sS \"$U/v1/objects/down.txt\" -w '\\n%%{http_code}'");
  cr_assert_eq(http_code(r.out), 502, "%s %s", r.out, r.err);
  cr_assert(strstr(r.out, "\"request_id\":\"") != NULL, "%s", r.out);
  cli_result_free(&r);
  cr_assert_eq(wait_ready(s, 503), 503);
  fproxy_post(&fp, "/up");
  cr_assert_eq(wait_ready(s, 200), 200);

  cr_expect_eq(s3_uploads_left(sw), 0);
  cr_expect_eq(s3_objects(sw), 1); /* ok.bin only */
  cr_assert_eq(serve_stop(s, 0), 0);
  fproxy_stop(&fp);
  swift_stop(sw);
}

Test(serve_s3, bad_s3_settings_and_credentials_are_clear_errors) {
  swift_t* sw = start_swift();
  serve_t* s;
  cli_result_t r;
  /* A bad store URL or endpoint: refused at start, exit 2. */
  r = cli_exec("\"$PIPE\" serve --listen 127.0.0.1:0 --store s3:// 2>&1", NULL);
  cr_assert_eq(r.status, 2, "%d %s", r.status, r.out);
  cr_assert(strstr(r.out, "s3://bucket") != NULL, "%s", r.out);
  cli_result_free(&r);
  r = cli_exec("\"$PIPE\" serve --listen 127.0.0.1:0 --store s3://b --endpoint-url ftp://x 2>&1",
               NULL);
  cr_assert_eq(r.status, 2, "%d %s", r.status, r.out);
  cli_result_free(&r);
  /* A bucket that does not exist: /readyz 503 naming the error, uploads
   * 502, nothing created. */
  {
    char args[300];
    snprintf(args, sizeof(args), "--store s3://nobucket/p --endpoint-url %s", sw->endpoint);
    s = serve_start(args);
    cr_assert_eq(wait_ready(s, 503), 503);
    r = serve_sh(s, "curl -sS \"$U/readyz\"");
    cr_assert(strstr(r.out, "ES3NOTFOUND") != NULL, "%s", r.out);
    cli_result_free(&r);
    r = serve_sh(s, "curl -sS -T /etc/hostname \"$U/v1/objects/x\" -w '\\n%%{http_code}'");
    cr_assert_eq(http_code(r.out), 502, "%s %s", r.out, r.err);
    cli_result_free(&r);
    cr_assert_eq(serve_stop(s, 0), 0);
  }
  /* A wrong secret: S3 says 403; the upload is 502 (the store refused us,
   * not the client), and no secret appears in the answer or the log. */
  setenv("AWS_SECRET_ACCESS_KEY", "wrong-secret-xyz", 1);
  s = start_serve(sw->endpoint, "");
  r = serve_sh(s, "curl -sS -T /etc/hostname \"$U/v1/objects/denied\" -w '\\n%%{http_code}'");
  cr_assert_eq(http_code(r.out), 502, "%s %s", r.out, r.err);
  cr_assert(strstr(r.out, "wrong-secret") == NULL, "%s", r.out);
  cli_result_free(&r);
  {
    char* log = serve_log(s);
    cr_assert(strstr(log, "wrong-secret") == NULL, "%s", log);
    free(log);
  }
  cr_assert_eq(serve_stop(s, 0), 0);
  swift_stop(sw);
}
