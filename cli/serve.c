/* pipe serve: the HTTP upload service (include/pipe/http.h). The command
 * parses flags, reads the token file, runs the server until SIGTERM or
 * SIGINT, then drains it (--grace) and exits 0. */
#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>
#include <uv.h>

#include "cli.h"
#include "pipe/http.h"

typedef struct serve_s {
  pipe_http_server_t* srv;
  uv_signal_t sigterm, sigint;
  uint64_t grace_ms;
  int drained;
} serve_t;

/* Bytes with an optional K/M/G/T suffix (binary). 0 and *out, or -1. */
static int parse_bytes(const char* s, uint64_t* out) {
  char* end;
  unsigned long long v;
  uint64_t mul = 1;
  if (s[0] < '0' || s[0] > '9') return -1;
  errno = 0;
  v = strtoull(s, &end, 10);
  if (errno != 0) return -1;
  switch (*end) {
    case '\0': break;
    case 'k': case 'K': mul = 1ull << 10; end++; break;
    case 'm': case 'M': mul = 1ull << 20; end++; break;
    case 'g': case 'G': mul = 1ull << 30; end++; break;
    case 't': case 'T': mul = 1ull << 40; end++; break;
    default: return -1;
  }
  if (*end != '\0' && strcmp(end, "iB") != 0 && strcmp(end, "B") != 0)
    return -1;
  if (v > UINT64_MAX / mul) return -1;
  *out = v * mul;
  return 0;
}

/* Seconds, possibly fractional, into milliseconds. */
static int parse_secs(const char* s, uint64_t* ms) {
  char* end;
  double v;
  errno = 0;
  v = strtod(s, &end);
  if (errno != 0 || *end != '\0' || end == s || v < 0 || v > 1e7) return -1;
  *ms = (uint64_t)(v * 1000.0 + 0.5);
  return 0;
}

/* One token per line; blank lines and lines starting with '#' skipped. */
static int read_tokens(const char* path, char*** out, size_t* n) {
  FILE* f = fopen(path, "r");
  char line[4096];
  char** v = NULL;
  size_t cnt = 0;
  *out = NULL;
  *n = 0;
  if (f == NULL) return -errno;
  while (fgets(line, sizeof(line), f) != NULL) {
    size_t l = strlen(line);
    char** nv;
    while (l > 0 && (line[l - 1] == '\n' || line[l - 1] == '\r' ||
                     line[l - 1] == ' ' || line[l - 1] == '\t'))
      line[--l] = '\0';
    if (l == 0 || line[0] == '#') continue;
    nv = realloc(v, (cnt + 1) * sizeof(*v));
    if (nv == NULL) break;
    v = nv;
    v[cnt] = strdup(line);
    if (v[cnt] == NULL) break;
    cnt++;
  }
  fclose(f);
  *out = v;
  *n = cnt;
  return 0;
}

static void write_port_file(const char* port_file, int port) {
  /* Written to a temp name and renamed: a reader never sees half. */
  char tmp[4096];
  FILE* f;
  snprintf(tmp, sizeof(tmp), "%s.tmp", port_file);
  f = fopen(tmp, "w");
  if (f != NULL) {
    fprintf(f, "%d\n", port);
    fclose(f);
    rename(tmp, port_file);
  }
}

static int serve_one(const pipe_http_config_t* cfg, uint64_t grace_ms,
                     const char* port_file);

/* The soft open-file limit is often 1024 (for select()'s sake; libuv uses
 * epoll) while the hard one is far higher: a process's connection cap would
 * then end in EMFILE before --max-connections. Raise the soft limit to what
 * the cap needs — two descriptors a connection (its socket and the file an
 * upload or a GET has open) plus 64 — within the hard limit, as Go's runtime
 * raises it for every program. The library warns if it is still short. */
