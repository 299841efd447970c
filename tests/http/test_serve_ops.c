/* Operations of `pipe serve`: backpressure down to the client's socket with
 * a slow store, admission (--max-uploads, --max-memory -> 503 Retry-After),
 * the CPU-job budget shared by all uploads (--max-cpu-jobs: queued, not
 * refused),
 * bearer tokens, the listen policy, graceful drain on SIGTERM, /metrics
 * read by the real Prometheus parser. The slow store is a FIFO at the
 * object's key: the store's file sink writes a FIFO in place and waits for
 * a reader, so until the test reads it, nothing drains. */
#include <arpa/inet.h>
#include <criterion/criterion.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "support/serve_helpers.h"

TestSuite(serve_ops, .timeout = 120);

/* Sends zeros without blocking until the socket accepts nothing for
 * `quiet_ms` (the server stopped reading) or `max` bytes are out. */
static size_t send_until_stalled(int fd, size_t max, int quiet_ms) {
  static char zeros[65536];
  size_t sent = 0;
  int fl = fcntl(fd, F_GETFL);
  fcntl(fd, F_SETFL, fl | O_NONBLOCK);
  while (sent < max) {
    struct pollfd p = {fd, POLLOUT, 0};
    size_t k = max - sent < sizeof(zeros) ? max - sent : sizeof(zeros);
    ssize_t w;
    if (poll(&p, 1, quiet_ms) <= 0) break; /* stalled */
    w = send(fd, zeros, k, MSG_NOSIGNAL);
    if (w < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) continue;
    cr_assert(w > 0, "send: %s", strerror(errno));
    sent += (size_t)w;
  }
  fcntl(fd, F_SETFL, fl);
  return sent;
}

static long rss_kib(pid_t pid) {
  char path[64], line[256];
  long kb = -1;
  FILE* f;
  snprintf(path, sizeof(path), "/proc/%d/status", (int)pid);
  f = fopen(path, "r");
  cr_assert(f != NULL);
  while (fgets(line, sizeof(line), f) != NULL)
    if (sscanf(line, "VmRSS: %ld kB", &kb) == 1) break;
  fclose(f);
  return kb;
}

static char* recv_all(int fd, int idle_ms) {
  size_t n = 0, cap = 65536;
  char* out = malloc(cap + 1);
  for (;;) {
    struct pollfd p = {fd, POLLIN, 0};
    ssize_t r;
    if (poll(&p, 1, idle_ms) <= 0) break;
    if (n == cap) out = realloc(out, (cap *= 2) + 1);
    r = recv(fd, out + n, cap - n, 0);
    if (r <= 0) break;
    n += (size_t)r;
  }
  out[n] = '\0';
  return out;
}

/* Starts `cat FIFO | sha256sum > OUT` in the background; returns its pid. */
static pid_t start_fifo_reader(const char* fifo, const char* out) {
  char cmd[2048];
  pid_t pid;
  snprintf(cmd, sizeof(cmd), "cat '%s' | sha256sum | cut -c1-64 > '%s'", fifo, out);
  pid = fork();
  cr_assert(pid >= 0);
  if (pid == 0) {
    execl("/bin/sh", "sh", "-c", cmd, (char*)NULL);
    _exit(127);
  }
  return pid;
}

#define BIG ((size_t)128 << 20)

