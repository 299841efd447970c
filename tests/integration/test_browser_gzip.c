/* A real browser reads our gzip whole: headless Chromium (Debian's
 * chromium) fetches a .gz made by the gzip stage from a local test server
 * (tests/integration/browser/server.py, on 127.0.0.1, a free port) both as
 * an HTTP body with Content-Encoding: gzip and through
 * DecompressionStream('gzip'), and the page (browser/page.html) reports the
 * length and SHA-256 (crypto.subtle) of every byte it decoded. Before issue
 * 12 our output was one member per MiB and Chromium kept only the first
 * member (1,048,576 bytes, no error) with Content-Encoding, and failed the
 * DecompressionStream read: the control test below shows that this check
 * sees exactly that on a two-member file.
 *
 * Chromium runs as `chromium --headless --no-sandbox --dump-dom
 * --virtual-time-budget=...`: no display, works as root in a chroot; the
 * virtual time budget keeps it alive until the page's fetches are done. The
 * report is read from what the page POSTs to the server, not from the
 * dumped DOM. */
#include <criterion/criterion.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "support/gz_helpers.h"

#define CHROMIUM "/usr/bin/chromium"
#define PYTHON "/usr/bin/python3"
#define BROWSER_DIR PIPE_SOURCE_DIR "/tests/integration/browser"

TestSuite(browser_gzip, .init = th_loop_init, .fini = th_loop_fini,
          .timeout = 240);

typedef struct report_s {
  char* json; /* the page's report, NUL-terminated (malloc'd) */
} report_t;

static void copy_file(const char* from, const char* to) {
  size_t n;
  uint8_t* b = th_read_file(from, &n);
  cr_assert_not_null(b, "cannot read %s", from);
  th_write_file(to, b, n);
  free(b);
}

static void sleep_ms(long ms) {
  struct timespec ts = {ms / 1000, (ms % 1000) * 1000000L};
  nanosleep(&ts, NULL);
}

/* Serves gz[0, n) from a fresh server, loads the page in Chromium and
 * returns the page's report. */
static report_t browse(const uint8_t* gz, size_t n) {
  report_t rep = {NULL};
  char* dir = th_tmpdir();
  char* page = th_path(dir, "page.html");
  char* data = th_path(dir, "data.gz");
  char* port_file = th_path(dir, "port");
  char* result = th_path(dir, "result.json");
  char cmd[2048];
  size_t len;
  uint8_t* port = NULL;
  pid_t srv;
  int i, rc, st;
  if (access(CHROMIUM, X_OK) != 0) cr_skip_test(CHROMIUM " not installed");
  if (access(PYTHON, X_OK) != 0) cr_skip_test(PYTHON " not installed");
  copy_file(BROWSER_DIR "/page.html", page);
  th_write_file(data, gz, n);
  srv = fork();
  cr_assert_geq(srv, 0);
  if (srv == 0) {
    execl(PYTHON, PYTHON, BROWSER_DIR "/server.py", dir, (char*)NULL);
    _exit(127);
  }
  for (i = 0; i < 200 && port == NULL; i++) { /* up to 10 s */
    if (access(port_file, F_OK) == 0) port = th_read_file(port_file, &len);
    if (port == NULL) sleep_ms(50);
  }
  if (port == NULL) {
    kill(srv, SIGTERM);
    waitpid(srv, NULL, 0);
    cr_assert_fail("the test server did not start");
  }
  port = realloc(port, len + 1);
  port[len] = '\0';
  snprintf(cmd, sizeof(cmd),
           "timeout 120 " CHROMIUM
           " --headless --no-sandbox --disable-gpu --disable-dev-shm-usage"
           " --no-first-run --no-default-browser-check"
           " --user-data-dir='%s/profile' --virtual-time-budget=60000"
           " --dump-dom 'http://127.0.0.1:%s/' > '%s/dom.html' 2> '%s/err'",
           dir, (char*)port, dir, dir);
  rc = system(cmd);
  kill(srv, SIGTERM); /* the server we started, by its PID */
  waitpid(srv, &st, 0);
  rep.json = (char*)th_read_file(result, &len);
  if (rep.json != NULL) {
    rep.json = realloc(rep.json, len + 1);
    rep.json[len] = '\0';
  }
  snprintf(cmd, sizeof(cmd), "rm -rf '%s'", dir);
  if (system(cmd) != 0) cr_log_warn("could not remove %s", dir);
  cr_assert_not_null(rep.json,
                     "the page reported nothing (chromium exit status %d)",
                     rc);
  cr_log_info("page report: %s", rep.json);
  free(port);
  free(page);
  free(data);
  free(port_file);
  free(result);
  free(dir);
  return rep;
}

