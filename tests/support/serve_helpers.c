#include "support/serve_helpers.h"

#include <arpa/inet.h>
#include <criterion/criterion.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <poll.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

static void sleep_ms(int ms) {
  struct timespec ts = {ms / 1000, (long)(ms % 1000) * 1000000L};
  nanosleep(&ts, NULL);
}

serve_t* serve_start(const char* extra) {
  serve_t* s = calloc(1, sizeof(*s));
  char portf[600], cmd[4096];
  int i;
  cr_assert(s != NULL);
  s->dir = cli_tmpdir();
  cr_assert(s->dir != NULL);
  snprintf(s->store, sizeof(s->store), "%s/store", s->dir);
  snprintf(s->log, sizeof(s->log), "%s/log", s->dir);
  snprintf(portf, sizeof(portf), "%s/port", s->dir);
  snprintf(cmd, sizeof(cmd),
           "exec '%s' serve --listen 127.0.0.1:0 --port-file '%s' --store "
           "'%s' %s 2>>'%s' </dev/null >/dev/null",
           PIPE_BIN, portf, s->store, extra != NULL ? extra : "", s->log);
  s->pid = fork();
  cr_assert(s->pid >= 0);
  if (s->pid == 0) {
    /* A failed assertion ends the test process before serve_stop(): the
     * server must not outlive it. */
    prctl(PR_SET_PDEATHSIG, SIGTERM);
    execl("/bin/sh", "sh", "-c", cmd, (char*)NULL);
    _exit(127);
  }
  for (i = 0; i < 1000; i++) {
    FILE* f = fopen(portf, "r");
    int st;
    if (f != NULL) {
      if (fscanf(f, "%d", &s->port) == 1 && s->port > 0) {
        fclose(f);
        break;
      }
      fclose(f);
    }
    if (waitpid(s->pid, &st, WNOHANG) == s->pid) {
      char* log = serve_log(s);
      cr_assert_fail("pipe serve exited at start: %s", log ? log : "");
    }
    sleep_ms(10);
  }
  cr_assert(s->port > 0, "pipe serve did not start");
  snprintf(s->url, sizeof(s->url), "http://127.0.0.1:%d", s->port);
  return s;
}

int serve_stop(serve_t* s, int keep) {
  int st = 0, rc;
  kill(s->pid, SIGTERM);
  while (waitpid(s->pid, &st, 0) < 0 && errno == EINTR) {
  }
  rc = WIFEXITED(st) ? WEXITSTATUS(st) : 128 + WTERMSIG(st);
  if (!keep) cli_rmtree(s->dir);
  free(s->dir);
  free(s);
  return rc;
}

cli_result_t serve_sh(const serve_t* s, const char* fmt, ...) {
  char body[8192], cmd[9000];
  va_list ap;
  va_start(ap, fmt);
  vsnprintf(body, sizeof(body), fmt, ap);
  va_end(ap);
  snprintf(cmd, sizeof(cmd), "U='%s'; S='%s'; D='%s'; %s", s->url, s->store,
           s->dir, body);
  return cli_exec(cmd, NULL);
}

int serve_connect(const serve_t* s) {
  struct sockaddr_in a;
  int fd = socket(AF_INET, SOCK_STREAM, 0);
  cr_assert(fd >= 0, "socket: %s", strerror(errno));
  memset(&a, 0, sizeof(a));
  a.sin_family = AF_INET;
  a.sin_port = htons((uint16_t)s->port);
  a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  cr_assert(connect(fd, (struct sockaddr*)&a, sizeof(a)) == 0, "connect: %s",
            strerror(errno));
  return fd;
}

void serve_send(int fd, const void* p, size_t n) {
  size_t off = 0;
  while (off < n) {
    ssize_t w = send(fd, (const char*)p + off, n - off, MSG_NOSIGNAL);
    cr_assert(w > 0, "send: %s", strerror(errno));
    off += (size_t)w;
  }
}

char* serve_raw(const serve_t* s, const void* req, size_t len, int idle_ms) {
  int fd = serve_connect(s);
  size_t off = 0, cap = 65536, n = 0;
  char* out = malloc(cap + 1);
  cr_assert(out != NULL);
  /* The server may answer and close before the whole request is sent (413,
   * 431): stop sending then and read what it said. */
  while (off < len) {
    ssize_t w = send(fd, (const char*)req + off, len - off, MSG_NOSIGNAL);
    if (w <= 0) break;
    off += (size_t)w;
  }
  for (;;) {
    struct pollfd p = {fd, POLLIN, 0};
    ssize_t r;
    if (poll(&p, 1, idle_ms) <= 0) break;
    if (n == cap) {
      cap *= 2;
      out = realloc(out, cap + 1);
    }
    r = recv(fd, out + n, cap - n, 0);
    if (r <= 0) break;
    n += (size_t)r;
  }
  out[n] = '\0';
  close(fd);
  return out;
}

char* serve_log(const serve_t* s) { return cli_read_file(s->log, NULL); }

int serve_make_file(const char* path, size_t n, unsigned seed) {
  FILE* f = fopen(path, "wb");
  uint64_t x = seed * 2654435761u + 1;
  char buf[65536];
  size_t i;
  if (f == NULL) return -1;
  while (n > 0) {
    size_t k = n < sizeof(buf) ? n : sizeof(buf);
    for (i = 0; i < k; i++) {
      x ^= x << 13;
      x ^= x >> 7;
      x ^= x << 17;
      buf[i] = (char)(x >> 24);
    }
    fwrite(buf, 1, k, f);
    n -= k;
  }
  return fclose(f);
}

char* serve_sha256(const char* path) {
  char cmd[1024];
  cli_result_t r;
  char* out;
  snprintf(cmd, sizeof(cmd), "sha256sum < '%s' | cut -c1-64", path);
  r = cli_exec(cmd, NULL);
  if (r.status != 0 || r.out_len < 64) {
    cli_result_free(&r);
    return NULL;
  }
  out = strndup(r.out, 64);
  cli_result_free(&r);
  return out;
}

int serve_status(const char* resp) {
  int st;
  if (resp == NULL || sscanf(resp, "HTTP/1.%*d %d", &st) != 1) return -1;
  return st;
}
