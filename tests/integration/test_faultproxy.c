/* The fault-injecting proxy (tests/integration/faultproxy.py), each fault
 * shown with curl against a real upstream (the echo server, and Swift for
 * the S3 ones), and aws-cli riding out SlowDown and resets through it to
 * Swift. */
#include <criterion/criterion.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "codec/sigv4.h"
#include "support/cli_exec.h"
#include "support/faultproxy.h"
#include "support/swift.h"

TestSuite(faultproxy, .timeout = 180);

typedef struct got_s {
  int rc;     /* curl's exit status: 7 refused, 28 timeout, 52/55/56 reset */
  int http;   /* status, 0 if none */
  char* body; /* malloc'd */
} got_t;

/* curl ARGS URL; prints the body then the status on the last line. */
static got_t curl(const char* args, const char* url) {
  char cmd[2048];
  cli_result_t r;
  got_t g = {0};
  char* nl;
  snprintf(cmd, sizeof(cmd), "curl -sS %s -w '\\n%%{http_code}' '%s'", args,
           url);
  r = cli_exec(cmd, NULL);
  g.rc = r.status;
  nl = strrchr(r.out, '\n');
  if (nl) {
    g.http = atoi(nl + 1);
    *nl = '\0';
  }
  g.body = strdup(r.out);
  cli_result_free(&r);
  return g;
}

static void got_free(got_t* g) {
  free(g->body);
}

typedef struct env_s {
  pid_t echo;
  int echo_port;
  fproxy_t fp;
  char tmp[256];
  char url[512];
} env_t;

static void setup(env_t* e, const char* faults) {
  char* t = cli_tmpdir();
  e->echo_port = fproxy_echo_start(&e->echo);
  fproxy_start(&e->fp, e->echo_port, faults);
  snprintf(e->tmp, sizeof(e->tmp), "%s", t);
  free(t);
}

static void teardown(env_t* e) {
  fproxy_stop(&e->fp);
  fproxy_kill(e->echo);
  cli_rmtree(e->tmp);
}

static const char* url(env_t* e, const char* path) {
  snprintf(e->url, sizeof(e->url), "%s%s", e->fp.url, path);
  return e->url;
}

/* A file of n pseudo-random bytes in e->tmp; its SHA-256 into hash. */
static void make_file(env_t* e, const char* name, size_t n, char hash[65]) {
  char path[400];
  char* b = malloc(n);
  size_t i;
  uint32_t x = 2463534242u;
  for (i = 0; i < n; i++) {
    x ^= x << 13, x ^= x >> 17, x ^= x << 5;
    b[i] = (char)x;
  }
  snprintf(path, sizeof(path), "%s/%s", e->tmp, name);
  cr_assert_eq(cli_write_file(path, b, n), 0);
  pipe__sigv4_sha256_hex(b, n, hash);
  free(b);
}

Test(faultproxy, slowdown_on_every_nth_request) {
  env_t e;
  int i;
  setup(&e, "{\"slowdown\": {\"every\": 2}}");
  for (i = 1; i <= 4; i++) {
    got_t g = curl("", url(&e, "/b/k"));
    cr_expect_eq(g.rc, 0);
    cr_expect_eq(g.http, i % 2 ? 200 : 503, "request %d: %d", i, g.http);
    if (i % 2 == 0)
      cr_expect(strstr(g.body, "<Code>SlowDown</Code>"), "%s", g.body);
    else
      cr_expect(strstr(g.body, "\"path\": \"/b/k\""), "%s", g.body);
    got_free(&g);
  }
  cr_expect_eq(fproxy_count(&e.fp, "slowdown"), 2);
  cr_expect_eq(fproxy_count(&e.fp, "forward"), 2);
  teardown(&e);
}

Test(faultproxy, slowdown_only_for_the_matching_method_and_query) {
  env_t e;
  got_t g;
  cli_result_t r;
  char hash[65], args[600], cmd[1600];
  setup(&e,
        "{\"slowdown\": {\"method\": \"PUT\", \"query\": \"partNumber=\"}}");
  make_file(&e, "part", 100000, hash);
  snprintf(args, sizeof(args), "-T '%s/part'", e.tmp);
  g = curl(args, url(&e, "/b/k?partNumber=1&uploadId=u"));
  cr_expect_eq(g.http, 503, "%s", g.body);
  got_free(&g);
  g = curl("-X POST", url(&e, "/b/k?uploads"));
  cr_expect_eq(g.http, 200, "another query passes");
  got_free(&g);
  g = curl("", url(&e, "/b/k?partNumber=1"));
  cr_expect_eq(g.http, 200, "another method passes");
  got_free(&g);
  /* After a 503 to a request with a body the connection is reused. */
  snprintf(cmd, sizeof(cmd),
           "curl -sS -o /dev/null -o /dev/null "
           "-w '%%{http_code} %%{num_connects}\\n' "
           "-T '%s/part' '%s/b/k?partNumber=2' -T '%s/part' '%s/b/k2'",
           e.tmp, e.fp.url, e.tmp, e.fp.url);
  r = cli_exec(cmd, NULL);
  cr_expect_eq(r.status, 0, "%s", r.err);
  cr_expect_str_eq(r.out, "503 1\n200 0\n");
  cli_result_free(&r);
  cr_expect_eq(fproxy_count(&e.fp, "slowdown"), 2);
  teardown(&e);
}

