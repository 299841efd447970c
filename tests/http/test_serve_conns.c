/* Connections of `pipe serve`: at --max-connections the longest idle
 * keep-alive connection makes room for a new one, and with none idle the
 * new one gets a complete 503 and is closed; refusals are counted and
 * logged at most once a second, running out of file descriptors is
 * answered (a spare descriptor) or waited out (accepting paused) without
 * spinning; and with --workers the limits are the whole server's, split
 * between the workers, each of which says who it is in /metrics. Raw
 * sockets on 127.0.0.1. */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE /* prlimit */
#endif
#include <arpa/inet.h>
#include <criterion/criterion.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "support/serve_helpers.h"

TestSuite(serve_conns, .timeout = 120);

static const char GET_HEALTHZ[] = "GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n";
static const char GET_METRICS[] = "GET /metrics HTTP/1.1\r\nHost: x\r\n\r\n";

static void sleep_ms(int ms) {
  struct timespec ts = {ms / 1000, (long)(ms % 1000) * 1000000L};
  nanosleep(&ts, NULL);
}

static double now_s(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

/* Reads one whole response (head and Content-Length body), or what came
 * before the server closed. 10 s without a byte fails the test (a guard,
 * not a measurement). Returns it malloc'd, NUL-terminated. */
static char* read_response(int fd) {
  size_t n = 0, cap = 1 << 16;
  char* out = malloc(cap + 1);
  cr_assert(out != NULL);
  for (;;) {
    struct pollfd p = {fd, POLLIN, 0};
    const char* end;
    ssize_t r;
    out[n] = '\0';
    end = strstr(out, "\r\n\r\n");
    if (end != NULL) {
      const char* cl = strstr(out, "Content-Length: ");
      size_t len = cl != NULL && cl < end ? strtoul(cl + 16, NULL, 10) : 0;
      if (n >= (size_t)(end + 4 - out) + len) break;
    }
    cr_assert(poll(&p, 1, 10000) == 1, "no response within 10 s: %s", out);
    if (n == cap) {
      out = realloc(out, (cap *= 2) + 1);
      cr_assert(out != NULL);
    }
    r = recv(fd, out + n, cap - n, 0);
    if (r <= 0) break;
    n += (size_t)r;
  }
  out[n] = '\0';
  return out;
}

/* 1 when the server closed fd (EOF or reset) within 10 s, nothing more
 * sent. */
static int closed_by_server(int fd) {
  struct pollfd p = {fd, POLLIN, 0};
  char b[256];
  if (poll(&p, 1, 10000) != 1) return 0;
  return recv(fd, b, sizeof(b), 0) <= 0;
}

/* GET path on an open keep-alive connection. */
static char* request(int fd, const char* path) {
  char req[256];
  snprintf(req, sizeof(req), "GET %s HTTP/1.1\r\nHost: x\r\n\r\n", path);
  serve_send(fd, req, strlen(req));
  return read_response(fd);
}

/* The value of the sample `name` (with its labels, as written) in a
 * Prometheus text, or -1. */
static double metric(const char* text, const char* name) {
  size_t nl = strlen(name);
  const char* p = text;
  while ((p = strstr(p, name)) != NULL) {
    if ((p == text || p[-1] == '\n') && p[nl] == ' ') return strtod(p + nl + 1, NULL);
    p += nl;
  }
  return -1;
}

static int count_of(const char* hay, const char* needle) {
  int n = 0;
  const char* p = hay;
  while ((p = strstr(p, needle)) != NULL) {
    n++;
    p += strlen(needle);
  }
  return n;
}

/* Sum of the "count" of the log lines holding `msg`. */
static long logged_count(const serve_t* s, const char* msg, int* lines) {
  char* log = serve_log(s);
  const char* p = log;
  long sum = 0;
  *lines = 0;
  while (p != NULL && (p = strstr(p, msg)) != NULL) {
    const char* eol = strchr(p, '\n');
    const char* c = strstr(p, "\"count\":");
    if (c != NULL && (eol == NULL || c < eol)) sum += strtol(c + 8, NULL, 10);
    (*lines)++;
    p += strlen(msg);
  }
  free(log);
  return sum;
}

/* The CPU time the process has used (user + system), from /proc. */
static double cpu_seconds(pid_t pid) {
  char path[64], buf[2048];
  unsigned long ut = 0, st = 0;
  const char* p;
  FILE* f;
  size_t n;
  snprintf(path, sizeof(path), "/proc/%d/stat", (int)pid);
  f = fopen(path, "r");
  cr_assert(f != NULL);
  n = fread(buf, 1, sizeof(buf) - 1, f);
  fclose(f);
  buf[n] = '\0';
  p = strrchr(buf, ')'); /* the command name may hold spaces */
  cr_assert(p != NULL);
  /* After ") ": state(3) ... utime(14) stime(15). */
  cr_assert(sscanf(p + 2, "%*c %*d %*d %*d %*d %*d %*u %*u %*u %*u %*u %lu %lu",
                   &ut, &st) == 2);
  return (double)(ut + st) / (double)sysconf(_SC_CLK_TCK);
}

/* Lowers the server's soft RLIMIT_NOFILE so that exactly `free_slots`
 * descriptor numbers are free below it (the hard limit stays). */
static void leave_free_fds(pid_t pid, int free_slots) {
  char path[64];
  struct rlimit rl;
  int limit;
  cr_assert(prlimit(pid, RLIMIT_NOFILE, NULL, &rl) == 0, "%s", strerror(errno));
  for (limit = 3; limit < 4096; limit++) {
    int fd, used = 0;
    for (fd = 0; fd < limit; fd++) {
      struct stat st;
      snprintf(path, sizeof(path), "/proc/%d/fd/%d", (int)pid, fd);
      if (lstat(path, &st) == 0) used++;
    }
    if (limit - used == free_slots) break;
  }
  rl.rlim_cur = (rlim_t)limit;
  cr_assert(prlimit(pid, RLIMIT_NOFILE, &rl, NULL) == 0, "%s", strerror(errno));
}

/* ---- --max-connections ----------------------------------------------------- */

/* A request head begun and not finished: the connection is busy (in
 * its headers), not idle. */
static const char HEAD_BEGUN[] = "GET /healthz HTTP/1.1\r\n";
static const char HEAD_REST[] = "Host: x\r\n\r\n";

Test(serve_conns, one_connection_past_max_connections_gets_a_503_and_is_closed) {
  serve_t* s = serve_start("--max-connections 2 --header-timeout 60");
  int a = serve_connect(s), b = serve_connect(s), c, d, i;
  char *r, *m, *log, id[64], want[512];
  const char* body;
  /* Two connections in the middle of a request head: none is idle. */
  r = request(a, "/healthz");
  cr_assert_eq(serve_status(r), 200, "%s", r);
  cr_assert(strstr(r, "Connection: close") == NULL, "%s", r);
  free(r);
  serve_send(a, HEAD_BEGUN, strlen(HEAD_BEGUN));
  serve_send(b, HEAD_BEGUN, strlen(HEAD_BEGUN));
  sleep_ms(50); /* the server has read them (the refusal does not depend on it) */
  /* The third: a complete 503 in the usual error format, then closed. */
  c = serve_connect(s);
  serve_send(c, GET_HEALTHZ, strlen(GET_HEALTHZ));
  r = read_response(c);
  cr_assert_eq(serve_status(r), 503, "%s", r);
  cr_assert(strstr(r, "\r\nRetry-After: 1\r\n") != NULL, "%s", r);
  cr_assert(strstr(r, "\r\nConnection: close\r\n") != NULL, "%s", r);
  cr_assert(strstr(r, "\r\nContent-Type: application/json\r\n") != NULL, "%s", r);
  cr_assert(sscanf(strstr(r, "X-Request-Id: ") + 14, "%63[0-9a-f]", id) == 1, "%s", r);
  body = strstr(r, "\r\n\r\n") + 4;
  snprintf(want, sizeof(want),
           "{\"error\":{\"status\":503,\"code\":\"too_many_connections\","
           "\"message\":\"the server has 2 connections open, its limit "
           "(--max-connections); retry later\",\"request_id\":\"%s\"}}\n",
           id);
  cr_assert_str_eq(body, want);
  cr_assert_eq(strtoul(strstr(r, "Content-Length: ") + 16, NULL, 10), strlen(want));
  cr_assert(closed_by_server(c), "the refused connection was left open");
  free(r);
  close(c);
  /* The two busy ones were not touched: both finish their requests. */
  serve_send(b, HEAD_REST, strlen(HEAD_REST));
  r = read_response(b);
  cr_assert_eq(serve_status(r), 200, "%s", r);
  free(r);
  serve_send(a, HEAD_REST, strlen(HEAD_REST));
  r = read_response(a);
  cr_assert_eq(serve_status(r), 200, "%s", r);
  free(r);
  /* One of the two goes: once the server has seen it, a new connection is
   * served as any other. */
  close(a);
  for (i = 0; i < 500; i++) {
    m = request(b, "/metrics");
    if (metric(m, "pipe_http_connections") == 1) break;
    free(m);
    m = NULL;
    sleep_ms(20);
  }
  cr_assert_not_null(m, "the server still counts the closed connection");
  free(m);
  d = serve_connect(s);
  r = request(d, "/healthz");
  cr_assert_eq(serve_status(r), 200, "%s", r);
  free(r);
  m = request(b, "/metrics");
  cr_assert_eq(metric(m, "pipe_http_connections_refused_total{reason=\"max_connections\"}"), 1, "%s", m);
  cr_assert_eq(metric(m, "pipe_http_connections_refused_total{reason=\"fd_limit\"}"), 0, "%s", m);
  cr_assert_eq(metric(m, "pipe_http_connections_reclaimed_total"), 0, "%s", m);
  cr_assert_eq(metric(m, "pipe_http_connections"), 2, "%s", m);
  cr_assert_eq(metric(m, "pipe_http_limit{name=\"max_connections\"}"), 2, "%s", m);
  free(m);
  close(b);
  close(d);
  /* The error log names the refusal once. */
  log = serve_log(s);
  cr_assert_eq(count_of(log, "\"msg\":\"connections refused with 503: --max-connections reached\","
                             "\"reason\":\"max_connections\",\"count\":1,"),
               1, "%s", log);
  free(log);
  cr_assert_eq(serve_stop(s, 0), 0);
}

/* At the cap an idle keep-alive connection (answered, waiting for its next
 * request) makes room for a new one, the longest idle first, as nginx does;
 * a connection that has not sent its first request is never taken, and
 * with none idle the new one gets the 503. */
Test(serve_conns, at_max_connections_the_longest_idle_keep_alive_connection_makes_room) {
  serve_t* s = serve_start("--max-connections 2");
  int a = serve_connect(s), b, c, d, e, f;
  char *r, *m;
  r = request(a, "/healthz");
  cr_assert_eq(serve_status(r), 200, "%s", r);
  free(r);
  sleep_ms(20);
  b = serve_connect(s);
  r = request(b, "/healthz");
  cr_assert_eq(serve_status(r), 200, "%s", r);
  free(r);
  sleep_ms(20);
  /* Both idle: the third is served, the oldest idle (a) is closed. */
  c = serve_connect(s);
  r = request(c, "/healthz");
  cr_assert_eq(serve_status(r), 200, "%s", r);
  free(r);
  cr_assert(closed_by_server(a), "the longest idle connection was not the one closed");
  close(a);
  sleep_ms(20);
  r = request(b, "/metrics"); /* b is served: now b is the newest idle */
  cr_assert_eq(serve_status(r), 200, "%s", r);
  cr_assert_eq(metric(r, "pipe_http_connections_reclaimed_total"), 1, "%s", r);
  cr_assert_eq(metric(r, "pipe_http_connections_refused_total{reason=\"max_connections\"}"), 0, "%s", r);
  cr_assert_eq(metric(r, "pipe_http_connections"), 2, "%s", r);
  free(r);
  sleep_ms(20);
  /* d and e connect and send nothing: c then b make room for them. */
  d = serve_connect(s);
  cr_assert(closed_by_server(c), "c (idle longest) was not closed for d");
  close(c);
  e = serve_connect(s);
  cr_assert(closed_by_server(b), "b was not closed for e");
  close(b);
  /* d and e have had no request yet: nothing to reclaim, f is refused. */
  f = serve_connect(s);
  serve_send(f, GET_HEALTHZ, strlen(GET_HEALTHZ));
  r = read_response(f);
  cr_assert_eq(serve_status(r), 503, "%s", r);
  cr_assert(strstr(r, "\"code\":\"too_many_connections\"") != NULL, "%s", r);
  free(r);
  close(f);
  /* Both new ones are whole. */
  r = request(e, "/healthz");
  cr_assert_eq(serve_status(r), 200, "%s", r);
  free(r);
  m = request(d, "/metrics");
  cr_assert_eq(serve_status(m), 200, "%s", m);
  cr_assert_eq(metric(m, "pipe_http_connections_reclaimed_total"), 3, "%s", m);
  cr_assert_eq(metric(m, "pipe_http_connections_refused_total{reason=\"max_connections\"}"), 1, "%s", m);
  free(m);
  close(d);
  close(e);
  cr_assert_eq(serve_stop(s, 0), 0);
}

Test(serve_conns, a_flood_of_refusals_is_logged_once_a_second_with_the_count) {
  serve_t* s = serve_start("--max-connections 1 --header-timeout 60");
  const int n = 40;
  int a = serve_connect(s), i, lines = 0;
  long sum = 0;
  double t0, elapsed;
  char *r, *m;
  /* The one connection is busy (a request head begun), so no refusal can
   * be avoided by closing it. */
  serve_send(a, HEAD_BEGUN, strlen(HEAD_BEGUN));
  t0 = now_s();
  for (i = 0; i < n; i++) {
    int c = serve_connect(s);
    serve_send(c, GET_HEALTHZ, strlen(GET_HEALTHZ));
    r = read_response(c);
    cr_assert_eq(serve_status(r), 503, "%s", r);
    free(r);
    close(c);
  }
  /* The refusals after the first line are written by the next second's
   * line: wait for all to be accounted for. */
  for (i = 0; i < 500 && sum < n; i++) {
    sum = logged_count(s, "connections refused with 503", &lines);
    if (sum < n) sleep_ms(20);
  }
  elapsed = now_s() - t0;
  cr_assert_eq(sum, n, "refusals logged: %ld in %d lines", sum, lines);
  /* At most one line per second, plus the first (a bound on the number of
   * lines, whatever the speed of the machine). */
  cr_assert(lines >= 1 && lines <= 2 + (int)elapsed, "%d lines in %.1f s", lines, elapsed);
  serve_send(a, HEAD_REST, strlen(HEAD_REST));
  r = read_response(a);
  cr_assert_eq(serve_status(r), 200, "%s", r);
  free(r);
  m = request(a, "/metrics");
  cr_assert_eq(metric(m, "pipe_http_connections_refused_total{reason=\"max_connections\"}"), n, "%s", m);
  free(m);
  close(a);
  cr_assert_eq(serve_stop(s, 0), 0);
}

/* ---- out of file descriptors ---------------------------------------------- */

Test(serve_conns, out_of_descriptors_a_connection_gets_a_503_and_the_server_serves_on) {
  serve_t* s = serve_start("");
  int fds[12], i, n200 = 0, n503 = 0, c, lines;
  double cpu0, cpu1;
  char *r, *m;
  leave_free_fds(s->pid, 3);
  for (i = 0; i < 12; i++) {
    fds[i] = serve_connect(s);
    serve_send(fds[i], GET_HEALTHZ, strlen(GET_HEALTHZ));
    r = read_response(fds[i]);
    /* Every connection is answered: served, or a complete 503. */
    if (serve_status(r) == 200) {
      n200++;
    } else {
      cr_assert_eq(serve_status(r), 503, "%s", r);
      cr_assert(strstr(r, "\"code\":\"fd_limit\"") != NULL, "%s", r);
      cr_assert(strstr(r, "\r\nRetry-After: 1\r\n") != NULL, "%s", r);
      cr_assert(closed_by_server(fds[i]));
      n503++;
    }
    free(r);
  }
  cr_assert(n200 >= 1 && n503 >= 1, "%d served, %d refused", n200, n503);
  /* Idle at the limit, the server does no work (no accept loop). */
  cpu0 = cpu_seconds(s->pid);
  sleep_ms(2000);
  cpu1 = cpu_seconds(s->pid);
  cr_assert_lt(cpu1 - cpu0, 0.5, "%.2f s of CPU in 2 s idle", cpu1 - cpu0);
  for (i = 0; i < 12; i++) close(fds[i]);
  /* The descriptors are back once the server has seen the closes. */
  for (i = 0; i < 500; i++) {
    c = serve_connect(s);
    serve_send(c, GET_METRICS, strlen(GET_METRICS));
    m = read_response(c);
    close(c);
    if (serve_status(m) == 200) break;
    free(m);
    m = NULL;
    sleep_ms(20);
  }
  cr_assert_not_null(m, "not served after the connections closed");
  cr_assert_eq(metric(m, "pipe_http_connections_refused_total{reason=\"fd_limit\"}"), n503, "%s", m);
  free(m);
  cr_assert_geq(logged_count(s, "accept failed: out of file descriptors", &lines), 1);
  cr_assert_eq(serve_stop(s, 0), 0);
}

Test(serve_conns, with_no_descriptor_to_spare_accepting_pauses_instead_of_spinning) {
  serve_t* s = serve_start("");
  struct rlimit was, low;
  int c, i, lines = 0;
  double cpu0, cpu1;
  char *r, *m;
  cr_assert(prlimit(s->pid, RLIMIT_NOFILE, NULL, &was) == 0);
  low = was;
  low.rlim_cur = 3; /* 0, 1, 2 are open: no slot, not even the spare's */
  cr_assert(prlimit(s->pid, RLIMIT_NOFILE, &low, NULL) == 0);
  c = serve_connect(s); /* completed by the kernel, waits in the backlog */
  serve_send(c, GET_HEALTHZ, strlen(GET_HEALTHZ));
  /* A listener that retried accept() at once would burn a core here (the
   * server of before spent ~1 s of CPU in these 2 s on this machine). */
  cpu0 = cpu_seconds(s->pid);
  sleep_ms(2000);
  cpu1 = cpu_seconds(s->pid);
  cr_assert_lt(cpu1 - cpu0, 0.5, "%.2f s of CPU in 2 s", cpu1 - cpu0);
  for (i = 0; i < 500 && logged_count(s, "accept failed: not accepting for 100 ms", &lines) < 1; i++)
    sleep_ms(20);
  cr_assert_geq(lines, 1, "no log line says accept failed");
  /* Descriptors again: the waiting connection is served. */
  cr_assert(prlimit(s->pid, RLIMIT_NOFILE, &was, NULL) == 0);
  r = read_response(c);
  cr_assert_eq(serve_status(r), 200, "%s", r);
  free(r);
  m = request(c, "/metrics");
  cr_assert_geq(metric(m, "pipe_http_accept_paused_total"), 1, "%s", m);
  free(m);
  close(c);
  cr_assert_eq(serve_stop(s, 0), 0);
}

/* ---- --workers ------------------------------------------------------------ */

Test(serve_conns, workers_split_the_limits_and_metrics_name_the_worker) {
  serve_t* s = serve_start("--workers 2 --max-uploads 2 --max-memory 3M --max-connections 9");
  int pids[2] = {0, 0}, seen[2] = {0, 0}, i, npids = 0;
  char* log = serve_log(s);
  const char* p = log;
  const char* key = "\"msg\":\"worker started\",\"worker\":";
  while ((p = strstr(p, key)) != NULL && npids < 2) {
    pids[npids++] = (int)strtol(p + strlen(key), NULL, 10);
    p += strlen(key);
  }
  free(log);
  cr_assert_eq(npids, 2);
  /* A new connection each time: the kernel gives it to either worker. */
  for (i = 0; i < 200 && !(seen[0] && seen[1]); i++) {
    int c = serve_connect(s), k = -1, pid = -1;
    char* m = request(c, "/metrics");
    const char* w = strstr(m, "\npipe_http_worker_info{worker=\"");
    close(c);
    cr_assert_not_null(w, "%s", m);
    cr_assert(sscanf(w, "\npipe_http_worker_info{worker=\"%d\",pid=\"%d\"} 1", &k, &pid) == 2, "%s", w);
    cr_assert(k == 0 || k == 1, "worker %d", k);
    cr_assert(pid == pids[0] || pid == pids[1], "pid %d is not a worker's", pid);
    if (seen[k]) cr_assert_eq(seen[k], pid, "worker %d has two pids", k);
    seen[k] = pid;
    /* Each worker applies its share of the server's limits. */
    cr_assert_eq(metric(m, "pipe_http_limit{name=\"max_uploads\"}"), 1, "%s", m);
    cr_assert_eq(metric(m, "pipe_http_limit{name=\"max_memory\"}"), 3 << 19, "%s", m);
    cr_assert_eq(metric(m, "pipe_http_limit{name=\"max_connections\"}"), 4, "%s", m);
    cr_assert_eq(metric(m, "pipe_http_pool_limit_bytes"), 3 << 19, "%s", m);
    free(m);
  }
  cr_assert(seen[0] && seen[1] && seen[0] != seen[1], "workers seen: %d %d", seen[0], seen[1]);
  cr_assert_eq(serve_stop(s, 0), 0);
}

Test(serve_conns, workers_together_admit_no_more_uploads_than_max_uploads) {
  serve_t* s = serve_start("--workers 2 --max-uploads 2");
  enum { N = 4 };
  int fds[N], rfd[N], done[N] = {0}, status[N] = {0}, i, ndone = 0, n201 = 0, n503 = 0;
  char path[600], req[256];
  for (i = 0; i < N; i++) {
    /* The store writes each object into a FIFO that nobody reads yet:
     * every upload admitted stays in flight. */
    snprintf(path, sizeof(path), "%s/held%d", s->store, i);
    cr_assert(mkfifo(path, 0600) == 0);
  }
  for (i = 0; i < N; i++) {
    fds[i] = serve_connect(s);
    snprintf(req, sizeof(req),
             "PUT /v1/objects/held%d HTTP/1.1\r\nHost: x\r\nContent-Length: 5\r\n\r\nhello", i);
    serve_send(fds[i], req, strlen(req));
  }
  /* Each worker admits 1 (2 / 2 workers): whichever way the kernel spread
   * the four, at least two are refused. (Each worker admitting 2 would let
   * all four in.) */
  while (ndone < N - 2) {
    struct pollfd p[N];
    for (i = 0; i < N; i++) p[i] = (struct pollfd){done[i] ? -1 : fds[i], POLLIN, 0};
    cr_assert(poll(p, N, 10000) > 0, "fewer than 2 uploads refused: %d", ndone);
    for (i = 0; i < N; i++) {
      char* r;
      if (done[i] || !(p[i].revents & (POLLIN | POLLHUP | POLLERR))) continue;
      r = read_response(fds[i]);
      status[i] = serve_status(r);
      cr_assert_eq(status[i], 503, "%s", r);
      cr_assert(strstr(r, "\"code\":\"busy\"") != NULL, "%s", r);
      free(r);
      done[i] = 1;
      ndone++;
    }
  }
  /* Readers for the FIFOs: the uploads in flight complete. */
  for (i = 0; i < N; i++) {
    snprintf(path, sizeof(path), "%s/held%d", s->store, i);
    rfd[i] = open(path, O_RDONLY | O_NONBLOCK);
    cr_assert(rfd[i] >= 0, "%s", strerror(errno));
  }
  for (i = 0; i < N; i++) {
    if (!done[i]) {
      char* r = read_response(fds[i]);
      status[i] = serve_status(r);
      cr_assert(status[i] == 201 || status[i] == 503, "%s", r);
      free(r);
    }
    if (status[i] == 201) n201++;
    if (status[i] == 503) n503++;
    close(fds[i]);
    close(rfd[i]);
  }
  cr_assert(n201 >= 1 && n201 <= 2 && n201 + n503 == N, "%d admitted, %d refused", n201, n503);
  cr_assert_eq(serve_stop(s, 0), 0);
}
