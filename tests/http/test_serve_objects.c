/* PUT / GET / HEAD /v1/objects/{key} against the real `pipe serve`, with
 * real curl: bytes stored equal bytes sent (SHA-256), receipts, ranges,
 * key sanitizing, and the errors of the route. */
#include <criterion/criterion.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "support/serve_helpers.h"

static serve_t* srv;

static void start(void) { srv = serve_start(""); }
static void stop(void) {
  cr_assert_eq(serve_stop(srv, 0), 0, "pipe serve did not exit 0");
}

TestSuite(serve_objects, .init = start, .fini = stop, .timeout = 60);

static char* file_sha(const char* rel) {
  char p[1024];
  snprintf(p, sizeof(p), "%s/%s", srv->store, rel);
  return serve_sha256(p);
}

Test(serve_objects, put_content_length_stores_the_bytes_and_returns_a_receipt) {
  char in[600];
  char *sha, *got;
  cli_result_t r;
  snprintf(in, sizeof(in), "%s/in.bin", srv->dir);
  serve_make_file(in, 3000000, 1);
  sha = serve_sha256(in);
  r = serve_sh(srv, "curl -sS -T \"$D/in.bin\" \"$U/v1/objects/dir/in.bin\" -w '\\n%%{http_code}'");
  cr_assert_eq(r.status, 0, "%s", r.err);
  cr_assert(strstr(r.out, "\n201") != NULL, "%s", r.out);
  cr_assert(strstr(r.out, "\"key\":\"dir/in.bin\"") != NULL, "%s", r.out);
  cr_assert(strstr(r.out, "\"bytes_in\":3000000,\"bytes_out\":3000000") != NULL, "%s", r.out);
  cr_assert(strstr(r.out, sha) != NULL, "receipt %s lacks %s", r.out, sha);
  got = file_sha("dir/in.bin");
  cr_assert_str_eq(got, sha);
  free(got);
  free(sha);
  cli_result_free(&r);
}

Test(serve_objects, put_chunked_from_a_pipe_stores_the_same_bytes) {
  char in[600];
  char *sha, *got;
  cli_result_t r;
  snprintf(in, sizeof(in), "%s/in.bin", srv->dir);
  serve_make_file(in, 2500000, 2);
  sha = serve_sha256(in);
  r = serve_sh(srv, "cat \"$D/in.bin\" | curl -sS -T - \"$U/v1/objects/c.bin\" -w '\\n%%{http_code}'");
  cr_assert(strstr(r.out, "\n201") != NULL, "%s %s", r.out, r.err);
  got = file_sha("c.bin");
  cr_assert_str_eq(got, sha);
  cr_assert(strstr(r.out, sha) != NULL, "%s", r.out);
  free(got);
  free(sha);
  cli_result_free(&r);
}

Test(serve_objects, put_without_expect_continue_works_too) {
  char in[600];
  char *sha, *got;
  cli_result_t r;
  snprintf(in, sizeof(in), "%s/in.bin", srv->dir);
  serve_make_file(in, 2000000, 3);
  sha = serve_sha256(in);
  r = serve_sh(srv, "curl -sS -H 'Expect:' -T \"$D/in.bin\" \"$U/v1/objects/e\" -w '\\n%%{http_code}\\n' -v 2>\"$D/v\"; grep -c '100 Continue' \"$D/v\"");
  cr_assert(strstr(r.out, "\n201") != NULL, "%s", r.out);
  cr_assert(strstr(r.out, "\n0\n") != NULL, "no 100 Continue expected: %s", r.out);
  got = file_sha("e");
  cr_assert_str_eq(got, sha);
  free(got);
  free(sha);
  cli_result_free(&r);
}

Test(serve_objects, put_with_expect_continue_gets_100_then_201) {
  cli_result_t r;
  r = serve_sh(srv, "head -c 5000 /dev/zero > \"$D/z\"; curl -sS -H 'Expect: 100-continue' -T \"$D/z\" \"$U/v1/objects/z\" -v -o /dev/null 2>&1 | grep -E '^< HTTP/1.1 (100|201)'");
  cr_assert(strstr(r.out, "100 Continue") != NULL, "%s", r.out);
  cr_assert(strstr(r.out, "201 Created") != NULL, "%s", r.out);
  cli_result_free(&r);
}

Test(serve_objects, put_replaces_an_existing_object) {
  cli_result_t r = serve_sh(srv,
      "printf one | curl -sS -T - \"$U/v1/objects/k\" >/dev/null; "
      "printf twotwo | curl -sS -T - \"$U/v1/objects/k\" >/dev/null; "
      "cat \"$S/k\"; echo; ls -A \"$S\"");
  cr_assert_str_eq(r.out, "twotwo\nk\n");
  cli_result_free(&r);
}