Test(faultproxy, reset_mid_body_on_part_uploads) {
  env_t e;
  got_t g;
  char hash[65], args[600];
  setup(&e,
        "{\"reset\": {\"method\": \"PUT\", \"query\": \"partNumber\", "
        "\"after_bytes\": 65536}}");
  make_file(&e, "big", 4 << 20, hash);
  snprintf(args, sizeof(args), "-T '%s/big'", e.tmp);
  g = curl(args, url(&e, "/b/k?partNumber=1&uploadId=u"));
  cr_expect(g.rc == 55 || g.rc == 56 || g.rc == 52,
            "curl should see the reset, exit %d", g.rc);
  cr_expect_neq(g.http, 200, "no answer but 100 Continue");
  got_free(&g);
  /* A PutObject is not matched: forwarded byte-exact. */
  g = curl(args, url(&e, "/b/k"));
  cr_expect_eq(g.http, 200);
  cr_expect(strstr(g.body, hash), "the upstream got the same bytes: %s",
            g.body);
  got_free(&g);
  cr_expect_eq(fproxy_count(&e.fp, "reset"), 1);
  teardown(&e);
}

/* Polls until a GET passes again (up to 20 s); returns how many failed
 * with "connection refused" before. */
static int refused_until_back(env_t* e) {
  int refused = 0, i;
  for (i = 0; i < 200; i++) {
    got_t g = curl("", url(e, "/b/k"));
    int rc = g.rc, http = g.http;
    got_free(&g);
    if (rc == 0 && http == 200) return refused;
    cr_expect_eq(rc, 7, "curl exit %d (want 7: refused)", rc);
    refused++;
    usleep(100 * 1000);
  }
  cr_assert_fail("the proxy did not listen again");
  return refused;
}

Test(faultproxy, refuse_connections_for_some_seconds_then_listen_again) {
  env_t e;
  got_t g;
  setup(&e, NULL);
  g = curl("", url(&e, "/b/k"));
  cr_expect_eq(g.http, 200);
  got_free(&g);
  fproxy_faults(&e.fp, "{\"refuse\": {\"seconds\": 2}}");
  cr_expect_gt(refused_until_back(&e), 0, "refused while down");
  teardown(&e);
}

Test(faultproxy, refuse_mid_upload_resets_the_nth_request_and_refuses) {
  env_t e;
  got_t g;
  setup(&e, "{\"refuse\": {\"seconds\": 2, \"after_requests\": 2}}");
  g = curl("", url(&e, "/b/k"));
  cr_expect_eq(g.http, 200, "the first request passes");
  got_free(&g);
  g = curl("", url(&e, "/b/k"));
  cr_expect(g.rc == 52 || g.rc == 56, "the 2nd is cut, exit %d", g.rc);
  got_free(&g);
  cr_expect_gt(refused_until_back(&e), 0);
  cr_expect_eq(fproxy_count(&e.fp, "refuse"), 1);
  teardown(&e);
}

Test(faultproxy, a_server_gone_for_good_is_refused_until_up) {
  env_t e;
  got_t g;
  int i;
  setup(&e, NULL);
  fproxy_post(&e.fp, "/down");
  for (i = 0; i < 5; i++) {
    g = curl("", url(&e, "/b/k"));
    cr_expect_eq(g.rc, 7, "refused, exit %d", g.rc);
    got_free(&g);
    usleep(200 * 1000);
  }
  fproxy_post(&e.fp, "/up");
  refused_until_back(&e);
  teardown(&e);
}

Test(faultproxy, a_stall_reads_the_request_and_never_answers) {
  env_t e;
  got_t g;
  setup(&e, "{\"stall\": {\"method\": \"PUT\"}}");
  g = curl("--max-time 2 -T /dev/null", url(&e, "/b/k?partNumber=1"));
  cr_expect_eq(g.rc, 28, "curl timed out, exit %d", g.rc);
  got_free(&g);
  /* A low-speed limit sees it too (no byte in 1 s). */
  g = curl("--speed-limit 1 --speed-time 1 --max-time 30 -T /dev/null",
           url(&e, "/b/k?partNumber=2"));
  cr_expect_eq(g.rc, 28, "curl low-speed abort, exit %d", g.rc);
  got_free(&g);
  g = curl("--max-time 10", url(&e, "/b/k"));
  cr_expect_eq(g.http, 200, "a GET is not stalled");
  got_free(&g);
  cr_expect_eq(fproxy_count(&e.fp, "stall"), 2);
  teardown(&e);
}