Test(serve_ops, a_slow_store_stalls_the_client_and_server_memory_stays_bounded) {
  serve_t* s = serve_start("");
  char fifo[600], shaf[600], head[256];
  size_t sent;
  long rss;
  int fd, st;
  pid_t reader;
  char *resp, *want, *got;
  cli_result_t r;
  snprintf(fifo, sizeof(fifo), "%s/slow", s->store);
  snprintf(shaf, sizeof(shaf), "%s/sha", s->dir);
  cr_assert(mkfifo(fifo, 0600) == 0);
  fd = serve_connect(s);
  snprintf(head, sizeof(head),
           "PUT /v1/objects/slow HTTP/1.1\r\nHost: x\r\nContent-Length: %zu\r\n\r\n", BIG);
  serve_send(fd, head, strlen(head));
  /* Nobody reads the FIFO: the pipeline fills, the server stops reading
   * the socket, the kernel buffers fill, and our send stalls long before
   * the body is out. */
  sent = send_until_stalled(fd, BIG, 1000);
  cr_log_info("sent %zu of %zu bytes before the stall", sent, BIG);
  cr_assert_lt(sent, BIG / 2, "the client's send never stalled (%zu bytes out)", sent);
  rss = rss_kib(s->pid);
  cr_log_info("server RSS while stalled: %ld KiB", rss);
  cr_assert_lt(rss, 48 * 1024, "server RSS %ld KiB while holding a stalled upload", rss);
  /* Now the store drains: the rest goes through and every byte arrives. */
  reader = start_fifo_reader(fifo, shaf);
  {
    static char zeros[65536];
    while (sent < BIG) {
      size_t k = BIG - sent < sizeof(zeros) ? BIG - sent : sizeof(zeros);
      serve_send(fd, zeros, k);
      sent += k;
    }
  }
  resp = recv_all(fd, 20000);
  cr_assert_eq(serve_status(resp), 201, "%s", resp);
  waitpid(reader, &st, 0);
  r = serve_sh(s, "head -c %zu /dev/zero | sha256sum | cut -c1-64", BIG);
  want = strndup(r.out, 64);
  cli_result_free(&r);
  got = cli_read_file(shaf, NULL);
  cr_assert(got != NULL && strncmp(got, want, 64) == 0, "stored %s, sent %s", got, want);
  cr_assert(strstr(resp, want) != NULL, "receipt: %s", resp);
  free(resp);
  free(got);
  free(want);
  close(fd);
  cr_assert_eq(serve_stop(s, 0), 0);
}

Test(serve_ops, max_uploads_refuses_one_more_with_503_and_retry_after) {
  serve_t* s = serve_start("--max-uploads 1");
  char fifo[600], shaf[600];
  const char head[] = "PUT /v1/objects/held HTTP/1.1\r\nHost: x\r\nContent-Length: 5\r\n\r\n";
  int fd, st;
  pid_t reader;
  char* resp;
  cli_result_t r;
  snprintf(fifo, sizeof(fifo), "%s/held", s->store);
  snprintf(shaf, sizeof(shaf), "%s/sha", s->dir);
  cr_assert(mkfifo(fifo, 0600) == 0);
  fd = serve_connect(s);
  serve_send(fd, head, sizeof(head) - 1);
  serve_send(fd, "hello", 5); /* held: the FIFO has no reader */
  r = serve_sh(s, "sleep 0.2; printf x | curl -sS -D - -T - \"$U/v1/objects/second\" | tr -d '\\r'");
  cr_assert(strstr(r.out, "HTTP/1.1 503") != NULL, "%s", r.out);
  cr_assert(strstr(r.out, "Retry-After: 1") != NULL, "%s", r.out);
  cr_assert(strstr(r.out, "\"code\":\"busy\"") != NULL, "%s", r.out);
  cli_result_free(&r);
  reader = start_fifo_reader(fifo, shaf);
  resp = recv_all(fd, 10000);
  cr_assert_eq(serve_status(resp), 201, "%s", resp);
  waitpid(reader, &st, 0);
  free(resp);
  close(fd);
  /* The slot is free again. */
  r = serve_sh(s, "printf x | curl -sS -o /dev/null -w '%%{http_code}' -T - \"$U/v1/objects/third\"");
  cr_assert_str_eq(r.out, "201");
  cli_result_free(&r);
  cr_assert_eq(serve_stop(s, 0), 0);
}

Test(serve_ops, max_memory_admits_what_fits_and_refuses_a_costly_pipeline) {
  serve_t* s = serve_start("--max-memory 2M");
  cli_result_t r = serve_sh(s,
      "printf x | curl -sS -o /dev/null -w '%%{http_code} ' -T - \"$U/v1/objects/a\"; "
      "printf x | curl -sS -D \"$D/h\" -w ' %%{http_code}\\n' -T - \"$U/v1/objects/b?pipeline=gzip%%20--threads%%20256%%20--block-size%%2064M\"; "
      "grep -c Retry-After \"$D/h\"");
  cr_assert(strncmp(r.out, "201 ", 4) == 0, "%s", r.out);
  cr_assert(strstr(r.out, " 503\n1\n") != NULL, "%s", r.out);
  /* Capped to 1 thread and 256 KiB blocks, gzip still costs ~2 MiB: with
   * the pools and the store's staging, more than 2M. */
  cr_assert(strstr(r.out, "needs") != NULL, "%s", r.out);
  cli_result_free(&r);
  cr_assert_eq(serve_stop(s, 0), 0);
}

