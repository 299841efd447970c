/* POST /v1/uploads (multipart/form-data) against the real `pipe serve`
 * with real curl -F: files stream into the store, fields are collected,
 * broken bodies and limits store nothing. */
#include <criterion/criterion.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "support/serve_helpers.h"

static serve_t* srv;

static void start(void) {
  srv = serve_start("--max-file-size 3M --max-field-size 100 --max-files 5");
}
static void stop(void) { cr_assert_eq(serve_stop(srv, 0), 0); }

TestSuite(serve_uploads, .init = start, .fini = stop, .timeout = 60);

/* The key of the n-th file in a receipt (malloc'd). */
static char* key_of(const char* receipt, int n) {
  const char* p = receipt;
  const char* end;
  int i;
  for (i = 0; i <= n; i++) {
    p = strstr(p, "\"key\":\"");
    cr_assert(p != NULL, "no key %d in %s", n, receipt);
    p += 7;
  }
  end = strchr(p, '"');
  return strndup(p, (size_t)(end - p));
}

static char* stored_sha(const char* key) {
  char path[1200];
  snprintf(path, sizeof(path), "%s/%s", srv->store, key);
  return serve_sha256(path);
}

Test(serve_uploads, one_file_and_fields_give_the_documented_receipt) {
  char in[600];
  char *sha, *key, *got;
  cli_result_t r;
  snprintf(in, sizeof(in), "%s/report.csv", srv->dir);
  serve_make_file(in, 2000000, 7);
  sha = serve_sha256(in);
  r = serve_sh(srv, "curl -sS -F \"doc=@$D/report.csv\" -F title=hello -F 'note=a \"q\"' \"$U/v1/uploads\" -w '\\n%%{http_code}\\n'");
  cr_assert(strstr(r.out, "\n201\n") != NULL, "%s %s", r.out, r.err);
  cr_assert(strncmp(r.out, "{\"files\":[{\"field\":\"doc\",\"filename\":\"report.csv\",\"key\":\"", 56) == 0, "%s", r.out);
  cr_assert(strstr(r.out, "\"bytes_in\":2000000,\"bytes_out\":2000000") != NULL, "%s", r.out);
  cr_assert(strstr(r.out, "\"fields\":{\"title\":\"hello\",\"note\":\"a \\\"q\\\"\"}") != NULL, "%s", r.out);
  key = key_of(r.out, 0);
  cr_assert(strlen(key) == 36 + 1 + 10 && strcmp(key + 37, "report.csv") == 0, "%s", key);
  got = stored_sha(key);
  cr_assert_str_eq(got, sha);
  cr_assert(strstr(r.out, sha) != NULL);
  free(got);
  free(key);
  free(sha);
  cli_result_free(&r);
}

Test(serve_uploads, many_files_each_stored_with_their_own_sha256) {
  char path[600];
  char* sha[3];
  cli_result_t r;
  int i;
  for (i = 0; i < 3; i++) {
    snprintf(path, sizeof(path), "%s/f%d.bin", srv->dir, i);
    serve_make_file(path, 300000 + (size_t)i * 777777, 10 + (unsigned)i);
    sha[i] = serve_sha256(path);
  }
  r = serve_sh(srv, "curl -sS -F \"a=@$D/f0.bin\" -F \"b=@$D/f1.bin\" -F \"a=@$D/f2.bin\" \"$U/v1/uploads\"");
  for (i = 0; i < 3; i++) {
    char* key = key_of(r.out, i);
    char* got = stored_sha(key);
    cr_assert_str_eq(got, sha[i], "file %d (%s): %s", i, key, r.out);
    free(got);
    free(key);
    free(sha[i]);
  }
  cli_result_free(&r);
}

Test(serve_uploads, a_pipeline_is_applied_to_every_file) {
  cli_result_t r = serve_sh(srv,
      "printf 'x,y\\n1,2\\n' > \"$D/a.csv\"; printf 'x,y\\n3,4\\n' > \"$D/b.csv\"; "
      "curl -sS -F \"f=@$D/a.csv\" -F \"f=@$D/b.csv\" \"$U/v1/uploads?pipeline=csv2json+--infer+%%7C+gzip\" > \"$D/r\"; "
      "for k in $(grep -o '\"key\":\"[^\"]*\"' \"$D/r\" | cut -d'\"' -f4); do gunzip -c \"$S/$k\"; done");
  cr_assert_str_eq(r.out, "{\"x\":1,\"y\":2}\n{\"x\":3,\"y\":4}\n", "%s %s", r.out, r.err);
  cli_result_free(&r);
}

Test(serve_uploads, file_names_are_sanitized_into_the_key) {
  cli_result_t r = serve_sh(srv,
      "printf data > \"$D/x\"; curl -sS -F \"f=@$D/x;filename=../../etc/pa:ss?wd\" \"$U/v1/uploads\"");
  char* key = key_of(r.out, 0);
  cr_assert_str_eq(key + 37, "pa_ss_wd", "%s", r.out);
  cr_assert(strstr(r.out, "\"filename\":\"../../etc/pa:ss?wd\"") != NULL, "%s", r.out);
  free(key);
  cli_result_free(&r);
}