Test(faultproxy, a_200_with_an_error_body_on_complete_multipart_upload) {
  env_t e;
  got_t g;
  setup(&e, "{\"complete_error\": {\"times\": 1}}");
  g = curl("-X POST --data-binary '<CompleteMultipartUpload/>'",
           url(&e, "/b/k?uploadId=abc"));
  cr_expect_eq(g.http, 200);
  cr_expect(strstr(g.body, "<Error><Code>InternalError</Code>"), "%s", g.body);
  got_free(&g);
  g = curl("-X POST", url(&e, "/b/k?uploads"));
  cr_expect(strstr(g.body, "\"method\": \"POST\""), "forwarded: %s", g.body);
  got_free(&g);
  g = curl("-X POST --data-binary x", url(&e, "/b/k?uploadId=abc"));
  cr_expect(strstr(g.body, "\"length\": 1"), "times: 1 — now forwarded: %s",
            g.body);
  got_free(&g);
  teardown(&e);
}

Test(faultproxy, the_control_port_reports_and_rejects_bad_faults) {
  env_t e;
  got_t g;
  char ctl[128];
  setup(&e, "{\"slowdown\": {\"every\": 1, \"times\": 1}}");
  g = curl("", url(&e, "/x"));
  cr_expect_eq(g.http, 503);
  got_free(&g);
  snprintf(ctl, sizeof(ctl), "http://127.0.0.1:%d/faults", e.fp.control);
  g = curl("", ctl);
  cr_expect(strstr(g.body, "\"slowdown\": 1"), "%s", g.body);
  cr_expect(strstr(g.body, "\"requests\": 1"), "%s", g.body);
  got_free(&g);
  g = curl("-X POST --data-binary '{not json'", ctl);
  cr_expect_eq(g.http, 400);
  got_free(&g);
  g = curl("-X POST --data-binary '{\"explode\": {}}'", ctl);
  cr_expect_eq(g.http, 400, "an unknown fault is refused");
  got_free(&g);
  teardown(&e);
}

/* aws-cli through the proxy to Swift: SlowDown on some part uploads and
 * resets on others; the upload completes byte-exact, the log shows the
 * retries, and no multipart upload is left. */
Test(faultproxy, aws_cli_rides_out_slowdown_and_resets_to_swift) {
  swift_t sw;
  fproxy_t fp;
  char* tmp = cli_tmpdir();
  char path[400], cmd[2048], env[512], up[65], down[65];
  char* b;
  size_t i, n = 24u << 20, got = 0;
  uint32_t x = 7;
  cli_result_t r;
  swift_start(&sw, NULL);
  fproxy_start(&fp, sw.port,
               "{\"slowdown\": {\"every\": 2, \"method\": \"PUT\", "
               "\"query\": \"partNumber\", \"times\": 1}, "
               "\"reset\": {\"every\": 3, \"method\": \"PUT\", "
               "\"query\": \"partNumber\", \"times\": 1}}");
  b = malloc(n);
  for (i = 0; i < n; i++) {
    x ^= x << 13, x ^= x >> 17, x ^= x << 5;
    b[i] = (char)x;
  }
  pipe__sigv4_sha256_hex(b, n, up);
  snprintf(path, sizeof(path), "%s/up", tmp);
  cr_assert_eq(cli_write_file(path, b, n), 0);
  free(b);

  swift_env(&sw, env, sizeof(env));
  snprintf(cmd, sizeof(cmd),
           "%s /usr/bin/aws --endpoint-url '%s' s3 cp --only-show-errors "
           "'%s/up' s3://%s/through-proxy",
           env, fp.url, tmp, sw.bucket);
  r = cli_exec(cmd, NULL);
  cr_expect_eq(r.status, 0, "aws through the proxy: %s", r.err);
  cli_result_free(&r);
  cr_expect_eq(fproxy_count(&fp, "slowdown"), 1, "%s", fproxy_log(&fp));
  cr_expect_eq(fproxy_count(&fp, "reset"), 1, "%s", fproxy_log(&fp));

  snprintf(cmd, sizeof(cmd),
           "s3 cp --only-show-errors s3://%s/through-proxy "
           "'%s/down'",
           sw.bucket, tmp);
  r = swift_aws(&sw, cmd, NULL);
  cr_expect_eq(r.status, 0, "%s", r.err);
  cli_result_free(&r);
  snprintf(path, sizeof(path), "%s/down", tmp);
  b = cli_read_file(path, &got);
  cr_assert(b);
  cr_expect_eq(got, n);
  pipe__sigv4_sha256_hex(b, got, down);
  free(b);
  cr_expect_str_eq(down, up);

  snprintf(cmd, sizeof(cmd),
           "s3api list-multipart-uploads --bucket %s --query "
           "'length(Uploads || `[]`)'",
           sw.bucket);
  r = swift_aws(&sw, cmd, NULL);
  cr_expect_eq(atoi(r.out), 0, "uploads left: %s", r.out);
  cli_result_free(&r);

  fproxy_stop(&fp);
  swift_stop(&sw);
  cli_rmtree(tmp);
  free(tmp);
}
