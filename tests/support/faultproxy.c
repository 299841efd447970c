/* See faultproxy.h. Runs tests/integration/faultproxy.py --daemon and
 * talks to its control port with curl. */
#include "support/faultproxy.h"

#include <criterion/criterion.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "support/cli_exec.h"
#include "support/swift.h"

#define FAULTPROXY PIPE_SOURCE_DIR "/tests/integration/faultproxy.py"

static long field(const char* out, const char* key) {
  size_t n = strlen(key);
  const char* p = out;
  while (p && *p) {
    if (strncmp(p, key, n) == 0 && p[n] == '=')
      return strtol(p + n + 1, NULL, 10);
    p = strchr(p, '\n');
    if (p) p++;
  }
  return -1;
}

void fproxy_start(fproxy_t* fp, int upstream_port, const char* faults) {
  char cmd[2048], path[400];
  char* dir = cli_tmpdir();
  cli_result_t r;
  cr_assert(dir);
  memset(fp, 0, sizeof(*fp));
  snprintf(fp->dir, sizeof(fp->dir), "%s", dir);
  free(dir);
  snprintf(fp->log, sizeof(fp->log), "%s/log", fp->dir);
  snprintf(path, sizeof(path), "%s/faults.json", fp->dir);
  cr_assert_eq(cli_write_file(path, faults ? faults : "{}",
                              strlen(faults ? faults : "{}")),
               0);
  snprintf(cmd, sizeof(cmd),
           "/usr/bin/python3 '%s' proxy --upstream 127.0.0.1:%d --log '%s' "
           "--faults '@%s' --daemon --watch %d",
           FAULTPROXY, upstream_port, fp->log, path, (int)getpid());
  r = cli_exec(cmd, NULL);
  cr_assert_eq(r.status, 0, "faultproxy: %s", r.err);
  fp->port = (int)field(r.out, "PORT");
  fp->control = (int)field(r.out, "CONTROL");
  fp->pid = (pid_t)field(r.out, "PID");
  cli_result_free(&r);
  cr_assert(fp->port > 0 && fp->control > 0 && fp->pid > 0);
  snprintf(fp->url, sizeof(fp->url), "http://127.0.0.1:%d", fp->port);
}

static void control(const fproxy_t* fp, const char* path, const char* body) {
  char cmd[1024], file[400];
  cli_result_t r;
  snprintf(file, sizeof(file), "%s/post.json", fp->dir);
  cr_assert_eq(cli_write_file(file, body, strlen(body)), 0);
  snprintf(cmd, sizeof(cmd),
           "curl -s -o /dev/stderr -w '%%{http_code}' -X POST "
           "--data-binary '@%s' 'http://127.0.0.1:%d%s'",
           file, fp->control, path);
  r = cli_exec(cmd, NULL);
  cr_assert_eq(r.status, 0, "curl to the control port: %s", r.err);
  cr_assert_str_eq(r.out, "200", "POST %s: %s", path, r.err);
  cli_result_free(&r);
}

void fproxy_faults(const fproxy_t* fp, const char* faults) {
  control(fp, "/faults", faults ? faults : "{}");
}

void fproxy_post(const fproxy_t* fp, const char* path) {
  control(fp, path, "");
}

char* fproxy_log(const fproxy_t* fp) {
  char* s = cli_read_file(fp->log, NULL);
  return s ? s : strdup("");
}

int fproxy_count(const fproxy_t* fp, const char* action) {
  char* log = fproxy_log(fp);
  char* line = log;
  int n = 0;
  size_t alen = strlen(action);
  while (line && *line) {
    char* nl = strchr(line, '\n');
    /* SEQ METHOD TARGET ACTION STATUS: the 4th column */
    char* c = line;
    int col;
    for (col = 0; col < 3 && c; col++) {
      c = strchr(c, '\t');
      if (c && nl && c > nl) c = NULL;
      if (c) c++;
    }
    if (c && strncmp(c, action, alen) == 0 && c[alen] == '\t') n++;
    line = nl ? nl + 1 : NULL;
  }
  free(log);
  return n;
}

void fproxy_kill(pid_t pid) {
  int i;
  if (pid <= 0) return;
  kill(pid, SIGTERM);
  for (i = 0; i < 100 && swift_pid_alive(pid); i++) usleep(50 * 1000);
  cr_expect(!swift_pid_alive(pid), "pid %d did not exit", (int)pid);
}

void fproxy_stop(fproxy_t* fp) {
  fproxy_kill(fp->pid);
  fp->pid = 0;
  if (fp->dir[0]) cli_rmtree(fp->dir);
  fp->dir[0] = '\0';
}

int fproxy_echo_start(pid_t* pid) {
  char cmd[512];
  cli_result_t r;
  int port;
  snprintf(cmd, sizeof(cmd), "/usr/bin/python3 '%s' echo --daemon --watch %d",
           FAULTPROXY, (int)getpid());
  r = cli_exec(cmd, NULL);
  cr_assert_eq(r.status, 0, "faultproxy echo: %s", r.err);
  port = (int)field(r.out, "PORT");
  *pid = (pid_t)field(r.out, "PID");
  cli_result_free(&r);
  cr_assert(port > 0 && *pid > 0);
  return port;
}