static void raise_fd_limit(const pipe_http_config_t* cfg, unsigned workers) {
  struct rlimit rl;
  uint64_t per = cfg->max_connections, want;
  if (per == 0 || getrlimit(RLIMIT_NOFILE, &rl) != 0) return;
  if (workers > 1) per = per / workers > 0 ? per / workers : 1;
  want = 2 * per + 64;
  if (rl.rlim_cur == RLIM_INFINITY || (uint64_t)rl.rlim_cur >= want) return;
  rl.rlim_cur = rl.rlim_max != RLIM_INFINITY && (uint64_t)rl.rlim_max < want
                    ? rl.rlim_max
                    : (rlim_t)want;
  (void)setrlimit(RLIMIT_NOFILE, &rl);
}

/* ---- --workers N: a parent that keeps N server processes ------------------
 *
 * The parent binds the listening socket once and forks the workers, which
 * all accept on it (the kernel hands each connection to one of them, as
 * with Node's cluster or nginx's workers sharing a socket). A worker that
 * dies other than by our SIGTERM is restarted, after a second if it died
 * within a second of starting (no crash loop at full speed). SIGTERM or
 * SIGINT to the parent is passed to every worker, which drains as a single
 * server does; the parent exits 0 when all have exited. The signal flag is
 * the program's (cli/), not the library's. */
static volatile sig_atomic_t stop_signal;

static void on_parent_signal(int sig) { stop_signal = sig; }

/* Worker `index` (0..n-1; a restarted worker keeps its index): the limits
 * in cfg are the server's, and the library applies this worker's share
 * (cfg->workers is n). */
static pid_t spawn_worker(const pipe_http_config_t* cfg, unsigned index,
                          uint64_t grace_ms) {
  pid_t pid = fork();
  if (pid == 0) {
    pipe_http_config_t wc = *cfg;
    wc.worker = index;
    signal(SIGTERM, SIG_DFL);
    signal(SIGINT, SIG_DFL);
    _exit(serve_one(&wc, grace_ms, NULL));
  }
  if (pid > 0)
    fprintf(stderr, "{\"level\":\"info\",\"pid\":%d,\"msg\":\"worker started\","
            "\"worker\":%d}\n", (int)getpid(), (int)pid);
  return pid;
}

