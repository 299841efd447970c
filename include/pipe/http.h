/* pipe — the HTTP upload service (`pipe serve`).
 *
 *   pipe_http_config_t cfg;
 *   pipe_http_server_t* srv;
 *   pipe_http_config_init(&cfg);
 *   cfg.listen = "127.0.0.1:8080";
 *   cfg.store = "./store";
 *   pipe_http_server_new(loop, &cfg, &srv, &err);
 *   uv_run(loop, UV_RUN_DEFAULT);  // until pipe_http_server_drain()'s cb
 *   pipe_http_server_free(srv);
 *
 * HTTP/1.1 on libuv with http-parser: PUT/GET/HEAD /v1/objects/{key},
 * POST /v1/uploads (multipart/form-data), /healthz, /readyz, /metrics and
 * an upload page at /. Every upload streams through a pipeline (the
 * request body as a push source, the client's transforms, a SHA-256 hash,
 * the store's sink) with backpressure down to the socket. Every pipeline
 * is made in one library context (pipe_pipeline_new_in), whose CPU budget
 * all uploads' compression jobs share. README.md documents the routes,
 * limits and error bodies.
 *
 * Threads: loop thread only.
 */
#ifndef PIPE_HTTP_H
#define PIPE_HTTP_H

#include "pipe/export.h"

#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#include "pipe/error.h"

#ifdef __cplusplus
extern "C" {
#endif

struct uv_loop_s;
struct pipe_s3_options_s;
typedef struct pipe_http_server_s pipe_http_server_t;

/** The server's settings. pipe_http_config_init() fills the defaults; a
 *  limit of 0 then means "none". Strings are borrowed until
 *  pipe_http_server_new() returns (it copies what it keeps).
 *
 *  max_memory, max_uploads and max_connections are the whole server's:
 *  with `workers` processes sharing one listening socket (pipe_http_bind),
 *  each applies floor(limit / workers), at least 1 where a limit is set, so
 *  that together they admit what was configured. The kernel does not
 *  spread connections evenly between processes, so one worker can refuse
 *  while another has room. max_cpu_jobs stays per process: it budgets the
 *  process's own libuv thread pool. /metrics answers for the process the
 *  connection reached (pipe_http_worker_info names it). */
typedef struct pipe_http_config_s {
  const char* listen;           /* "HOST:PORT" (port 0: any free port) */
  const char* store;            /* local directory of objects, or
                                   "s3://bucket[/prefix]" */
  const char* const* tokens;    /* bearer tokens for /v1/ (NULL: none) */
  size_t ntokens;
  int insecure_no_auth;         /* allow a non-loopback listen without tokens */
  uint64_t max_body_size;       /* request body bytes: 64 GiB */
  uint64_t max_file_size;       /* bytes of one object as received: none */
  uint64_t max_header_size;     /* request line + headers: 32 KiB (431) */
  uint64_t max_part_header_size; /* a multipart part's header block: 16 KiB */
  uint64_t max_files, max_fields, max_parts; /* multipart: none */
  uint64_t max_field_size;      /* multipart text field: 1 MiB */
  uint64_t max_memory;          /* worst case of all pipelines: 1 GiB */
  unsigned max_uploads;         /* uploads in flight: none */
  size_t max_cpu_jobs;          /* CPU jobs (gzip blocks) of all uploads on
                                   libuv's thread pool at once, the rest
                                   queued (never refused): the budget of the
                                   server's context (pipe_ctx_set_cpu_jobs);
                                   0: min(CPUs, UV_THREADPOOL_SIZE - 1) */
  unsigned header_timeout_ms;   /* request head must arrive within: 10 s */
  unsigned idle_timeout_ms;     /* no byte from the client for: 60 s */
  unsigned max_connections;     /* connections open at once: 1024; one
                                   more is answered 503 (Retry-After: 1)
                                   and closed, never left in the backlog */
  int max_gzip_threads;         /* cap of a client's gzip --threads: 1 */
  size_t max_gzip_block;        /* cap of a client's gzip --block-size: 256 KiB */
  size_t buf_size;              /* pipeline buffers: 64 KiB */
  size_t pool_limit;            /* buffers per stage pool: 4 */
  FILE* log;                    /* JSON-lines access and error log: stderr */
  int use_listen_fd;            /* 1: listen on listen_fd (already bound, as
                                   pipe_http_bind() makes it) instead of
                                   binding `listen`: worker processes share
                                   one listening socket */
  int listen_fd;
  unsigned workers;             /* processes sharing the socket and the
                                   limits above (0 or 1: this one alone) */
  unsigned worker;              /* this process's index, 0..workers-1
                                   (/metrics: pipe_http_worker_info) */
  /* An s3:// store: its S3 settings (borrowed until pipe_http_server_new
   * returns; NULL: the environment and aws-cli's profile files decide, as
   * pipe_s3_config_load), part size and parts in flight per upload
   * (0: 8 MiB and 4). */
  const struct pipe_s3_options_s* s3;
  size_t s3_part_size;
  unsigned s3_concurrency;
} pipe_http_config_t;

/** Fills cfg with the defaults above. */
PIPE_EXTERN void pipe_http_config_init(pipe_http_config_t* cfg);

/** Opens the store, binds and starts listening. Returns 0 and *out, or
 *  < 0 with err filled (err may be NULL): PIPE_EUSAGE for a bad listen
 *  address or a non-loopback one without tokens, the bind's error
 *  (PIPE_EADDRINUSE...), the store's error. Loop thread only. */
PIPE_EXTERN int pipe_http_server_new(struct uv_loop_s* loop, const pipe_http_config_t* cfg,
                                     pipe_http_server_t** out, pipe_error_t* err);

/** Creates a TCP socket bound to `listen` ("HOST:PORT") and listening,
 *  for processes that share it (fork after this; each passes it as
 *  cfg->listen_fd). Returns 0 and *fd (close-on-exec), or < 0 with err
 *  filled: PIPE_EUSAGE for a bad address, the bind's error. */
PIPE_EXTERN int pipe_http_bind(const char* listen, int* fd, pipe_error_t* err);

/** The port actually bound (useful with port 0). */
PIPE_EXTERN int pipe_http_server_port(const pipe_http_server_t* srv);

typedef void (*pipe_http_drain_cb)(pipe_http_server_t* srv, void* ud);

/** Graceful stop: closes the listener, makes /readyz answer 503, lets
 *  requests in flight finish for up to grace_ms, then aborts what is left
 *  (pipelines torn down, partial objects removed); cb fires once every
 *  connection is closed. A second call shortens the grace to 0. */
PIPE_EXTERN void pipe_http_server_drain(pipe_http_server_t* srv, uint64_t grace_ms,
                                        pipe_http_drain_cb cb, void* ud);

/** Frees a drained server (after its drain cb fired). NULL is fine. */
PIPE_EXTERN void pipe_http_server_free(pipe_http_server_t* srv);

#ifdef __cplusplus
}
#endif
#endif /* PIPE_HTTP_H */