Test(serve_ops, bearer_tokens_guard_v1_and_leave_health_open) {
  char* dir = cli_tmpdir();
  char extra[700];
  serve_t* s;
  cli_result_t r;
  snprintf(extra, sizeof(extra), "%s/tokens", dir);
  cli_write_file(extra, "# tokens\nsecret-one\n\nsecret-two\n", 31);
  snprintf(extra, sizeof(extra), "--auth-token-file '%s/tokens'", dir);
  s = serve_start(extra);
  r = serve_sh(s,
      "printf x | curl -sS -o /dev/null -w '%%{http_code} ' -T - \"$U/v1/objects/a\"; "
      "printf x | curl -sS -o /dev/null -w '%%{http_code} ' -H 'Authorization: Bearer nope' -T - \"$U/v1/objects/a\"; "
      "printf x | curl -sS -o /dev/null -w '%%{http_code} ' -H 'Authorization: Bearer secret-one' -T - \"$U/v1/objects/a\"; "
      "curl -sS -o /dev/null -w '%%{http_code} ' -H 'Authorization: Bearer secret-two' \"$U/v1/objects/a\"; "
      "curl -sS -o /dev/null -w '%%{http_code} ' -F x=y \"$U/v1/uploads\"; "
      "curl -sS -o /dev/null -w '%%{http_code}' \"$U/healthz\"");
  cr_assert_str_eq(r.out, "401 401 201 200 401 200", "%s", r.out);
  cli_result_free(&r);
  /* 401 comes instead of 100-continue: the body is never sent. */
  r = serve_sh(s, "head -c 100000 /dev/zero > \"$D/z\"; curl -sS -v -H 'Expect: 100-continue' -T \"$D/z\" \"$U/v1/objects/z\" 2>&1 | grep -c '100 Continue'");
  cr_assert_str_eq(r.out, "0\n", "%s", r.out);
  cli_result_free(&r);
  cr_assert_eq(serve_stop(s, 0), 0);
  cli_rmtree(dir);
  free(dir);
}

Test(serve_ops, a_non_loopback_listen_without_tokens_is_refused) {
  cli_result_t r = cli_exec("d=$(mktemp -d); \"$PIPE\" serve --listen 0.0.0.0:0 --store \"$d/s\"; echo rc=$?; rm -rf \"$d\"", NULL);
  cr_assert(strstr(r.out, "rc=2") != NULL, "%s %s", r.out, r.err);
  cr_assert(strstr(r.err, "--auth-token-file") != NULL, "%s", r.err);
  cli_result_free(&r);
}

Test(serve_ops, insecure_no_auth_allows_a_non_loopback_listen) {
  /* Bound on all addresses, reached (and checked) over loopback only. */
  cli_result_t r = cli_exec(
      "d=$(mktemp -d); \"$PIPE\" serve --listen 0.0.0.0:0 --insecure-no-auth --store \"$d/s\" --port-file \"$d/p\" 2>/dev/null & pid=$!; "
      "for i in $(seq 100); do [ -s \"$d/p\" ] && break; sleep 0.05; done; "
      "curl -sS \"http://127.0.0.1:$(cat \"$d/p\")/healthz\"; kill $pid; wait $pid; echo rc=$?; rm -rf \"$d\"", NULL);
  cr_assert_str_eq(r.out, "{\"status\":\"ok\"}\nrc=0\n", "%s %s", r.out, r.err);
  cli_result_free(&r);
}