static int supervise(pipe_http_config_t* cfg, int n, uint64_t grace_ms,
                     const char* port_file) {
  struct sigaction sa;
  struct sockaddr_storage ss;
  socklen_t sl = sizeof(ss);
  pipe_error_t err;
  pid_t* pids;
  time_t* born;
  int fd, i, port = 0, alive, exit_code = CLI_EXIT_OK;
  if (pipe_http_bind(cfg->listen, &fd, &err) < 0) {
    fprintf(stderr, "pipe: serve: %s\n", err.msg);
    return err.code == PIPE_EUSAGE ? CLI_EXIT_USAGE : CLI_EXIT_IO;
  }
  if (getsockname(fd, (struct sockaddr*)&ss, &sl) == 0)
    port = ntohs(ss.ss_family == AF_INET6 ? ((struct sockaddr_in6*)&ss)->sin6_port
                                          : ((struct sockaddr_in*)&ss)->sin_port);
  cfg->use_listen_fd = 1;
  cfg->listen_fd = fd;
  cfg->workers = (unsigned)n;
  pids = calloc((size_t)n, sizeof(*pids));
  born = calloc((size_t)n, sizeof(*born));
  if (pids == NULL || born == NULL) {
    free(pids);
    free(born);
    close(fd);
    return CLI_EXIT_IO;
  }
  memset(&sa, 0, sizeof(sa));
  sa.sa_handler = on_parent_signal; /* no SA_RESTART: waitpid returns */
  sigemptyset(&sa.sa_mask);
  sigaction(SIGTERM, &sa, NULL);
  sigaction(SIGINT, &sa, NULL);
  for (i = 0; i < n; i++) {
    pids[i] = spawn_worker(cfg, (unsigned)i, grace_ms);
    born[i] = time(NULL);
  }
  /* The port file once the workers exist: a test or script may connect. */
  if (port_file != NULL) write_port_file(port_file, port);
  fprintf(stderr, "{\"level\":\"info\",\"pid\":%d,\"msg\":\"listening\",\"port\":%d,"
          "\"workers\":%d}\n", (int)getpid(), port, n);
  while (!stop_signal && exit_code == CLI_EXIT_OK) {
    int st;
    pid_t pid = waitpid(-1, &st, 0);
    if (pid < 0) {
      if (errno == EINTR) continue;
      break;
    }
    for (i = 0; i < n; i++) {
      if (pids[i] != pid) continue;
      fprintf(stderr, "{\"level\":\"error\",\"pid\":%d,\"msg\":\"worker exited\","
              "\"worker\":%d,\"status\":%d}\n", (int)getpid(), (int)pid,
              WIFEXITED(st) ? WEXITSTATUS(st) : 128 + WTERMSIG(st));
      pids[i] = 0;
      if (stop_signal) break;
      /* A worker that cannot even start (the store, the address) will not
       * start next time either: stop, with its exit code. */
      if (time(NULL) - born[i] < 2 && WIFEXITED(st) &&
          (WEXITSTATUS(st) == CLI_EXIT_USAGE || WEXITSTATUS(st) == CLI_EXIT_IO)) {
        exit_code = WEXITSTATUS(st);
        break;
      }
      if (time(NULL) - born[i] < 1) sleep(1);
      pids[i] = spawn_worker(cfg, (unsigned)i, grace_ms);
      born[i] = time(NULL);
    }
  }
  for (i = 0; i < n; i++)
    if (pids[i] > 0) kill(pids[i], SIGTERM);
  close(fd); /* the workers' copies go as they drain */
  do {
    alive = 0;
    for (i = 0; i < n; i++) {
      int st;
      if (pids[i] <= 0) continue;
      if (waitpid(pids[i], &st, 0) == pids[i] || errno != EINTR) pids[i] = 0;
      else alive = 1;
    }
  } while (alive);
  free(pids);
  free(born);
  return exit_code;
}

static void on_drained(pipe_http_server_t* srv, void* ud) {
  serve_t* s = ud;
  (void)srv;
  s->drained = 1;
  uv_close((uv_handle_t*)&s->sigterm, NULL);
  uv_close((uv_handle_t*)&s->sigint, NULL);
  /* Stopping the last handle of a signal makes libuv restore SIG_DFL: a
   * SIGTERM arriving now, while the drained server frees its state and
   * exits (under ASan, the leak check takes a while), would turn exit 0
   * into death by signal (143). The drain is done: ignore them. */
  signal(SIGTERM, SIG_IGN);
  signal(SIGINT, SIG_IGN);
}

static void on_signal(uv_signal_t* h, int signum) {
  serve_t* s = h->data;
  fprintf(stderr,
          "{\"level\":\"info\",\"msg\":\"%s: draining\",\"grace_ms\":%llu}\n",
          signum == SIGTERM ? "SIGTERM" : "SIGINT",
          (unsigned long long)s->grace_ms);
  pipe_http_server_drain(s->srv, s->grace_ms, on_drained, s);
}

/* The options that take a value (all but --insecure-no-auth). */
static int takes_value(const char* name) {
  static const char* const names[] = {
      "--listen", "--store", "--port-file", "--auth-token-file", "--grace",
      "--workers", "--max-cpu-jobs", "--max-uploads", "--max-body-size",
      "--max-file-size", "--max-header-size", "--max-part-header-size",
      "--max-files", "--max-fields", "--max-parts", "--max-field-size",
      "--max-memory", "--header-timeout", "--idle-timeout",
      "--max-connections"};
  size_t i;
  for (i = 0; i < sizeof(names) / sizeof(names[0]); i++)
    if (strcmp(name, names[i]) == 0) return 1;
  return 0;
}

