/* The upload page at / in a real browser: headless Chromium (Debian's
 * chromium, as tests/integration/test_browser_gzip.c drives it) loads the
 * page from `pipe serve`, which picks a generated file through its file
 * input (#selftest, see src/http/page.c) and uploads it with the form's
 * own code; the stored bytes are checked. */
#include <criterion/criterion.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "support/serve_helpers.h"

#define CHROMIUM "/usr/bin/chromium"

TestSuite(serve_page, .timeout = 240);

/* Runs chromium on URL#frag and returns the dumped DOM (malloc'd). */
static char* browse(const serve_t* s, const char* frag) {
  char cmd[2048], path[700];
  int rc;
  char* dom;
  snprintf(cmd, sizeof(cmd),
           "timeout 120 " CHROMIUM
           " --headless --no-sandbox --disable-gpu --disable-dev-shm-usage"
           " --no-first-run --no-default-browser-check"
           " --user-data-dir='%s/profile' --virtual-time-budget=30000"
           " --dump-dom '%s/#%s' > '%s/dom.html' 2> '%s/chromium.err'",
           s->dir, s->url, frag, s->dir, s->dir);
  rc = system(cmd);
  snprintf(path, sizeof(path), "%s/dom.html", s->dir);
  dom = cli_read_file(path, NULL);
  cr_assert_not_null(dom, "no DOM (chromium exit status %d)", rc);
  return dom;
}

static char* receipt_key(const char* dom) {
  const char* p = strstr(dom, "\"key\":\"");
  const char* e;
  cr_assert_not_null(p, "no receipt in the page: %s", dom);
  p += 7;
  e = strchr(p, '"');
  return strndup(p, (size_t)(e - p));
}

static void write_pattern(const char* path, size_t n) {
  FILE* f = fopen(path, "wb");
  size_t i;
  cr_assert_not_null(f);
  for (i = 0; i < n; i++) fputc((int)((i * 31 + 7) & 255), f);
  fclose(f);
}

Test(serve_page, the_page_is_one_html_file_without_external_assets) {
  serve_t* s = serve_start("");
  cli_result_t r = serve_sh(s, "curl -sS -D \"$D/h\" \"$U/\" > \"$D/p\"; tr -d '\\r' < \"$D/h\" | grep -i '^content-type'; "
                               "grep -cE '(src|href)=\"(https?:)?//' \"$D/p\"; grep -c '<form' \"$D/p\"");
  cr_assert_str_eq(r.out, "Content-Type: text/html; charset=utf-8\n0\n1\n", "%s", r.out);
  cli_result_free(&r);
  cr_assert_eq(serve_stop(s, 0), 0);
}

Test(serve_page, chromium_uploads_a_file_through_the_page_and_the_bytes_are_stored) {
  serve_t* s;
  char *dom, *key, *want, *got, path[1200];
  size_t n = 300001;
  if (access(CHROMIUM, X_OK) != 0) cr_skip_test(CHROMIUM " not installed");
  s = serve_start("");
  dom = browse(s, "selftest=300001");
  cr_assert(strstr(dom, "201") != NULL, "%s", dom);
  cr_assert(strstr(dom, "\"filename\":\"selftest.bin\"") != NULL, "%s", dom);
  key = receipt_key(dom);
  snprintf(path, sizeof(path), "%s/expected", s->dir);
  write_pattern(path, n);
  want = serve_sha256(path);
  snprintf(path, sizeof(path), "%s/%s", s->store, key);
  got = serve_sha256(path);
  cr_assert_not_null(got, "nothing stored at %s", key);
  cr_assert_str_eq(got, want);
  cr_assert(strstr(dom, want) != NULL, "the receipt shows the SHA-256");
  free(dom);
  free(key);
  free(want);
  free(got);
  cr_assert_eq(serve_stop(s, 0), 0);
}

Test(serve_page, the_pipeline_chosen_on_the_page_is_applied) {
  serve_t* s;
  char *dom, *key, *want;
  cli_result_t r;
  char path[700];
  if (access(CHROMIUM, X_OK) != 0) cr_skip_test(CHROMIUM " not installed");
  s = serve_start("");
  dom = browse(s, "selftest=100000&pipeline=gzip%20-1");
  key = receipt_key(dom);
  snprintf(path, sizeof(path), "%s/expected", s->dir);
  write_pattern(path, 100000);
  want = serve_sha256(path);
  r = serve_sh(s, "gunzip -c \"$S/%s\" | sha256sum | cut -c1-64", key);
  cr_assert(strncmp(r.out, want, 64) == 0, "stored %s, want gzip of %s", r.out, want);
  cli_result_free(&r);
  free(dom);
  free(key);
  free(want);
  cr_assert_eq(serve_stop(s, 0), 0);
}
