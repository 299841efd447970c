/* The HTTP server's shared state (internal to src/http). */
#ifndef PIPE_HTTP_SERVER_INTERNAL_H
#define PIPE_HTTP_SERVER_INTERNAL_H

#include <stddef.h>
#include <stdint.h>
#include <uv.h>

#include "http/http_util.h"
#include "http/store.h"
#include "pipe/http.h"
#include "pipe/pipeline.h"
#include "pipe/spec.h"

/* Requests counted by route and status (Prometheus labels). */
#define PIPE_HTTP_METRIC_SLOTS 64
typedef struct pipe_http_req_count_s {
  const char* route; /* static string */
  int status;
  uint64_t n;
} pipe_http_req_count_t;

typedef struct pipe_http_metrics_s {
  pipe_http_req_count_t reqs[PIPE_HTTP_METRIC_SLOTS];
  size_t nreqs;
  uint64_t bytes_in;       /* bytes read from clients (all of it) */
  uint64_t bytes_out;      /* response body bytes */
  uint64_t stored_bytes;   /* bytes written to the store by uploads */
  uint64_t rejected;       /* uploads refused by admission (503) */
  uint64_t stage_ns[8];    /* time downstream-blocked, per stage kind */
  uint64_t stage_bytes[8]; /* bytes through, per stage kind */
  const char* stage_names[8];
  size_t nstages;
  uint64_t source_blocked_ns; /* backpressure at the request body */
  uint64_t conns_refused[2];  /* by pipe_http_refuse_t below */
  uint64_t accept_paused;     /* accept errors that paused the listener */
  uint64_t conns_reclaimed;   /* idle keep-alive connections closed at the cap */
} pipe_http_metrics_t;

/* Why the listener refused a connection (listener.c): the refusal log and
 * pipe_http_connections_refused_total{reason}. PIPE_HTTP_ACCEPT_PAUSED is
 * not a refusal (the connections wait in the backlog) but shares the
 * log's rate limit. */
typedef enum {
  PIPE_HTTP_REFUSE_MAX_CONNS = 0, /* --max-connections (this worker's share) */
  PIPE_HTTP_REFUSE_FD_LIMIT = 1,  /* EMFILE/ENFILE: answered via the spare fd */
  PIPE_HTTP_ACCEPT_PAUSED = 2,
  PIPE_HTTP_REFUSE_NKINDS = 3
} pipe_http_refuse_t;

struct conn_s;

struct pipe_http_server_s {
  uv_loop_t* loop;
  pipe_http_config_t cfg; /* strings below are our copies */
  char* host;
  int port;
  /* The listener (listener.c): we accept ourselves, on a uv_poll_t. */
  int listen_fd;
  uv_poll_t accept_poll;
  uv_timer_t accept_timer;  /* the pause after an accept error */
  uv_timer_t refuse_timer;  /* the refusal log's one line a second */
  int accept_polling;       /* accept_poll is started */
  int refuse_timer_on;
  int spare_fd;             /* held for EMFILE (-1: none now) */
  uint64_t refuse_unlogged[PIPE_HTTP_REFUSE_NKINDS];
  int refuse_errno[PIPE_HTTP_REFUSE_NKINDS]; /* the last one, for the log */
  int listening;            /* listener handles not closed yet */
  pipe_store_t* store;
  struct pipe_ctx_s* ctx;     /* every pipeline is made in it: the store's
                                 (S3) or own_ctx; its CPU budget is
                                 --max-cpu-jobs */
  struct pipe_ctx_s* own_ctx; /* ours to free (the local store has none) */
  char** tokens;
  size_t ntokens;
  FILE* log;
  struct conn_s* conns;
  size_t nconns;   /* in the list, closing ones too (until their handles close) */
  size_t nclosing; /* of those, closing: their descriptors are gone already */
  unsigned uploads_in_flight;
  size_t mem_in_use;
  uint64_t req_seq;
  uint64_t id_seed;
  int draining;
  int aborting; /* the grace is over: connections are being cut */
  uv_timer_t grace;
  int grace_open;
  pipe_http_drain_cb drain_cb;
  void* drain_ud;
  int drain_fired;
  pipe_http_metrics_t metrics;
};

/* The listener (listener.c). start takes fd, a listening socket, in every
 * outcome; < 0: the handles that exist are closing (srv->listening says
 * when they are gone). close stops accepting, flushes the refusal log and
 * closes the handles; pipe__server_drain_check runs when they are gone. */
int pipe__listener_start(pipe_http_server_t* srv, int fd);
void pipe__listener_close(pipe_http_server_t* srv);

/* Connections (server.c). conn_new takes fd, an accepted socket, in every
 * outcome (closed on failure). */
int pipe__server_conn_new(pipe_http_server_t* srv, int fd);
void pipe__server_close_idle(pipe_http_server_t* srv);
/* At --max-connections: closes the connection that has waited longest for
 * its next request (keep-alive idle, nothing under way), as nginx reuses
 * its idle keep-alive connections when out of connections. 1 if one was
 * closed, 0 if none is idle. */
int pipe__server_reclaim_idle(pipe_http_server_t* srv);
void pipe__server_close_all(pipe_http_server_t* srv);

/* One JSON line in the log: {"ts","level","pid","msg"} then `fields`,
 * JSON members each led by a comma (NULL: none). */
void pipe__server_log(pipe_http_server_t* srv, const char* level,
                      const char* msg, const char* fields);

/* The body every error response carries:
 * {"error":{"status","code","message","request_id"}} and a newline. */
void pipe__server_error_body(pipe_sbuf_t* b, int status, const char* code,
                             const char* msg, const char* req_id);

/* A fresh request id (16 hex digits + NUL). */
void pipe__server_request_id(pipe_http_server_t* srv, char out[24]);

/* The one place pipelines are created, all in srv->ctx
 * (pipe_pipeline_new_in): the S3 stages find the client there, and every
 * upload's CPU jobs share its one budget. */
int pipe__server_pipeline_new(pipe_http_server_t* srv, pipe_pipeline_t** out);

/* The caps a client's transforms get, and the pool sizes of our pipelines. */
void pipe__server_spec_limits(const pipe_http_server_t* srv,
                              pipe_spec_limits_t* lim);

/* The upload page (one HTML file, NUL-terminated, static). */
const char* pipe__server_page(void);

/* Metrics (metrics.c). */
void pipe__metrics_request(pipe_http_server_t* srv, const char* route,
                           int status, uint64_t in, uint64_t out);
void pipe__metrics_stage(pipe_http_server_t* srv, const pipe_stage_t* s);
void pipe__server_metrics_render(pipe_http_server_t* srv, pipe_sbuf_t* b);

/* Called when a connection goes away: completes a drain. */
void pipe__server_drain_check(pipe_http_server_t* srv);

#endif /* PIPE_HTTP_SERVER_INTERNAL_H */