Test(serve_ops, sigterm_drains_finishing_the_upload_in_flight_and_exits_0) {
  serve_t* s = serve_start("--grace 20");
  char fifo[600], shaf[600];
  const char head[] = "PUT /v1/objects/drain HTTP/1.1\r\nHost: x\r\nContent-Length: 5\r\n\r\n";
  int fd, fd2, st, rc;
  pid_t reader, pid = s->pid;
  char* resp;
  snprintf(fifo, sizeof(fifo), "%s/drain", s->store);
  snprintf(shaf, sizeof(shaf), "%s/sha", s->dir);
  cr_assert(mkfifo(fifo, 0600) == 0);
  fd = serve_connect(s);
  serve_send(fd, head, sizeof(head) - 1);
  serve_send(fd, "hello", 5);
  fd2 = serve_connect(s);
  serve_send(fd2, "GET /readyz HTTP/1.1\r\n", 22); /* a request under way */
  usleep(200000);
  kill(pid, SIGTERM);
  usleep(200000);
  /* Draining: ready no more, and no new connection is accepted. */
  serve_send(fd2, "Host: x\r\n\r\n", 11);
  resp = recv_all(fd2, 5000);
  cr_assert_eq(serve_status(resp), 503, "%s", resp);
  cr_assert(strstr(resp, "draining") != NULL, "%s", resp);
  free(resp);
  close(fd2);
  {
    cli_result_t r = serve_sh(s, "curl -sS -o /dev/null -w '%%{http_code}' \"$U/healthz\"; echo \" rc=$?\"");
    cr_assert(strstr(r.out, "rc=7") != NULL, "still accepting: %s", r.out);
    cli_result_free(&r);
  }
  /* The upload in flight finishes, then the server exits 0. */
  reader = start_fifo_reader(fifo, shaf);
  resp = recv_all(fd, 10000);
  cr_assert_eq(serve_status(resp), 201, "%s", resp);
  free(resp);
  waitpid(reader, &st, 0);
  close(fd);
  rc = serve_stop(s, 0); /* a second TERM: the server has exited already */
  cr_assert_eq(rc, 0);
}

Test(serve_ops, after_the_grace_an_unfinished_upload_is_aborted_and_removed) {
  serve_t* s = serve_start("--grace 0.3 --idle-timeout 30");
  const char head[] = "PUT /v1/objects/late HTTP/1.1\r\nHost: x\r\nContent-Length: 1000000\r\n\r\n";
  int fd = serve_connect(s), st;
  char* log;
  cli_result_t r;
  serve_send(fd, head, sizeof(head) - 1);
  serve_send(fd, "only the start", 14);
  usleep(200000);
  kill(s->pid, SIGTERM);
  waitpid(s->pid, &st, 0); /* exits by itself once the grace is over */
  cr_assert(WIFEXITED(st) && WEXITSTATUS(st) == 0, "status %d", st);
  r = serve_sh(s, "ls -A \"$S\" | wc -l");
  cr_assert_str_eq(r.out, "0\n", "a partial object is left: %s", r.out);
  cli_result_free(&r);
  log = serve_log(s);
  cr_assert(strstr(log, "grace over") != NULL, "%s", log);
  free(log);
  close(fd);
  s->pid = getpid() + 1000000; /* already reaped: nothing to stop */
  cli_rmtree(s->dir);
  free(s->dir);
  free(s);
}

Test(serve_ops, metrics_are_valid_prometheus_text_with_counts_by_route_and_status) {
  serve_t* s = serve_start("");
  cli_result_t r = serve_sh(s,
      "printf abc | curl -sS -o /dev/null -T - \"$U/v1/objects/m\"; "
      "curl -sS -o /dev/null \"$U/v1/objects/m\"; curl -sS -o /dev/null \"$U/v1/objects/none\"; "
      "curl -sS \"$U/metrics\" > \"$D/m\"; /usr/bin/python3 -c '\n"
      "import sys\n"
      "from prometheus_client.parser import text_string_to_metric_families\n"
      "v = {}\n"
      "for fam in text_string_to_metric_families(open(sys.argv[1]).read()):\n"
      "    for smp in fam.samples:\n"
      "        v[(smp.name, tuple(sorted(smp.labels.items())))] = smp.value\n"
      "def g(n, **l): return v.get((n, tuple(sorted(l.items()))))\n"
      "print(g(\"pipe_http_requests_total\", route=\"/v1/objects\", status=\"201\"),\n"
      "      g(\"pipe_http_requests_total\", route=\"/v1/objects\", status=\"200\"),\n"
      "      g(\"pipe_http_requests_total\", route=\"/v1/objects\", status=\"404\"),\n"
      "      g(\"pipe_http_stored_bytes_total\"), g(\"pipe_http_uploads_in_flight\"),\n"
      "      g(\"pipe_http_stage_bytes_total\", stage=\"hash\") is not None,\n"
      "      g(\"pipe_http_backpressure_seconds_total\") is not None)\n"
      "t = {f.name: f.type for f in text_string_to_metric_families(open(sys.argv[1]).read())}\n"
      "print(t[\"pipe_cpu_jobs_running\"], t[\"pipe_cpu_jobs_queued\"], t[\"pipe_cpu_jobs_budget\"],\n"
      "      t[\"pipe_cpu_jobs_waited\"], g(\"pipe_cpu_jobs_budget\") >= 1,\n"
      "      g(\"pipe_cpu_jobs_running\"), g(\"pipe_cpu_jobs_queued\"), g(\"pipe_cpu_jobs_waited_total\"),\n"
      "      \"pipe_http_cpu_jobs_reserved\" in t)\n"
      "' \"$D/m\"");
  cr_assert_str_eq(r.out,
                   "1.0 1.0 1.0 3.0 0.0 True True\n"
                   "gauge gauge gauge counter True 0.0 0.0 0.0 False\n",
                   "%s %s", r.out, r.err);
  cli_result_free(&r);
  cr_assert_eq(serve_stop(s, 0), 0);
}