Test(serve_objects, get_streams_the_object_back_with_length_and_etag) {
  cli_result_t put, get;
  char *e, *nl, want[200];
  put = serve_sh(srv,
      "head -c 1000000 /dev/urandom > \"$D/x\"; curl -sS -T \"$D/x\" \"$U/v1/objects/x\"");
  get = serve_sh(srv,
      "curl -sS -D \"$D/h\" \"$U/v1/objects/x\" -o \"$D/y\"; cmp \"$D/x\" \"$D/y\" && echo same; "
      "tr -d '\\r' < \"$D/h\"");
  cr_assert(strncmp(get.out, "same\n", 5) == 0, "%s", get.out);
  cr_assert(strstr(get.out, "Content-Length: 1000000\n") != NULL, "%s", get.out);
  e = strstr(get.out, "ETag: ");
  cr_assert(e != NULL, "%s", get.out);
  e += 6;
  nl = strchr(e, '\n');
  cr_assert(nl != NULL && nl - e > 2 && e[0] == '"');
  /* The receipt's etag is the same value, JSON-escaped. */
  snprintf(want, sizeof(want), "\"etag\":\"\\\"%.*s\\\"\"", (int)(nl - e - 2), e + 1);
  cr_assert(strstr(put.out, want) != NULL, "receipt %s lacks %s", put.out, want);
  cli_result_free(&put);
  cli_result_free(&get);
}

Test(serve_objects, head_gives_headers_and_no_body) {
  cli_result_t r = serve_sh(srv,
      "printf hello | curl -sS -T - \"$U/v1/objects/h\" >/dev/null; "
      "curl -sS -I \"$U/v1/objects/h\" | tr -d '\\r' | grep -iE '^(HTTP|content-length)'");
  cr_assert(strstr(r.out, "HTTP/1.1 200") != NULL, "%s", r.out);
  cr_assert(strstr(r.out, "Content-Length: 5") != NULL, "%s", r.out);
  cli_result_free(&r);
}

Test(serve_objects, range_requests_give_206_and_unsatisfiable_ones_416) {
  cli_result_t r = serve_sh(srv,
      "printf 0123456789 | curl -sS -T - \"$U/v1/objects/r\" >/dev/null; "
      "curl -sS -r 2-4 \"$U/v1/objects/r\" -w ' %%{http_code}\\n'; "
      "curl -sS -r 7- \"$U/v1/objects/r\" -w ' %%{http_code}\\n'; "
      "curl -sS -r -3 \"$U/v1/objects/r\" -w ' %%{http_code}\\n'; "
      "curl -sS -r 20-30 \"$U/v1/objects/r\" -o /dev/null -w '%%{http_code}\\n'; "
      "curl -sS -r 5-3 \"$U/v1/objects/r\" -w ' %%{http_code}\\n'");
  cr_assert_str_eq(r.out, "234 206\n789 206\n789 206\n416\n0123456789 200\n", "%s", r.out);
  cli_result_free(&r);
}

Test(serve_objects, get_of_a_missing_key_is_404_json_with_request_id) {
  cli_result_t r = serve_sh(srv, "curl -sS -D - \"$U/v1/objects/nope\" | tr -d '\\r'");
  cr_assert(strstr(r.out, "HTTP/1.1 404") != NULL, "%s", r.out);
  cr_assert(strstr(r.out, "\"code\":\"no_such_key\"") != NULL, "%s", r.out);
  cr_assert(strstr(r.out, "X-Request-Id: ") != NULL, "%s", r.out);
  cr_assert(strstr(r.out, "\"request_id\":\"") != NULL, "%s", r.out);
  cli_result_free(&r);
}

/* Keys are refused with 400 before anything is written. */
Test(serve_objects, bad_keys_are_refused_with_400_and_nothing_is_written) {
  const char* bad[] = {"a/../b", "..", "%2Fetc%2Fpasswd", "a%5Cb", "a%00b",
                       "a%01b", "a//b", "a/", ".hidden", "a/%2E%2E/b", "a%7Fb"};
  size_t i;
  for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
    cli_result_t r = serve_sh(srv,
        "printf x | curl -sS --path-as-is -T - \"$U/v1/objects/%s\" -o \"$D/o\" -w '%%{http_code}'; grep -o bad_key \"$D/o\"",
        bad[i]);
    cr_assert_str_eq(r.out, "400bad_key\n", "key %s: %s", bad[i], r.out);
    cli_result_free(&r);
  }
  {
    char* log;
    cli_result_t r = serve_sh(srv, "ls -A \"$S\" | wc -l");
    cr_assert_str_eq(r.out, "0\n", "store not empty: %s", r.out);
    cli_result_free(&r);
    log = serve_log(srv);
    cr_assert(strstr(log, "\"status\":400") != NULL);
    free(log);
  }
}