static void post_raw_expect(const char* body, int want_status, const char* want_code) {
  char req[8192];
  int n = snprintf(req, sizeof(req),
                   "POST /v1/uploads HTTP/1.1\r\nHost: x\r\nContent-Type: "
                   "multipart/form-data; boundary=BB\r\nContent-Length: %zu\r\n\r\n%s",
                   strlen(body), body);
  char* resp = serve_raw(srv, req, (size_t)n, 3000);
  cr_assert_eq(serve_status(resp), want_status, "%s", resp);
  cr_assert(strstr(resp, want_code) != NULL, "want %s: %s", want_code, resp);
  free(resp);
  {
    cli_result_t r = serve_sh(srv, "ls -A \"$S\" | wc -l");
    cr_assert_str_eq(r.out, "0\n", "store not empty after a broken body");
    cli_result_free(&r);
  }
}

Test(serve_uploads, a_body_truncated_inside_a_file_part_is_400_and_nothing_stored) {
  /* A first complete file, then the body ends inside the second file: the
   * first is removed again and the request ends (no hang). */
  post_raw_expect(
      "--BB\r\nContent-Disposition: form-data; name=\"a\"; filename=\"a\"\r\n\r\n"
      "first file\r\n"
      "--BB\r\nContent-Disposition: form-data; name=\"b\"; filename=\"b\"\r\n\r\n"
      "second file, cut",
      400, "EMPTRUNC");
}

Test(serve_uploads, a_body_without_the_closing_delimiter_is_400) {
  post_raw_expect(
      "--BB\r\nContent-Disposition: form-data; name=\"a\"; filename=\"a\"\r\n\r\n"
      "content\r\n--BB\r\n",
      400, "EMPTRUNC");
}

Test(serve_uploads, a_part_without_name_is_400) {
  post_raw_expect(
      "--BB\r\nContent-Disposition: form-data; filename=\"a\"\r\n\r\nx\r\n--BB--\r\n",
      400, "EMPNONAME");
}

Test(serve_uploads, a_part_without_disposition_is_400) {
  post_raw_expect("--BB\r\nContent-Type: text/plain\r\n\r\nx\r\n--BB--\r\n", 400,
                  "EMPNODISP");
}

Test(serve_uploads, a_body_truncated_by_the_client_closing_ends_the_request_cleanly) {
  /* Content-Length promises more than is sent, then the client goes away:
   * the pipeline is torn down, the partial object removed, the server lives. */
  const char req[] =
      "POST /v1/uploads HTTP/1.1\r\nHost: x\r\nContent-Type: multipart/form-data; "
      "boundary=BB\r\nContent-Length: 100000\r\n\r\n"
      "--BB\r\nContent-Disposition: form-data; name=\"a\"; filename=\"a\"\r\n\r\n"
      "partial";
  char* resp = serve_raw(srv, req, sizeof(req) - 1, 300);
  char* log;
  cli_result_t r;
  free(resp);
  r = serve_sh(srv, "sleep 0.3; curl -sS \"$U/healthz\"; ls -A \"$S\" | wc -l");
  cr_assert_str_eq(r.out, "{\"status\":\"ok\"}\n0\n", "%s", r.out);
  cli_result_free(&r);
  log = serve_log(srv);
  cr_assert(strstr(log, "client gone mid-upload") != NULL, "%s", log);
  free(log);
}

Test(serve_uploads, not_multipart_is_415) {
  cli_result_t r = serve_sh(srv,
      "curl -sS -o /dev/null -w '%%{http_code}' -H 'Content-Type: text/plain' --data-binary x \"$U/v1/uploads\"");
  cr_assert_str_eq(r.out, "415");
  cli_result_free(&r);
}

Test(serve_uploads, a_missing_boundary_is_400) {
  cli_result_t r = serve_sh(srv,
      "curl -sS -w ' %%{http_code}' -H 'Content-Type: multipart/form-data' --data-binary x \"$U/v1/uploads\"");
  cr_assert(strstr(r.out, "bad_boundary") != NULL && strstr(r.out, " 400") != NULL, "%s", r.out);
  cli_result_free(&r);
}

Test(serve_uploads, a_file_over_max_file_size_is_413_and_nothing_stored) {
  cli_result_t r = serve_sh(srv,
      "printf small > \"$D/s\"; head -c 4000000 /dev/zero > \"$D/big\"; "
      "curl -sS -F \"a=@$D/s\" -F \"b=@$D/big\" \"$U/v1/uploads\" -w ' %%{http_code}'; echo; ls -A \"$S\" | wc -l");
  cr_assert(strstr(r.out, "EMPFILESIZE") != NULL, "%s", r.out);
  cr_assert(strstr(r.out, " 413\n0\n") != NULL, "%s", r.out);
  cli_result_free(&r);
}

