/* The HTTP server object: configuration, listener, drain (see
 * include/pipe/http.h). Connections and routes are in server.c. */
#include <arpa/inet.h>
#include <errno.h>
#include <limits.h>
#include <stdlib.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <unistd.h>
#include <string.h>
#include <uv.h>

#include "http/server_internal.h"
#include "pipe/ctx.h"

void pipe_http_config_init(pipe_http_config_t* cfg) {
  memset(cfg, 0, sizeof(*cfg));
  cfg->listen = "127.0.0.1:8080";
  cfg->store = "./store";
  cfg->max_body_size = (uint64_t)64 << 30;
  cfg->max_header_size = 32 << 10;
  cfg->max_part_header_size = 16 << 10;
  cfg->max_field_size = 1 << 20;
  cfg->header_timeout_ms = 10000;
  cfg->idle_timeout_ms = 60000;
  cfg->max_connections = 1024;
  /* A budget by default: a server's memory must not grow with the number
   * of uploads unless the operator says so (0). 1 GiB is ~800 plain
   * uploads to the local store, or 25 to S3 (40 MiB of parts each). */
  cfg->max_memory = (uint64_t)1 << 30;
  /* Under load, threads per upload buy nothing (all uploads share the
   * CPU budget) and cost memory per upload: one thread and 256 KiB blocks
   * make gzip ~2 MiB of an upload's worst case instead of ~8.5 MiB, which
   * is what lets 16 gzip uploads fit in 64 MiB. The price: one gzip upload
   * alone runs at one core's speed (~53 MB/s of CSV at -6, measured in
   * bench/RESULTS.md), below a 1 Gbit/s client link. */
  cfg->max_gzip_threads = 1;
  cfg->max_gzip_block = (size_t)256 << 10;
  cfg->buf_size = 64 << 10;
  cfg->pool_limit = 4;
  cfg->log = stderr;
  cfg->use_listen_fd = 0;
  cfg->listen_fd = -1;
}

void pipe__server_request_id(pipe_http_server_t* srv, char out[24]) {
  /* A per-process random seed plus a counter, mixed (splitmix64): unique
   * per server, unguessable enough to not collide across restarts. */
  uint64_t z = srv->id_seed + (++srv->req_seq) * 0x9E3779B97F4A7C15ull;
  z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
  z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
  z ^= z >> 31;
  snprintf(out, 24, "%016llx", (unsigned long long)z);
}

int pipe__server_pipeline_new(pipe_http_server_t* srv, pipe_pipeline_t** out) {
  pipe_pipeline_config_t pc;
  memset(&pc, 0, sizeof(pc));
  pc.buf_size = srv->cfg.buf_size;
  pc.pool_limit = srv->cfg.pool_limit;
  pc.hwm = srv->cfg.pool_limit > 2 ? srv->cfg.pool_limit / 2 : 1;
  return pipe_pipeline_new_in(srv->ctx, &pc, out);
}

void pipe__server_spec_limits(const pipe_http_server_t* srv,
                              pipe_spec_limits_t* lim) {
  memset(lim, 0, sizeof(*lim));
  lim->max_threads = srv->cfg.max_gzip_threads;
  lim->max_block_size = srv->cfg.max_gzip_block;
  lim->max_stages = 16;
  lim->buf_size = srv->cfg.buf_size;
  lim->pool_limit = srv->cfg.pool_limit;
}

/* "HOST:PORT", "[v6]:PORT" or ":PORT" into addr. */
static int parse_listen(const char* s, struct sockaddr_storage* addr,
                        char* host, size_t hcap) {
  const char* colon = strrchr(s, ':');
  char* end;
  long port;
  size_t hl;
  if (colon == NULL) return PIPE_EUSAGE;
  port = strtol(colon + 1, &end, 10);
  if (colon[1] == '\0' || *end != '\0' || port < 0 || port > 65535)
    return PIPE_EUSAGE;
  hl = (size_t)(colon - s);
  if (hl >= 2 && s[0] == '[' && s[hl - 1] == ']') {
    s++;
    hl -= 2;
  }
  if (hl == 0) {
    s = "0.0.0.0";
    hl = 7;
  }
  if (hl >= hcap) return PIPE_EUSAGE;
  memcpy(host, s, hl);
  host[hl] = '\0';
  if (uv_ip4_addr(host, (int)port, (struct sockaddr_in*)addr) == 0) return 0;
  if (uv_ip6_addr(host, (int)port, (struct sockaddr_in6*)addr) == 0) return 0;
  return PIPE_EUSAGE;
}