Test(serve_objects, put_with_a_pipeline_applies_it) {
  cli_result_t r = serve_sh(srv,
      "printf 'a,b\\n1,x\\n2,y\\n' > \"$D/in.csv\"; "
      "curl -sS -T \"$D/in.csv\" \"$U/v1/objects/out.json.gz?pipeline=csv2json%%20--infer%%20%%7C%%20gzip\" -o \"$D/rc\"; "
      "gunzip -c \"$S/out.json.gz\"; grep -o '\"bytes_in\":12' \"$D/rc\"");
  cr_assert_str_eq(r.out, "{\"a\":1,\"b\":\"x\"}\n{\"a\":2,\"b\":\"y\"}\n\"bytes_in\":12\n", "%s %s", r.out, r.err);
  cli_result_free(&r);
}

Test(serve_objects, a_bad_pipeline_spec_is_400_naming_the_problem) {
  cli_result_t r = serve_sh(srv,
      "printf x | curl -sS -T - \"$U/v1/objects/p?pipeline=gzipp\" -w ' %%{http_code}'; "
      "printf x | curl -sS -T - \"$U/v1/objects/p?pipeline=in.csv%%20%%7C%%20gzip\" -w ' %%{http_code}'; ls -A \"$S\" | wc -l");
  cr_assert(strstr(r.out, "did you mean 'gzip'") != NULL, "%s", r.out);
  cr_assert(strstr(r.out, "unknown stage 'in.csv'") != NULL, "%s", r.out);
  cr_assert(strstr(r.out, " 400") != NULL, "%s", r.out);
  cr_assert(strstr(r.out, "\n0\n") != NULL || r.out[strlen(r.out) - 2] == '0', "%s", r.out);
  cli_result_free(&r);
}

Test(serve_objects, data_the_pipeline_rejects_is_422_and_nothing_is_stored) {
  cli_result_t r = serve_sh(srv,
      "printf 'not gzip at all' | curl -sS -T - \"$U/v1/objects/g?pipeline=gunzip\" -w ' %%{http_code}'; echo; ls -A \"$S\" | wc -l");
  cr_assert(strstr(r.out, " 422\n0\n") != NULL, "%s", r.out);
  cli_result_free(&r);
}

Test(serve_objects, put_without_length_is_411) {
  char* resp = serve_raw(srv,
      "PUT /v1/objects/a HTTP/1.1\r\nHost: x\r\n\r\n", 39, 2000);
  cr_assert_eq(serve_status(resp), 411, "%s", resp);
  free(resp);
}

Test(serve_objects, unknown_route_is_404_and_wrong_method_405) {
  cli_result_t r = serve_sh(srv,
      "curl -sS -o /dev/null -w '%%{http_code} ' \"$U/nothing\"; "
      "curl -sS -o /dev/null -w '%%{http_code} ' -X DELETE \"$U/v1/objects/a\"; "
      "curl -sS -o /dev/null -w '%%{http_code} ' -X POST \"$U/healthz\"; "
      "curl -sS -D - -o /dev/null -X GET \"$U/v1/uploads\" | tr -d '\\r' | grep -i '^allow'");
  cr_assert_str_eq(r.out, "404 405 405 Allow: POST\n", "%s", r.out);
  cli_result_free(&r);
}

Test(serve_objects, keep_alive_serves_several_requests_on_one_connection) {
  cli_result_t r = serve_sh(srv,
      "printf abc | curl -sS -T - \"$U/v1/objects/k1\" >/dev/null; "
      "curl -sS -v \"$U/v1/objects/k1\" \"$U/v1/objects/k1\" \"$U/healthz\" 2>\"$D/v\"; echo; "
      "grep -c 'Re-using existing connection\\|Reusing existing' \"$D/v\"");
  cr_assert(strncmp(r.out, "abcabc{\"status\":\"ok\"}", 21) == 0, "%s", r.out);
  cr_assert(strstr(r.out, "\n2\n") != NULL, "%s", r.out);
  cli_result_free(&r);
}

