/* See tls.h. Runs tests/integration/tls/start-tls and parses its lines. */
#include "support/tls.h"

#include <criterion/criterion.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "support/cli_exec.h"
#include "support/swift.h"

#define TLS_SCRIPTS PIPE_SOURCE_DIR "/tests/integration/tls"

static void value(const char* out, const char* key, char* dst, size_t cap) {
  size_t n = strlen(key);
  const char* p = out;
  dst[0] = '\0';
  while (p && *p) {
    const char* nl = strchr(p, '\n');
    size_t len = nl ? (size_t)(nl - p) : strlen(p);
    if (len > n && strncmp(p, key, n) == 0 && p[n] == '=') {
      cr_assert_lt(len - n - 1, cap, "%s too long", key);
      memcpy(dst, p + n + 1, len - n - 1);
      dst[len - n - 1] = '\0';
      return;
    }
    p = nl ? nl + 1 : NULL;
  }
}

void tls_start(tls_t* t, int upstream_port) {
  char cmd[1024], num[32];
  char* dir = cli_tmpdir();
  cli_result_t r;
  cr_assert(dir);
  memset(t, 0, sizeof(*t));
  snprintf(cmd, sizeof(cmd), "'%s/start-tls' --watch %d '%s' %d", TLS_SCRIPTS,
           (int)getpid(), dir, upstream_port);
  r = cli_exec(cmd, NULL);
  if (r.status != 0) cli_rmtree(dir);
  free(dir);
  cr_assert_eq(r.status, 0, "start-tls: %s", r.err);
  value(r.out, "DIR", t->dir, sizeof(t->dir));
  value(r.out, "URL", t->url, sizeof(t->url));
  value(r.out, "CA", t->ca, sizeof(t->ca));
  value(r.out, "PORT", num, sizeof(num));
  t->port = atoi(num);
  value(r.out, "PID", num, sizeof(num));
  t->pid = (pid_t)atoi(num);
  cli_result_free(&r);
  cr_assert(t->dir[0] && t->url[0] && t->ca[0] && t->port > 0 && t->pid > 0);
}

void tls_stop(tls_t* t) {
  char cmd[512];
  cli_result_t r;
  if (!t->dir[0]) return;
  snprintf(cmd, sizeof(cmd), "'%s/stop-tls' '%s'", TLS_SCRIPTS, t->dir);
  r = cli_exec(cmd, NULL);
  cr_expect_eq(r.status, 0, "stop-tls: %s", r.err);
  cli_result_free(&r);
  cr_expect(!swift_pid_alive(t->pid), "stunnel %d still runs", (int)t->pid);
  cr_expect_neq(access(t->dir, F_OK), 0, "%s still exists", t->dir);
  t->dir[0] = '\0';
}