int cli_serve_command(const cli_command_t* cmd, int argc, char** argv) {
  pipe_http_config_t cfg;
  cli_s3_t s3o;
  serve_t s;
  const char* port_file = NULL;
  const char* token_file = NULL;
  char** tokens = NULL;
  size_t ntokens = 0, i;
  int r, a, workers = 1;
  memset(&s, 0, sizeof(s));
  memset(&s3o, 0, sizeof(s3o));
  s.grace_ms = 30000;
  pipe_http_config_init(&cfg);
  if (getenv("PIPE_LISTEN") != NULL && getenv("PIPE_LISTEN")[0] != '\0')
    cfg.listen = getenv("PIPE_LISTEN");
  for (a = 1; a < argc; a++) {
    const char* o = argv[a];
    const char* v = NULL;
    const char* eq = strchr(o, '=');
    char name[64];
    uint64_t n = 0, ms = 0;
    if (strcmp(o, "-h") == 0 || strcmp(o, "--help") == 0) {
      printf("%s", cmd->usage);
      return CLI_EXIT_OK;
    }
    {
      /* An s3:// store's settings, as pipe cp takes them. */
      int m = cli_s3_option("serve", argc, argv, &a, &s3o);
      if (m < 0) return CLI_EXIT_USAGE;
      if (m > 0) continue;
    }
    if (strncmp(o, "--", 2) != 0)
      return cli_usage_error("serve", "unexpected argument '%s'", o);
    if (eq != NULL && (size_t)(eq - o) < sizeof(name)) {
      memcpy(name, o, (size_t)(eq - o));
      name[eq - o] = '\0';
      v = eq + 1;
    } else {
      snprintf(name, sizeof(name), "%s", o);
    }
    if (strcmp(name, "--insecure-no-auth") == 0) {
      cfg.insecure_no_auth = 1;
      continue;
    }
    if (!takes_value(name))
      return cli_usage_error("serve", "unknown option '%s'", name);
    if (v == NULL) {
      if (a + 1 >= argc)
        return cli_usage_error("serve", "option '%s' needs a value", name);
      v = argv[++a];
    }
#define BYTES(opt, field)                                                    \
  else if (strcmp(name, opt) == 0) {                                         \
    if (parse_bytes(v, &n) < 0)                                              \
      return cli_usage_error("serve", "%s: not a byte count: '%s'", opt, v); \
    cfg.field = n;                                                           \
  }
#define SECS(opt, field)                                                     \
  else if (strcmp(name, opt) == 0) {                                         \
    if (parse_secs(v, &ms) < 0 || ms > UINT32_MAX)                           \
      return cli_usage_error("serve", "%s: not seconds: '%s'", opt, v);      \
    cfg.field = (unsigned)ms;                                                \
  }
    if (strcmp(name, "--listen") == 0) cfg.listen = v;
    else if (strcmp(name, "--store") == 0) cfg.store = v;
    else if (strcmp(name, "--port-file") == 0) port_file = v;
    else if (strcmp(name, "--auth-token-file") == 0) token_file = v;
    else if (strcmp(name, "--grace") == 0) {
      if (parse_secs(v, &s.grace_ms) < 0)
        return cli_usage_error("serve", "--grace: not seconds: '%s'", v);
    } else if (strcmp(name, "--workers") == 0) {
      if (parse_bytes(v, &n) < 0 || n < 1 || n > 256)
        return cli_usage_error("serve", "--workers: 1..256, got '%s'", v);
      workers = (int)n;
    } else if (strcmp(name, "--max-cpu-jobs") == 0) {
      if (parse_bytes(v, &n) < 0 || n > 4096)
        return cli_usage_error("serve", "--max-cpu-jobs: not a count: '%s'", v);
      cfg.max_cpu_jobs = (size_t)n;
    } else if (strcmp(name, "--max-uploads") == 0) {
      if (parse_bytes(v, &n) < 0 || n > 1000000)
        return cli_usage_error("serve", "--max-uploads: not a count: '%s'", v);
      cfg.max_uploads = (unsigned)n;
    }
    BYTES("--max-body-size", max_body_size)
    BYTES("--max-file-size", max_file_size)
    BYTES("--max-header-size", max_header_size)
    BYTES("--max-part-header-size", max_part_header_size)
    BYTES("--max-files", max_files)
    BYTES("--max-fields", max_fields)
    BYTES("--max-parts", max_parts)
    BYTES("--max-field-size", max_field_size)
    BYTES("--max-memory", max_memory)
    SECS("--header-timeout", header_timeout_ms)
    SECS("--idle-timeout", idle_timeout_ms)
    else if (strcmp(name, "--max-connections") == 0) {
      if (parse_bytes(v, &n) < 0 || n > 1000000)
        return cli_usage_error("serve", "--max-connections: not a count: '%s'", v);
      cfg.max_connections = (unsigned)n;
    }
    else return cli_usage_error("serve", "unknown option '%s'", name);
#undef BYTES
#undef SECS
  }
  cfg.s3 = &s3o.opt;
  cfg.s3_part_size = s3o.part_size;
  cfg.s3_concurrency = s3o.concurrency;
  if (token_file != NULL) {
    r = read_tokens(token_file, &tokens, &ntokens);
    if (r < 0) {
      fprintf(stderr, "pipe: serve: cannot read %s: %s\n", token_file,
              strerror(-r));
      return CLI_EXIT_IO;
    }
    if (ntokens == 0) {
      fprintf(stderr, "pipe: serve: %s holds no token\n", token_file);
      return CLI_EXIT_USAGE;
    }
    cfg.tokens = (const char* const*)tokens;
    cfg.ntokens = ntokens;
  }
  raise_fd_limit(&cfg, (unsigned)workers);
  if (workers > 1) {
    r = supervise(&cfg, workers, s.grace_ms, port_file);
    for (i = 0; i < ntokens; i++) free(tokens[i]);
    free(tokens);
    return r;
  }
  r = serve_one(&cfg, s.grace_ms, port_file);
  for (i = 0; i < ntokens; i++) free(tokens[i]);
  free(tokens);
  return r;
}