Test(serve_objects, pipelined_requests_are_answered_in_order) {
  const char req[] =
      "PUT /v1/objects/p1 HTTP/1.1\r\nHost: x\r\nContent-Length: 3\r\n\r\nabc"
      "GET /v1/objects/p1 HTTP/1.1\r\nHost: x\r\n\r\n"
      "GET /healthz HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n";
  char* resp = serve_raw(srv, req, sizeof(req) - 1, 3000);
  char* a = strstr(resp, "HTTP/1.1 201");
  char* b = a ? strstr(a, "HTTP/1.1 200") : NULL;
  char* c = b ? strstr(b + 1, "HTTP/1.1 200") : NULL;
  cr_assert(a && b && c, "%s", resp);
  cr_assert(strstr(b, "\r\n\r\nabc") != NULL, "%s", resp);
  free(resp);
}

Test(serve_objects, a_client_gone_mid_put_leaves_nothing_and_is_logged) {
  const char req[] = "PUT /v1/objects/gone HTTP/1.1\r\nHost: x\r\nContent-Length: 10000000\r\n\r\npartial body";
  char* resp = serve_raw(srv, req, sizeof(req) - 1, 200);
  cli_result_t r;
  char* log;
  free(resp); /* serve_raw closed the connection mid-body */
  r = serve_sh(srv, "sleep 0.3; ls -A \"$S\" | wc -l; curl -sS \"$U/healthz\"");
  cr_assert_str_eq(r.out, "0\n{\"status\":\"ok\"}\n", "%s", r.out);
  cli_result_free(&r);
  log = serve_log(srv);
  cr_assert(strstr(log, "client gone mid-upload") != NULL, "%s", log);
  cr_assert(strstr(log, "\"status\":499") != NULL, "%s", log);
  free(log);
}

Test(serve_objects, a_key_colliding_with_a_directory_or_an_object_is_409) {
  cli_result_t r = serve_sh(srv,
      "printf x | curl -sS -o /dev/null -T - \"$U/v1/objects/d/inner\"; "
      "printf y | curl -sS -w ' %%{http_code}\\n' -T - \"$U/v1/objects/d\"; "
      "printf z | curl -sS -w ' %%{http_code}\\n' -T - \"$U/v1/objects/d/inner/deeper\"; cat \"$S/d/inner\"");
  cr_assert(strstr(r.out, "key_conflict") != NULL, "%s", r.out);
  cr_assert(strstr(r.out, " 409\n") != NULL, "%s", r.out);
  cr_assert(strstr(r.out, "}\n 409\nx") != NULL, "%s", r.out);
  cr_assert(strstr(r.out, "/tmp/") == NULL, "a store path leaks to the client: %s", r.out);
  cli_result_free(&r);
}

Test(serve_objects, readyz_is_200_while_the_store_is_writable) {
  cli_result_t r = serve_sh(srv, "curl -sS -w ' %%{http_code}' \"$U/readyz\"");
  cr_assert_str_eq(r.out, "{\"status\":\"ready\"}\n 200");
  cli_result_free(&r);
}

Test(serve_objects, if_none_match_with_the_etag_gives_304_without_a_body) {
  cli_result_t r = serve_sh(srv,
      "printf hello | curl -sS -T - \"$U/v1/objects/n\" >/dev/null; "
      "e=$(curl -sS -I \"$U/v1/objects/n\" | tr -d '\\r' | grep -i '^etag:' | cut -d' ' -f2); "
      "curl -sS -H \"If-None-Match: $e\" -w '%%{http_code} %%{size_download}\\n' \"$U/v1/objects/n\"; "
      "curl -sS -H 'If-None-Match: \"other\"' -w ' %%{http_code}\\n' \"$U/v1/objects/n\"");
  cr_assert_str_eq(r.out, "304 0\nhello 200\n", "%s", r.out);
  cli_result_free(&r);
}

Test(serve_objects, a_sane_client_request_id_is_kept_and_a_bad_one_replaced) {
  cli_result_t r = serve_sh(srv,
      "curl -sS -D - -o /dev/null -H 'X-Request-Id: abc-123.X_y' \"$U/nope\" | tr -d '\\r' | grep -i '^x-request-id'; "
      "curl -sS -D - -o /dev/null -H 'X-Request-Id: bad id!' \"$U/nope\" | tr -d '\\r' | grep -i '^x-request-id' | grep -c 'bad'");
  cr_assert_str_eq(r.out, "X-Request-Id: abc-123.X_y\n0\n", "%s", r.out);
  cli_result_free(&r);
}