static int is_loopback(const struct sockaddr_storage* a) {
  if (a->ss_family == AF_INET) {
    const struct sockaddr_in* v4 = (const struct sockaddr_in*)a;
    return (ntohl(v4->sin_addr.s_addr) >> 24) == 127;
  }
  if (a->ss_family == AF_INET6) {
    const struct sockaddr_in6* v6 = (const struct sockaddr_in6*)a;
    static const unsigned char lo[16] = {0, 0, 0, 0, 0, 0, 0, 0,
                                         0, 0, 0, 0, 0, 0, 0, 1};
    return memcmp(&v6->sin6_addr, lo, 16) == 0;
  }
  return 0;
}

static int seterr(pipe_error_t* err, int code, const char* msg,
                  const char* arg) {
  if (err != NULL) {
    memset(err, 0, sizeof(*err));
    err->code = code;
    snprintf(err->stage, sizeof(err->stage), "serve");
    snprintf(err->msg, sizeof(err->msg), "%s%s%s", msg, arg ? ": " : "",
             arg ? arg : "");
  }
  return code;
}

/* A TCP socket bound to addr and listening (close-on-exec); the listener
 * makes it non-blocking. 0 and *fd, or a negated errno. */
static int bind_listen(const struct sockaddr_storage* addr, int* fd) {
  int s, one = 1, e;
  *fd = -1;
  s = socket(addr->ss_family, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (s < 0) return -errno;
  (void)setsockopt(s, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
  if (bind(s, (const struct sockaddr*)addr,
           addr->ss_family == AF_INET6 ? sizeof(struct sockaddr_in6)
                                       : sizeof(struct sockaddr_in)) != 0 ||
      listen(s, 511) != 0) {
    e = -errno;
    close(s);
    return e;
  }
  *fd = s;
  return 0;
}

/* A limit of the whole server, as one of `workers` processes applies it:
 * an even share, at least 1 where it is set (0, none, stays 0). */
static uint64_t share(uint64_t total, unsigned workers) {
  if (total == 0 || workers <= 1) return total;
  return total / workers > 0 ? total / workers : 1;
}

/* nginx's "worker_connections exceed open file resource limit" warning:
 * past the descriptor limit, accept() fails before --max-connections is
 * reached (those connections get the fd_limit 503, listener.c). 64
 * descriptors are counted for the loop, the store, the log and the spare. */
static void fd_limit_check(pipe_http_server_t* srv) {
  struct rlimit rl;
  char f[160];
  if (srv->cfg.max_connections == 0 || getrlimit(RLIMIT_NOFILE, &rl) != 0 ||
      rl.rlim_cur == RLIM_INFINITY ||
      (uint64_t)srv->cfg.max_connections + 64 <= (uint64_t)rl.rlim_cur)
    return;
  snprintf(f, sizeof(f), ",\"max_connections\":%u,\"open_file_limit\":%llu",
           srv->cfg.max_connections, (unsigned long long)rl.rlim_cur);
  pipe__server_log(srv, "warn",
                   "--max-connections exceeds the open-file limit (ulimit "
                   "-n) less 64: connections past it get 503 fd_limit",
                   f);
}

/* A share of --max-memory below one plain upload's buffers (the body side
 * job_new counts: source, hash and sink pools, and the store's sink) admits
 * nothing: say so at start rather than by a 503 on every upload. */
static void memory_share_check(pipe_http_server_t* srv) {
  uint64_t plain = 3 * (uint64_t)srv->cfg.buf_size * srv->cfg.pool_limit;
  char f[200];
  if (srv->cfg.max_memory == 0) return;
  if (srv->store->ops->sink_mem != NULL) plain += srv->store->ops->sink_mem(srv->store);
  if (srv->cfg.max_memory >= plain) return;
  snprintf(f, sizeof(f), ",\"max_memory\":%llu,\"workers\":%u,\"upload_needs\":%llu",
           (unsigned long long)srv->cfg.max_memory, srv->cfg.workers,
           (unsigned long long)plain);
  pipe__server_log(srv, "warn",
                   "this worker's share of --max-memory is below what one "
                   "upload needs: every upload will be refused (503)",
                   f);
}

int pipe_http_server_new(uv_loop_t* loop, const pipe_http_config_t* cfg,
                         pipe_http_server_t** out, pipe_error_t* err) {
  pipe_http_server_t* srv;
  struct sockaddr_storage addr;
  struct sockaddr_storage bound;
  socklen_t blen = sizeof(bound);
  char host[256];
  int r, fd = -1;
  size_t i;
  *out = NULL;
  memset(&addr, 0, sizeof(addr));
  if (cfg->use_listen_fd) {
    socklen_t al = sizeof(addr);
    if (getsockname(cfg->listen_fd, (struct sockaddr*)&addr, &al) != 0)
      return seterr(err, -errno, "the listening socket is unusable", NULL);
    snprintf(host, sizeof(host), "(inherited)");
  } else if (parse_listen(cfg->listen != NULL ? cfg->listen : "", &addr, host,
                          sizeof(host)) < 0) {
    return seterr(err, PIPE_EUSAGE,
                  "--listen must be HOST:PORT (an IP address), got",
                  cfg->listen);
  }
  if (!is_loopback(&addr) && cfg->ntokens == 0 && !cfg->insecure_no_auth)
    return seterr(err, PIPE_EUSAGE,
                  "refusing to listen beyond loopback without "
                  "--auth-token-file (or --insecure-no-auth)",
                  cfg->listen);
  srv = calloc(1, sizeof(*srv));
  if (srv == NULL) return seterr(err, PIPE_ENOMEM, "out of memory", NULL);
  srv->loop = loop;
  srv->listen_fd = -1;
  srv->spare_fd = -1;
  srv->cfg = *cfg;
  /* The budgets are the server's, not each worker's: N workers sharing the
   * socket each admit their share, so together they admit what the
   * operator configured. (max_cpu_jobs is a thread-pool budget, and each
   * process has its own pool: it stays per process.) */
  srv->cfg.max_memory = share(cfg->max_memory, cfg->workers);
  srv->cfg.max_uploads = (unsigned)share(cfg->max_uploads, cfg->workers);
  srv->cfg.max_connections = (unsigned)share(cfg->max_connections, cfg->workers);
  srv->log = cfg->log;
  srv->cfg.listen = NULL;
  srv->cfg.store = NULL;
  srv->cfg.tokens = NULL;
  if (cfg->ntokens > 0) {
    srv->tokens = calloc(cfg->ntokens, sizeof(char*));
    if (srv->tokens == NULL) goto nomem;
    for (i = 0; i < cfg->ntokens; i++) {
      srv->tokens[i] = strdup(cfg->tokens[i]);
      if (srv->tokens[i] == NULL) goto nomem;
      srv->ntokens++;
    }
  }
  {
    uint64_t seed = 0;
    if (uv_random(NULL, NULL, &seed, sizeof(seed), 0, NULL) != 0)
      seed = uv_hrtime();
    srv->id_seed = seed;
  }
  if (cfg->store != NULL && strncmp(cfg->store, "s3://", 5) == 0) {
    pipe_error_t se;
    r = pipe__store_s3_new(loop, cfg->store, cfg->s3, cfg->s3_part_size,
                           cfg->s3_concurrency, &srv->store, &se);
    if (r < 0) {
      pipe_http_server_free(srv);
      return seterr(err, r, se.msg, NULL);
    }
  } else {
    r = pipe__store_local_new(cfg->store, &srv->store);
  }
  if (r < 0) {
    pipe_http_server_free(srv);
    return seterr(err, r, "cannot open the store", cfg->store);
  }
  /* One context for every upload's pipeline: the S3 store's (its client
   * lives there), else one of our own. Its CPU budget queues the gzip
   * jobs of all uploads together, leaving a pool thread for the store's
   * file writes. */
  if (srv->store->ops->ctx != NULL) {
    srv->ctx = srv->store->ops->ctx(srv->store);
  } else {
    r = pipe_ctx_new(loop, &srv->own_ctx);
    if (r < 0) goto nomem;
    srv->ctx = srv->own_ctx;
  }
  pipe_ctx_set_cpu_jobs(srv->ctx, cfg->max_cpu_jobs > UINT_MAX
                                      ? UINT_MAX
                                      : (unsigned)cfg->max_cpu_jobs);
  if (cfg->use_listen_fd) {
    fd = cfg->listen_fd;
    r = 0;
  } else {
    r = bind_listen(&addr, &fd);
  }
  if (r == 0) r = pipe__listener_start(srv, fd); /* takes fd */
  if (r < 0) {
    seterr(err, r, uv_strerror(r), cfg->listen);
    srv->draining = 1;
    srv->drain_fired = 1; /* nobody waits for this one */
    *out = srv; /* the caller runs the loop once and frees it */
    return r;
  }
  if (getsockname(srv->listen_fd, (struct sockaddr*)&bound, &blen) == 0)
    srv->port = ntohs(bound.ss_family == AF_INET6
                          ? ((struct sockaddr_in6*)&bound)->sin6_port
                          : ((struct sockaddr_in*)&bound)->sin_port);
  srv->host = strdup(host);
  fd_limit_check(srv);
  memory_share_check(srv);
  (void)srv->store->ops->ready(srv->store); /* an S3 store's first probe */
  *out = srv;
  return 0;
nomem:
  pipe_http_server_free(srv);
  return seterr(err, PIPE_ENOMEM, "out of memory", NULL);
}

int pipe_http_server_port(const pipe_http_server_t* srv) { return srv->port; }

int pipe_http_bind(const char* listen_addr, int* fd, pipe_error_t* err) {
  struct sockaddr_storage addr;
  char host[256];
  int e;
  *fd = -1;
  memset(&addr, 0, sizeof(addr));
  if (parse_listen(listen_addr != NULL ? listen_addr : "", &addr, host,
                   sizeof(host)) < 0)
    return seterr(err, PIPE_EUSAGE,
                  "--listen must be HOST:PORT (an IP address), got",
                  listen_addr);
  e = bind_listen(&addr, fd);
  if (e < 0) return seterr(err, e, uv_strerror(e), listen_addr);
  return 0;
}

static void grace_closed(uv_handle_t* h) {
  pipe_http_server_t* srv = h->data;
  srv->grace_open = 0;
  pipe__server_drain_check(srv);
}

void pipe__server_drain_check(pipe_http_server_t* srv) {
  if (!srv->draining || srv->drain_fired) return;
  if (srv->nconns > 0 || srv->listening) return;
  if (srv->grace_open) {
    if (!uv_is_closing((uv_handle_t*)&srv->grace)) {
      uv_timer_stop(&srv->grace);
      uv_close((uv_handle_t*)&srv->grace, grace_closed);
    }
    return;
  }
  srv->drain_fired = 1;
  if (srv->store->ops->close != NULL) srv->store->ops->close(srv->store);
  if (srv->drain_cb != NULL) srv->drain_cb(srv, srv->drain_ud);
}

static void grace_cb(uv_timer_t* t) {
  pipe__server_close_all(t->data);
}

void pipe_http_server_drain(pipe_http_server_t* srv, uint64_t grace_ms,
                            pipe_http_drain_cb cb, void* ud) {
  if (srv->draining) {
    if (srv->grace_open) uv_timer_start(&srv->grace, grace_cb, 0, 0);
    return;
  }
  srv->draining = 1;
  srv->drain_cb = cb;
  srv->drain_ud = ud;
  pipe__listener_close(srv);
  uv_timer_init(srv->loop, &srv->grace);
  srv->grace.data = srv;
  srv->grace_open = 1;
  uv_timer_start(&srv->grace, grace_cb, grace_ms, 0);
  pipe__server_close_idle(srv);
  pipe__server_drain_check(srv);
}

void pipe_http_server_free(pipe_http_server_t* srv) {
  size_t i;
  if (srv == NULL) return;
  if (srv->store != NULL) srv->store->ops->free(srv->store);
  if (srv->own_ctx != NULL) {
    pipe_ctx_close(srv->own_ctx, NULL, NULL); /* no handles: at once */
    pipe_ctx_free(srv->own_ctx);
  }
  for (i = 0; i < srv->ntokens; i++) free(srv->tokens[i]);
  free(srv->tokens);
  free(srv->host);
  free(srv);
}