Test(serve_uploads, a_field_over_max_field_size_is_413) {
  cli_result_t r = serve_sh(srv,
      "curl -sS -F \"t=$(head -c 200 /dev/zero | tr '\\0' a)\" \"$U/v1/uploads\" -w ' %%{http_code}'");
  cr_assert(strstr(r.out, "EMPFIELDSIZE") != NULL && strstr(r.out, " 413") != NULL, "%s", r.out);
  cli_result_free(&r);
}

Test(serve_uploads, too_many_files_is_413) {
  cli_result_t r = serve_sh(srv,
      "printf x > \"$D/x\"; curl -sS -F \"a=@$D/x\" -F \"a=@$D/x\" -F \"a=@$D/x\" -F \"a=@$D/x\" -F \"a=@$D/x\" -F \"a=@$D/x\" \"$U/v1/uploads\" -w ' %%{http_code}'; echo; ls -A \"$S\" | wc -l");
  cr_assert(strstr(r.out, "EMPFILES") != NULL && strstr(r.out, " 413\n0\n") != NULL, "%s", r.out);
  cli_result_free(&r);
}

Test(serve_uploads, chunked_multipart_upload_works) {
  cli_result_t r = serve_sh(srv,
      "printf 'hello chunks' > \"$D/c\"; curl -sS -H 'Transfer-Encoding: chunked' -F \"c=@$D/c\" \"$U/v1/uploads\" > \"$D/r\"; "
      "cat \"$S/$(grep -o '\"key\":\"[^\"]*\"' \"$D/r\" | cut -d'\"' -f4)\"");
  cr_assert_str_eq(r.out, "hello chunks", "%s %s", r.out, r.err);
  cli_result_free(&r);
}

Test(serve_uploads, curl_f_with_and_without_expect_continue_stores_the_same_bytes) {
  char in[600];
  char *sha, *k1, *k2, *g1, *g2;
  cli_result_t a, b;
  snprintf(in, sizeof(in), "%s/in.bin", srv->dir);
  serve_make_file(in, 2500000, 9);
  sha = serve_sha256(in);
  a = serve_sh(srv, "curl -sS -v -F \"f=@$D/in.bin\" \"$U/v1/uploads\" 2>\"$D/va\"; echo; grep -c '100 Continue' \"$D/va\"");
  b = serve_sh(srv, "curl -sS -v -H 'Expect:' -F \"f=@$D/in.bin\" \"$U/v1/uploads\" 2>\"$D/vb\"; echo; grep -c '100 Continue' \"$D/vb\"");
  cr_assert(strstr(a.out, "\n1\n") != NULL, "curl -F of 2.5 MB asks for 100-continue: %s", a.out);
  cr_assert(strstr(b.out, "\n0\n") != NULL, "%s", b.out);
  k1 = key_of(a.out, 0);
  k2 = key_of(b.out, 0);
  g1 = stored_sha(k1);
  g2 = stored_sha(k2);
  cr_assert_str_eq(g1, sha);
  cr_assert_str_eq(g2, sha);
  free(k1); free(k2); free(g1); free(g2); free(sha);
  cli_result_free(&a);
  cli_result_free(&b);
}

Test(serve_uploads, a_post_without_length_is_411) {
  char* resp = serve_raw(srv,
      "POST /v1/uploads HTTP/1.1\r\nHost: x\r\nContent-Type: multipart/form-data; boundary=BB\r\n\r\n",
      86, 2000);
  cr_assert_eq(serve_status(resp), 411, "%s", resp);
  free(resp);
}

Test(serve_uploads, a_file_input_left_empty_by_a_browser_is_not_a_file) {
  /* filename="" with no content: what a form sends for "no file chosen". */
  const char body[] =
      "--BB\r\nContent-Disposition: form-data; name=\"f\"; filename=\"\"\r\n"
      "Content-Type: application/octet-stream\r\n\r\n\r\n"
      "--BB\r\nContent-Disposition: form-data; name=\"t\"\r\n\r\nv\r\n--BB--\r\n";
  char req[1024];
  int n = snprintf(req, sizeof(req),
                   "POST /v1/uploads HTTP/1.1\r\nHost: x\r\nContent-Type: "
                   "multipart/form-data; boundary=BB\r\nContent-Length: %zu\r\n\r\n%s",
                   sizeof(body) - 1, body);
  char* resp = serve_raw(srv, req, (size_t)n, 3000);
  cli_result_t r;
  cr_assert_eq(serve_status(resp), 201, "%s", resp);
  cr_assert(strstr(resp, "{\"files\":[],\"fields\":{\"t\":\"v\"}}") != NULL, "%s", resp);
  free(resp);
  r = serve_sh(srv, "ls -A \"$S\" | wc -l");
  cr_assert_str_eq(r.out, "0\n");
  cli_result_free(&r);
}