/* The page's entry for `name`, as the exact JSON it writes for a success
 * with len bytes of the given SHA-256. */
static int report_has(const report_t* r, const char* name, size_t len,
                      const char* sha) {
  char want[256];
  snprintf(want, sizeof(want), "{\"name\":\"%s\",\"len\":%zu,\"sha256\":\"%s\"}",
           name, len, sha);
  return strstr(r->json, want) != NULL;
}

static char* sha256_hex(const uint8_t* p, size_t n) {
  size_t out_n;
  char* hex = (char*)gzh_cmd("sha256sum | cut -c1-64", p, n, &out_n);
  cr_assert_geq(out_n, 64);
  hex[64] = '\0';
  return hex;
}

Test(browser_gzip, chromium_decodes_every_byte_of_our_gzip_both_ways) {
  /* More than three blocks of the default size, and not a multiple of it:
   * the old output had four members here. */
  size_t len = 3 * PIPE_GZIP_DEFAULT_BLOCK + 54321, n;
  uint8_t* text = gzh_text(len, 21);
  uint8_t* gz = gzh_compress(text, len, NULL, 0, &n, NULL);
  char* sha = sha256_hex(text, len);
  report_t r = browse(gz, n);
  cr_expect(report_has(&r, "content-encoding", len, sha),
            "Content-Encoding: gzip: want %zu bytes with SHA-256 %s; got %s",
            len, sha, r.json);
  cr_expect(report_has(&r, "decompression-stream", len, sha),
            "DecompressionStream: want %zu bytes with SHA-256 %s; got %s", len,
            sha, r.json);
  free(r.json);
  free(sha);
  free(gz);
  free(text);
}

Test(browser_gzip, control_a_two_member_file_is_cut_short_in_chromium) {
  /* What pipe gzip wrote before issue 12: members back to back (RFC 1952
   * allows it). If this control ever fails because Chromium reads every
   * member, the browser got better; the test above still stands. */
  size_t half = PIPE_GZIP_DEFAULT_BLOCK, len = 2 * half, n1, n2;
  uint8_t* text = gzh_text(len, 22);
  uint8_t* a = gzh_cmd("gzip -6 -n -c", text, half, &n1);
  uint8_t* b = gzh_cmd("gzip -6 -n -c", text + half, half, &n2);
  uint8_t* two = malloc(n1 + n2);
  char* sha = sha256_hex(text, len);
  char* sha_first = sha256_hex(text, half);
  report_t r;
  cr_assert_not_null(two);
  memcpy(two, a, n1);
  memcpy(two + n1, b, n2);
  r = browse(two, n1 + n2);
  cr_expect(!report_has(&r, "content-encoding", len, sha),
            "Chromium now reads every member: %s", r.json);
  cr_expect(report_has(&r, "content-encoding", half, sha_first),
            "Content-Encoding kept the first member only: %s", r.json);
  cr_expect(!report_has(&r, "decompression-stream", len, sha), "%s", r.json);
  free(r.json);
  free(sha);
  free(sha_first);
  free(two);
  free(a);
  free(b);
  free(text);
}