Test(serve_ops, workers_share_the_port_and_a_crashed_one_is_restarted) {
  serve_t* s = serve_start("--workers 2");
  cli_result_t r;
  char* log;
  const char* w;
  int worker = 0;
  /* Enough connections that both workers take some. */
  r = serve_sh(s, "for i in $(seq 40); do curl -sS -o /dev/null -w '%%{http_code}\\n' \"$U/healthz\"; done | sort | uniq -c | tr -s ' '");
  cr_assert_str_eq(r.out, " 40 200\n", "%s", r.out);
  cli_result_free(&r);
  log = serve_log(s);
  w = strstr(log, "\"msg\":\"worker started\",\"worker\":");
  cr_assert_not_null(w, "%s", log);
  worker = atoi(w + strlen("\"msg\":\"worker started\",\"worker\":"));
  free(log);
  cr_assert_gt(worker, 0);
  kill(worker, SIGKILL); /* a crash */
  r = serve_sh(s, "sleep 1.5; for i in $(seq 10); do curl -sS -o /dev/null -w '%%{http_code}\\n' \"$U/healthz\"; done | sort | uniq -c | tr -s ' '; "
                  "grep -c '\"msg\":\"worker started\"' \"$D/log\"; grep -c '\"msg\":\"worker exited\"' \"$D/log\"");
  cr_assert_str_eq(r.out, " 10 200\n3\n1\n", "%s", r.out);
  cli_result_free(&r);
  cr_assert_eq(serve_stop(s, 0), 0);
}

/* --max-cpu-jobs is the budget of the server's context: the gzip jobs of
 * all uploads queue for it, first come first served, and are never
 * refused. Six concurrent gzip uploads with a budget of one: all stored
 * (201, no 503), each object gunzips to the bytes sent, and the budget's
 * counters show that jobs waited. */
Test(serve_ops, max_cpu_jobs_queues_the_gzip_jobs_of_all_uploads_in_one_budget) {
  serve_t* s = serve_start("--max-cpu-jobs 1");
  char in[600];
  cli_result_t r;
  int i;
  for (i = 1; i <= 6; i++) {
    snprintf(in, sizeof(in), "%s/in%d", s->dir, i);
    cr_assert_eq(serve_make_file(in, (3u << 20) + (size_t)i * 77777, 100 + i), 0);
  }
  r = serve_sh(s,
      "for i in 1 2 3 4 5 6; do "
      "curl -sS -o \"$D/r$i\" -w '%%{http_code}\\n' -T \"$D/in$i\" \"$U/v1/objects/o$i?pipeline=gzip\" & "
      "done; wait");
  cr_assert_str_eq(r.out, "201\n201\n201\n201\n201\n201\n", "%s %s", r.out, r.err);
  cli_result_free(&r);
  r = serve_sh(s,
      "for i in 1 2 3 4 5 6; do "
      "a=$(gunzip < \"$S/o$i\" | sha256sum | cut -c1-64); b=$(sha256sum < \"$D/in$i\" | cut -c1-64); "
      "[ -n \"$a\" ] && [ \"$a\" = \"$b\" ] && echo same || echo \"o$i differs\"; done");
  cr_assert_str_eq(r.out, "same\nsame\nsame\nsame\nsame\nsame\n", "%s %s", r.out, r.err);
  cli_result_free(&r);
  r = serve_sh(s,
      "curl -sS \"$U/metrics\" > \"$D/m\"; /usr/bin/python3 -c '\n"
      "import sys\n"
      "from prometheus_client.parser import text_string_to_metric_families\n"
      "v = {}\n"
      "for fam in text_string_to_metric_families(open(sys.argv[1]).read()):\n"
      "    for smp in fam.samples:\n"
      "        v[smp.name] = smp.value\n"
      "print(v[\"pipe_cpu_jobs_budget\"], v[\"pipe_cpu_jobs_waited_total\"] > 0,\n"
      "      v[\"pipe_cpu_jobs_running\"], v[\"pipe_cpu_jobs_queued\"],\n"
      "      v[\"pipe_http_uploads_rejected_total\"])\n"
      "' \"$D/m\"");
  cr_assert_str_eq(r.out, "1.0 True 0.0 0.0 0.0\n", "%s %s", r.out, r.err);
  cli_result_free(&r);
  cr_assert_eq(serve_stop(s, 0), 0);
}