/* One server process: runs until SIGTERM/SIGINT has drained it. Writes the
 * port file when port_file is not NULL. Returns the exit code. */
static int serve_one(const pipe_http_config_t* cfg, uint64_t grace_ms,
                     const char* port_file) {
  pipe_error_t err;
  serve_t s;
  uv_loop_t loop;
  int r;
  memset(&s, 0, sizeof(s));
  s.grace_ms = grace_ms;
  uv_loop_init(&loop);
  r = pipe_http_server_new(&loop, cfg, &s.srv, &err);
  if (r < 0) {
    fprintf(stderr, "pipe: serve: %s\n", err.msg);
    if (s.srv != NULL) {
      uv_run(&loop, UV_RUN_DEFAULT);
      pipe_http_server_free(s.srv);
    }
    uv_loop_close(&loop);
    return r == PIPE_EUSAGE ? CLI_EXIT_USAGE : CLI_EXIT_IO;
  }
  fprintf(stderr,
          "{\"level\":\"info\",\"pid\":%d,\"msg\":\"listening\",\"port\":%d,"
          "\"store\":\"%s\"}\n",
          (int)getpid(), pipe_http_server_port(s.srv), cfg->store);
  if (port_file != NULL) write_port_file(port_file, pipe_http_server_port(s.srv));
  uv_signal_init(&loop, &s.sigterm);
  uv_signal_init(&loop, &s.sigint);
  s.sigterm.data = s.sigint.data = &s;
  uv_signal_start(&s.sigterm, on_signal, SIGTERM);
  uv_signal_start(&s.sigint, on_signal, SIGINT);
  uv_run(&loop, UV_RUN_DEFAULT);
  pipe_http_server_free(s.srv);
  r = uv_loop_close(&loop);
  (void)r;
  return CLI_EXIT_OK;
}