Test(serve_ops, listen_comes_from_pipe_listen_and_bad_values_are_usage_errors) {
  cli_result_t r = cli_exec(
      "d=$(mktemp -d); PIPE_LISTEN=127.0.0.1:0 \"$PIPE\" serve --store \"$d/s\" --port-file \"$d/p\" 2>/dev/null & pid=$!; "
      "for i in $(seq 100); do [ -s \"$d/p\" ] && break; sleep 0.05; done; "
      "curl -sS \"http://127.0.0.1:$(cat \"$d/p\")/healthz\"; kill $pid; wait $pid; echo rc=$?; "
      "\"$PIPE\" serve --listen nowhere --store \"$d/s\" 2>&1; echo rc=$?; "
      "\"$PIPE\" serve --listen 127.0.0.1:99999 --store \"$d/s\" 2>&1; echo rc=$?; "
      "\"$PIPE\" serve --bogus 2>&1; echo rc=$?; rm -rf \"$d\"", NULL);
  cr_assert(strstr(r.out, "{\"status\":\"ok\"}\nrc=0\n") != NULL, "%s", r.out);
  cr_assert(strstr(r.out, "--listen must be HOST:PORT") != NULL, "%s", r.out);
  cr_assert(strstr(r.out, "unknown option '--bogus'") != NULL, "%s", r.out);
  {
    const char* p = r.out;
    int n = 0;
    while ((p = strstr(p, "rc=2")) != NULL) {
      n++;
      p++;
    }
    cr_assert_eq(n, 3, "%s", r.out);
  }
  cli_result_free(&r);
}

Test(serve_ops, a_port_in_use_is_reported_and_exits_3) {
  serve_t* s = serve_start("");
  cli_result_t r = serve_sh(s, "\"$PIPE\" serve --listen 127.0.0.1:%d --store \"$D/s2\" 2>&1; echo rc=$?", s->port);
  cr_assert(strstr(r.out, "address already in use") != NULL, "%s", r.out);
  cr_assert(strstr(r.out, "rc=3") != NULL, "%s", r.out);
  cli_result_free(&r);
  cr_assert_eq(serve_stop(s, 0), 0);
}

Test(serve_ops, a_drain_under_load_finishes_every_upload_in_flight) {
  /* Six uploads paced by curl --limit-rate, SIGTERM while all are running:
   * every one completes with 201 and its bytes, then the server exits 0. */
  serve_t* s = serve_start("--grace 30");
  cli_result_t r = serve_sh(s,
      "head -c 1500000 /dev/urandom > \"$D/f\"; want=$(sha256sum < \"$D/f\" | cut -c1-64); "
      "for i in 1 2 3 4 5 6; do curl -sS --limit-rate 1M -o \"$D/r$i\" -w '%%{http_code}\\n' "
      "  -F \"f=@$D/f\" \"$U/v1/uploads\" > \"$D/c$i\" & done; "
      "sleep 0.5; kill -TERM %d; wait; cat \"$D\"/c* | sort | uniq -c | tr -s ' '; "
      "for i in 1 2 3 4 5 6; do k=$(grep -o '\"key\":\"[^\"]*\"' \"$D/r$i\" | cut -d'\"' -f4); "
      "  [ \"$(sha256sum < \"$S/$k\" | cut -c1-64)\" = \"$want\" ] && echo same; done | uniq -c | tr -s ' '",
      (int)s->pid);
  cr_assert_str_eq(r.out, " 6 201\n 6 same\n", "%s %s", r.out, r.err);
  cli_result_free(&r);
  cr_assert_eq(serve_stop(s, 0), 0);
}

Test(serve_ops, multipart_count_and_header_limits_are_413_and_store_nothing) {
  serve_t* s = serve_start("--max-parts 3 --max-fields 1 --max-part-header-size 200");
  cli_result_t r = serve_sh(s,
      "printf x > \"$D/x\"; "
      "curl -sS -F a=1 -F b=2 \"$U/v1/uploads\" -w ' %%{http_code}\\n'; "
      "curl -sS -F \"a=@$D/x\" -F \"b=@$D/x\" -F \"c=@$D/x\" -F \"d=@$D/x\" \"$U/v1/uploads\" -w ' %%{http_code}\\n'; "
      "curl -sS -F \"a=@$D/x;filename=$(head -c 300 /dev/zero | tr '\\0' n)\" \"$U/v1/uploads\" -w ' %%{http_code}\\n'; "
      "ls -A \"$S\" | wc -l");
  cr_assert(strstr(r.out, "EMPFIELDS") != NULL, "%s", r.out);
  cr_assert(strstr(r.out, "EMPPARTS") != NULL, "%s", r.out);
  cr_assert(strstr(r.out, "EMPHDRSIZE") != NULL, "%s", r.out);
  {
    const char* p = r.out;
    int n = 0;
    while ((p = strstr(p, " 413\n")) != NULL) {
      n++;
      p++;
    }
    cr_assert_eq(n, 3, "%s", r.out);
  }
  cr_assert(strstr(r.out, " 413\n0\n") != NULL, "%s", r.out);
  cli_result_free(&r);
  cr_assert_eq(serve_stop(s, 0), 0);
}

static long long rchar(pid_t pid) {
  char path[64], line[128];
  long long v = -1;
  FILE* f;
  snprintf(path, sizeof(path), "/proc/%d/io", (int)pid);
  f = fopen(path, "r");
  cr_assert(f != NULL);
  while (fgets(line, sizeof(line), f) != NULL)
    if (sscanf(line, "rchar: %lld", &v) == 1) break;
  fclose(f);
  return v;
}

Test(serve_ops, a_client_that_does_not_read_pauses_the_reads_from_storage) {
  serve_t* s = serve_start("");
  char obj[600];
  const char req[] = "GET /v1/objects/big HTTP/1.1\r\nHost: x\r\n\r\n";
  long long before, during;
  size_t total = 0;
  int fd, rcv = 4096;
  cli_result_t r;
  snprintf(obj, sizeof(obj), "%s/big", s->store);
  serve_make_file(obj, (size_t)64 << 20, 5);
  fd = socket(AF_INET, SOCK_STREAM, 0);
  setsockopt(fd, SOL_SOCKET, SO_RCVBUF, &rcv, sizeof(rcv)); /* a small window */
  {
    struct sockaddr_in a;
    memset(&a, 0, sizeof(a));
    a.sin_family = AF_INET;
    a.sin_port = htons((uint16_t)s->port);
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    cr_assert(connect(fd, (struct sockaddr*)&a, sizeof(a)) == 0);
  }
  before = rchar(s->pid);
  serve_send(fd, req, sizeof(req) - 1);
  usleep(1000000); /* we read nothing meanwhile */
  during = rchar(s->pid) - before;
  cr_log_info("server read %lld bytes from storage while the client read none", during);
  cr_assert_lt(during, 16 << 20, "the server read %lld bytes for a client that reads nothing", during);
  /* Then the client reads everything, and it is all there. */
  for (;;) {
    char buf[65536];
    struct pollfd p = {fd, POLLIN, 0};
    ssize_t n;
    if (poll(&p, 1, 5000) <= 0) break;
    n = recv(fd, buf, sizeof(buf), 0);
    if (n <= 0) break;
    total += (size_t)n;
    if (total >= ((size_t)64 << 20)) break;
  }
  cr_assert_geq(total, (size_t)64 << 20, "got %zu bytes", total);
  close(fd);
  r = serve_sh(s, "true");
  cli_result_free(&r);
  cr_assert_eq(serve_stop(s, 0), 0);
}
