/* The HTTP upload service (see include/pipe/http.h).
 *
 * One libuv loop; per connection a uv_tcp_t, a uv_timer_t and an
 * http_parser. The parser is driven over one read buffer per connection:
 * `rbuf[rpos, rlen)` are bytes read but not parsed yet. Parsing stops
 * (http_parser_pause) in two cases, and reading the socket stops with it:
 *   - hold_body: the upload's pipeline is full (its push source answered
 *     PIPE_FULL) or a multipart part waits for the previous file's
 *     pipeline to finish. That is the backpressure: the kernel's receive
 *     buffer fills and the client's send stalls.
 *   - hold_resp: a request is complete but its response is not written
 *     yet; pipelined requests wait behind it (HTTP/1.1 order).
 * Both released, parsing resumes on what is left of rbuf, then reading.
 *
 * An upload (PUT or POST) is a job with one entry per object; an entry is
 * one pipeline: push source -> client's transforms -> sha256 -> store sink.
 * The response goes out when the body is complete and every pipeline has
 * finished; after a failure every object the job stored is removed first,
 * so a client that sees an error finds nothing stored. A job and a GET hold
 * a reference on their connection, which is freed when its handles are
 * closed and no reference is left.
 */
#include <errno.h>
#include <http_parser.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>
#include <uv.h>

#include "codec/multipart.h"
#include "http/http_util.h"
#include "http/server_internal.h"
#include "http/store.h"
#include "pipe/hash.h"
#include "pipe/http.h"
#include "pipe/pipeline.h"
#include "pipe/spec.h"
#include "stages/push_source.h"

#define READ_BUF_SIZE (64 * 1024)
#define MAX_URL 8192
#define GET_BUF_SIZE (64 * 1024)

enum { PH_IDLE, PH_HEADERS, PH_BODY, PH_DONE };
enum { JOB_PUT = 1, JOB_POST };

typedef struct conn_s conn_t;
typedef struct job_s job_t;
typedef struct entry_s entry_t;
typedef struct getj_s getj_t;

/* One object being stored: one pipeline. `pl` is NULL once it finished. */
struct entry_s {
  job_t* job;
  entry_t* next;
  char* field;    /* POST: the form field; NULL for PUT */
  char* filename; /* POST: as sent */
  char* key;
  pipe_pipeline_t* pl;
  pipe_stage_t *src, *hash, *sink;
  int started, done, status, stored;
  uint64_t bytes_in, bytes_out;
  char sha[65];
  char etag[48];
  char msg[800];
};

/* An upload request. `cur` receives body bytes now; `waiting` is a file
 * part whose pipeline starts when the previous one has finished (one
 * pipeline per request at a time: the memory admitted is one pipeline's). */
struct job_s {
  conn_t* c;
  pipe_http_server_t* srv;
  int kind;
  char* spec;
  size_t mem;
  entry_t *entries, *tail, *cur, *waiting;
  unsigned running;
  pipe_mp_t* mp;
  pipe_sbuf_t fields; /* JSON members "name":"value", comma separated */
  pipe_sbuf_t fval;   /* the text field being received */
  char* fname;
  uint8_t* pending; /* body bytes the parser has not taken yet (a part
                       waits): at most one socket read */
  size_t pending_len, pending_off;
  unsigned body_done : 1, failed : 1, finished : 1, src_full : 1,
      skip_part : 1;
  unsigned in_feed; /* inside pipe__mp_feed: job_check must not free */
  unsigned removing; /* asynchronous removals (remove_async) in flight */
  int removed;       /* the failed job's objects have been removed */
  int fail_status;
  char fail_code[32];
  char fail_msg[1200];
};

/* Streaming a stored object back: one buffer, read from storage only when
 * the previous write to the client has completed (a slow client pauses the
 * reads). */
struct getj_s {
  conn_t* c;
  uv_file fd;
  uint64_t off, left;
  char* buf;
  uv_fs_t req;
  int busy, dead;
  /* An asynchronous store (read_open): fd is -1. */
  pipe_store_read_t* rd;
  char* key;    /* for messages */
  unsigned wq;  /* writes of object bytes not completed yet */
  int paused;   /* the read waits for wq to fall */
};

struct conn_s {
  uv_tcp_t tcp;
  uv_timer_t timer;
  pipe_http_server_t* srv;
  conn_t *prev, *next;
  http_parser hp;
  char* rbuf;
  size_t rpos, rlen;
  unsigned refs;
  unsigned reading : 1, closing : 1, hold_body : 1, hold_resp : 1,
      msg_done : 1, resp_started : 1, resp_done : 1, close_after : 1,
      continue_sent : 1, in_parse : 1, paused : 1, last_value : 1,
      lingering : 1, head_req : 1, value_at_end : 1, head_seen : 1,
      kept_alive : 1; /* a request was answered: it waits for the next */
  uint64_t idle_since; /* uv_now when it began waiting (kept_alive) */
  unsigned crlf_need; /* bytes of a chunk's closing CRLF not seen yet */
  uv_shutdown_t shut;
  int phase;
  uint64_t hdr_deadline;
  char remote[64];
  /* The request. */
  pipe_sbuf_t url, hname, hval;
  size_t hbytes;
  unsigned nheaders;
  int cl_count, te_count, host_count, expect_continue, expect_bad;
  int te_bad, hdr_bad;
  char* content_type;
  char* auth;
  char* range;
  char* if_none_match;
  char req_id[24];
  uint64_t start_ns;
  uint64_t body_bytes;
  const char* route;
  job_t* job;
  getj_t* get;
  /* The response. */
  int status;
  uint64_t resp_bytes;
  unsigned writes;
  char err_msg[512];
};

typedef void (*write_done_cb)(conn_t* c, int status);
typedef struct wreq_s {
  uv_write_t req;
  conn_t* c;
  char* mem;
  write_done_cb done;
} wreq_t;

static void conn_close(conn_t* c);
static void conn_unref(conn_t* c);

/* http_parser_pause() asserts when the parser is in an error state (a
 * malformed request being answered): pausing or resuming only makes sense
 * for a parser that is fine. */
static void hp_pause(http_parser* p, int on) {
  enum http_errno e = HTTP_PARSER_ERRNO(p);
  if (e == HPE_OK || e == HPE_PAUSED) http_parser_pause(p, on);
}
static void conn_resume(conn_t* c);
static void send_error(conn_t* c, int status, const char* code,
                       const char* fmt, ...)
#if defined(__GNUC__)
    __attribute__((format(printf, 4, 5)))
#endif
    ;
static int job_check(job_t* j);
static void job_fail(job_t* j, int status, const char* code, const char* fmt,
                     ...)
#if defined(__GNUC__)
    __attribute__((format(printf, 4, 5)))
#endif
    ;
static void job_try_resume(job_t* j);
static int check_crlf(conn_t* c, size_t off);
static void alloc_cb(uv_handle_t* h, size_t suggested, uv_buf_t* out);
static void read_cb(uv_stream_t* st, ssize_t n, const uv_buf_t* buf);

/* ---- log ------------------------------------------------------------------ */

static void log_start(pipe_http_server_t* srv, pipe_sbuf_t* b,
                      const char* level, const char* msg) {
  struct timespec ts;
  struct tm tm;
  char when[40];
  clock_gettime(CLOCK_REALTIME, &ts);
  gmtime_r(&ts.tv_sec, &tm);
  strftime(when, sizeof(when), "%Y-%m-%dT%H:%M:%S", &tm);
  (void)srv;
  pipe__sbuf_printf(b, "{\"ts\":\"%s.%03ldZ\",\"level\":\"%s\",\"pid\":%d,\"msg\":",
                    when, ts.tv_nsec / 1000000, level, (int)getpid());
  pipe__sbuf_json(b, msg, strlen(msg));
}

static void log_end(pipe_http_server_t* srv, pipe_sbuf_t* b) {
  pipe__sbuf_puts(b, "}\n");
  if (srv->log != NULL && !b->oom) {
    fwrite(b->p, 1, b->len, srv->log);
    fflush(srv->log);
  }
  pipe__sbuf_free(b);
}

static void log_kv(pipe_sbuf_t* b, const char* k, const char* v) {
  pipe__sbuf_printf(b, ",\"%s\":", k);
  pipe__sbuf_json(b, v, strlen(v));
}

void pipe__server_log(pipe_http_server_t* srv, const char* level,
                      const char* msg, const char* fields) {
  pipe_sbuf_t b = {0};
  log_start(srv, &b, level, msg);
  if (fields != NULL) pipe__sbuf_puts(&b, fields);
  log_end(srv, &b);
}

/* An error event tied to a request (or NULL). */
static void log_error(pipe_http_server_t* srv, conn_t* c, const char* fmt, ...)
#if defined(__GNUC__)
    __attribute__((format(printf, 3, 4)))
#endif
    ;
static void log_error(pipe_http_server_t* srv, conn_t* c, const char* fmt,
                      ...) {
  pipe_sbuf_t b = {0};
  char msg[512];
  va_list ap;
  va_start(ap, fmt);
  vsnprintf(msg, sizeof(msg), fmt, ap);
  va_end(ap);
  log_start(srv, &b, "error", msg);
  if (c != NULL) {
    log_kv(&b, "request_id", c->req_id);
    log_kv(&b, "remote", c->remote);
  }
  log_end(srv, &b);
}

static void log_access(conn_t* c) {
  pipe_http_server_t* srv = c->srv;
  pipe_sbuf_t b = {0};
  double ms = (double)(uv_hrtime() - c->start_ns) / 1e6;
  log_start(srv, &b, "info", "request");
  log_kv(&b, "request_id", c->req_id);
  log_kv(&b, "remote", c->remote);
  log_kv(&b, "method", c->head_seen ? http_method_str((enum http_method)c->hp.method) : "-");
  log_kv(&b, "path", c->url.p != NULL ? c->url.p : "");
  pipe__sbuf_printf(&b,
                    ",\"status\":%d,\"bytes_in\":%llu,\"bytes_out\":%llu,"
                    "\"ms\":%.3f",
                    c->status, (unsigned long long)c->body_bytes,
                    (unsigned long long)c->resp_bytes, ms);
  if (c->err_msg[0] != '\0') log_kv(&b, "error", c->err_msg);
  log_end(srv, &b);
  pipe__metrics_request(srv, c->route != NULL ? c->route : "other",
                        c->status, c->body_bytes, c->resp_bytes);
}

/* ---- writing ---------------------------------------------------------------- */

static void write_cb(uv_write_t* req, int status) {
  wreq_t* w = (wreq_t*)req;
  conn_t* c = w->c;
  free(w->mem);
  c->writes--;
  if (w->done != NULL) w->done(c, status);
  free(w);
  if (status < 0) conn_close(c);
  conn_unref(c);
}

/* Writes mem[0,len) (takes mem: freed after the write). */
static int conn_write(conn_t* c, char* mem, size_t len, write_done_cb done) {
  wreq_t* w;
  uv_buf_t b;
  int r;
  if (c->closing) {
    free(mem);
    return PIPE_ECANCELED;
  }
  w = calloc(1, sizeof(*w));
  if (w == NULL) {
    free(mem);
    conn_close(c);
    return PIPE_ENOMEM;
  }
  w->c = c;
  w->mem = mem;
  w->done = done;
  b = uv_buf_init(mem, (unsigned)len);
  c->refs++;
  c->writes++;
  r = uv_write(&w->req, (uv_stream_t*)&c->tcp, &b, 1, write_cb);
  if (r < 0) {
    c->writes--;
    free(mem);
    free(w);
    conn_close(c);
    conn_unref(c);
    return r;
  }
  return 0;
}

static const char* status_text(int s) {
  switch (s) {
    case 100: return "Continue";
    case 200: return "OK";
    case 201: return "Created";
    case 204: return "No Content";
    case 206: return "Partial Content";
    case 304: return "Not Modified";
    case 400: return "Bad Request";
    case 401: return "Unauthorized";
    case 404: return "Not Found";
    case 405: return "Method Not Allowed";
    case 408: return "Request Timeout";
    case 411: return "Length Required";
    case 413: return "Content Too Large";
    case 414: return "URI Too Long";
    case 415: return "Unsupported Media Type";
    case 416: return "Range Not Satisfiable";
    case 417: return "Expectation Failed";
    case 409: return "Conflict";
    case 422: return "Unprocessable Content";
    case 431: return "Request Header Fields Too Large";
    case 500: return "Internal Server Error";
    case 501: return "Not Implemented";
    case 502: return "Bad Gateway";
    case 503: return "Service Unavailable";
    case 505: return "HTTP Version Not Supported";
    case 507: return "Insufficient Storage";
    default: return "Unknown";
  }
}

/* The request is over from the parser's side, or will never be: whether
 * the connection can carry another. */
static int can_keep_alive(conn_t* c) {
  return !c->close_after && !c->srv->draining && http_should_keep_alive(&c->hp);
}

static void next_request(conn_t* c);
static void conn_linger(conn_t* c);

/* 1 while request body bytes are still to come (at or after the head). */
static int body_pending(const conn_t* c) {
  if (c->msg_done) return 0;
  if (c->hp.flags & F_CHUNKED) return 1;
  return c->cl_count > 0 && c->hp.content_length != ULLONG_MAX &&
         c->hp.content_length > 0;
}

/* The final response's last byte is written. */
static void resp_written(conn_t* c, int status) {
  if (status < 0) return; /* write_cb closes */
  c->resp_done = 1;
  log_access(c);
  if (c->close_after || body_pending(c)) {
    /* The body was not read (an early error): the connection cannot be
     * reused; close it so the client does not wait. */
    c->close_after = 1;
    conn_linger(c);
    return;
  }
  next_request(c);
}

/* Starts the response: status line, headers (extra: already CRLF'd lines),
 * and optionally the whole body (copied). When `complete`, this is all of
 * it. */
static void send_head(conn_t* c, int status, const char* extra,
                      const char* ctype, uint64_t clen, const void* body,
                      size_t blen, int complete) {
  pipe_sbuf_t b = {0};
  if (c->closing || c->resp_started) return;
  c->resp_started = 1;
  c->status = status;
  if (body_pending(c)) c->close_after = 1; /* body not read: cannot reuse */
  if (!can_keep_alive(c)) c->close_after = 1;
  pipe__sbuf_printf(&b, "HTTP/1.1 %d %s\r\n", status, status_text(status));
  pipe__sbuf_printf(&b, "X-Request-Id: %s\r\n", c->req_id);
  if (ctype != NULL) pipe__sbuf_printf(&b, "Content-Type: %s\r\n", ctype);
  /* A 304 describes the object it did not send: no Content-Length 0. */
  if (status != 304 && status != 204)
    pipe__sbuf_printf(&b, "Content-Length: %llu\r\n", (unsigned long long)clen);
  if (c->close_after) pipe__sbuf_puts(&b, "Connection: close\r\n");
  if (extra != NULL) pipe__sbuf_puts(&b, extra);
  pipe__sbuf_puts(&b, "\r\n");
  if (body != NULL && blen > 0) pipe__sbuf_add(&b, body, blen);
  if (b.oom) {
    pipe__sbuf_free(&b);
    conn_close(c);
    return;
  }
  c->resp_bytes += blen;
  conn_write(c, b.p, b.len, complete ? resp_written : NULL);
}

static void send_json(conn_t* c, int status, const char* extra,
                      const pipe_sbuf_t* body) {
  int head = c->head_req;
  send_head(c, status, extra, "application/json", body->len,
            head ? NULL : body->p, head ? 0 : body->len, 1);
}

void pipe__server_error_body(pipe_sbuf_t* b, int status, const char* code,
                             const char* msg, const char* req_id) {
  pipe__sbuf_printf(b, "{\"error\":{\"status\":%d,\"code\":", status);
  pipe__sbuf_json(b, code, strlen(code));
  pipe__sbuf_puts(b, ",\"message\":");
  pipe__sbuf_json(b, msg, strlen(msg));
  pipe__sbuf_puts(b, ",\"request_id\":");
  pipe__sbuf_json(b, req_id, strlen(req_id));
  pipe__sbuf_puts(b, "}}\n");
}

static void send_error_v(conn_t* c, int status, const char* code,
                         const char* extra, const char* fmt, va_list ap) {
  pipe_sbuf_t b = {0};
  char msg[1300];
  vsnprintf(msg, sizeof(msg), fmt, ap);
  if (c->resp_started || c->closing) return;
  snprintf(c->err_msg, sizeof(c->err_msg), "%.*s",
           (int)sizeof(c->err_msg) - 1, msg);
  pipe__server_error_body(&b, status, code, msg, c->req_id);
  send_json(c, status, extra, &b);
  pipe__sbuf_free(&b);
}

static void send_error(conn_t* c, int status, const char* code,
                       const char* fmt, ...) {
  va_list ap;
  va_start(ap, fmt);
  send_error_v(c, status, code, NULL, fmt, ap);
  va_end(ap);
}

static void send_error_x(conn_t* c, int status, const char* code,
                         const char* extra, const char* fmt, ...)
#if defined(__GNUC__)
    __attribute__((format(printf, 5, 6)))
#endif
    ;
static void send_error_x(conn_t* c, int status, const char* code,
                         const char* extra, const char* fmt, ...) {
  va_list ap;
  va_start(ap, fmt);
  send_error_v(c, status, code, extra, fmt, ap);
  va_end(ap);
}

/* An error found while parsing: answer it, stop reading, close after. */
static void fail_request(conn_t* c, int status, const char* code,
                         const char* msg) {
  c->close_after = 1;
  if (c->job != NULL) {
    job_fail(c->job, status, code, "%s", msg);
  } else if (!c->resp_started) {
    send_error(c, status, code, "%s", msg);
  }
  if (c->reading) {
    uv_read_stop((uv_stream_t*)&c->tcp);
    c->reading = 0;
  }
  hp_pause(&c->hp, 1);
  c->paused = 1;
}

/* ---- connection lifecycle ------------------------------------------------ */

static void reset_request(conn_t* c) {
  pipe__sbuf_reset(&c->url);
  pipe__sbuf_reset(&c->hname);
  pipe__sbuf_reset(&c->hval);
  free(c->content_type);
  free(c->auth);
  free(c->range);
  free(c->if_none_match);
  c->content_type = c->auth = c->range = c->if_none_match = NULL;
  c->hbytes = 0;
  c->nheaders = 0;
  c->cl_count = c->te_count = c->host_count = 0;
  c->expect_continue = c->expect_bad = c->te_bad = c->hdr_bad = 0;
  c->last_value = c->value_at_end = 0;
  c->crlf_need = 0;
  c->body_bytes = c->resp_bytes = 0;
  c->status = 0;
  c->route = NULL;
  c->msg_done = c->resp_started = c->resp_done = c->continue_sent = 0;
  c->head_req = c->head_seen = 0;
  c->err_msg[0] = '\0';
  c->req_id[0] = '\0';
  c->phase = PH_IDLE;
}

static void conn_free(conn_t* c) {
  pipe_http_server_t* srv = c->srv;
  if (c->prev != NULL)
    c->prev->next = c->next;
  else
    srv->conns = c->next;
  if (c->next != NULL) c->next->prev = c->prev;
  srv->nconns--;
  if (c->closing) srv->nclosing--;
  reset_request(c);
  pipe__sbuf_free(&c->url);
  pipe__sbuf_free(&c->hname);
  pipe__sbuf_free(&c->hval);
  free(c->rbuf);
  free(c);
  pipe__server_drain_check(srv);
}

static void conn_unref(conn_t* c) {
  if (--c->refs == 0) conn_free(c);
}

static void handle_closed(uv_handle_t* h) { conn_unref(h->data); }

static void get_abort(getj_t* g);

static void conn_close(conn_t* c) {
  if (c->closing) return;
  c->closing = 1;
  c->srv->nclosing++;
  if (c->job != NULL && !c->job->finished) {
    if (!c->resp_started && !c->srv->aborting) {
      log_error(c->srv, c, "client gone mid-upload: pipeline torn down");
      snprintf(c->err_msg, sizeof(c->err_msg), "client closed the connection");
    }
    job_fail(c->job, 499, "client_closed", "client closed the connection");
  }
  if (c->get != NULL) get_abort(c->get);
  if (c->phase != PH_IDLE && !c->resp_done && c->req_id[0] != '\0' &&
      !c->resp_started) {
    if (c->status == 0) c->status = 499; /* nginx: client closed request */
    log_access(c);
  }
  uv_read_stop((uv_stream_t*)&c->tcp);
  c->reading = 0;
  uv_timer_stop(&c->timer);
  uv_close((uv_handle_t*)&c->timer, handle_closed);
  uv_close((uv_handle_t*)&c->tcp, handle_closed);
}

/* ---- lingering close -------------------------------------------------------- */

/* Closing a socket with unread bytes in its receive buffer makes the kernel
 * send a reset, which can destroy the error response before the client has
 * read it (a 413 sent while the client is still uploading). So, as nginx's
 * lingering_close: send FIN, read and discard for a while, then close. */
static void linger_timeout(uv_timer_t* t) { conn_close(t->data); }

static void linger_shut_cb(uv_shutdown_t* req, int status) {
  conn_t* c = req->data;
  (void)status;
  if (!c->closing) {
    if (!c->reading &&
        uv_read_start((uv_stream_t*)&c->tcp, alloc_cb, read_cb) == 0)
      c->reading = 1;
    uv_timer_start(&c->timer, linger_timeout, 2000, 0);
  }
  conn_unref(c);
}

static void conn_linger(conn_t* c) {
  if (c->closing || c->lingering) return;
  c->lingering = 1;
  c->paused = 1;
  if (c->reading) {
    uv_read_stop((uv_stream_t*)&c->tcp);
    c->reading = 0;
  }
  uv_timer_stop(&c->timer);
  c->shut.data = c;
  c->refs++;
  if (uv_shutdown(&c->shut, (uv_stream_t*)&c->tcp, linger_shut_cb) < 0) {
    conn_unref(c);
    conn_close(c);
  }
}

/* ---- timers ---------------------------------------------------------------- */

static void timer_cb(uv_timer_t* t) {
  conn_t* c = t->data;
  if (c->closing) return;
  if (c->phase == PH_IDLE) { /* keep-alive idle: just close */
    conn_close(c);
    return;
  }
  if (c->phase == PH_HEADERS) {
    log_error(c->srv, c, "request head not received in time");
    fail_request(c, 408, "header_timeout",
                 "the request head did not arrive in time");
  } else {
    log_error(c->srv, c, "client idle while sending the body");
    fail_request(c, 408, "idle_timeout",
                 "no data from the client for too long");
  }
  if (!c->resp_started && c->job == NULL) conn_close(c);
}

/* Arms the timer for the current phase; stops it while we are the ones
 * not reading (backpressure, a response being written). */
static void timer_update(conn_t* c) {
  pipe_http_server_t* srv = c->srv;
  uint64_t ms = 0, now;
  if (c->closing || c->lingering) return;
  if (!c->reading) {
    uv_timer_stop(&c->timer);
    return;
  }
  now = uv_now(srv->loop);
  if (c->phase == PH_HEADERS && srv->cfg.header_timeout_ms > 0) {
    ms = c->hdr_deadline > now ? c->hdr_deadline - now : 1;
    if (srv->cfg.idle_timeout_ms > 0 && srv->cfg.idle_timeout_ms < ms)
      ms = srv->cfg.idle_timeout_ms;
  } else if (srv->cfg.idle_timeout_ms > 0) {
    ms = srv->cfg.idle_timeout_ms;
  }
  if (ms == 0)
    uv_timer_stop(&c->timer);
  else
    uv_timer_start(&c->timer, timer_cb, ms, 0);
}

/* ---- reading and parsing --------------------------------------------------- */


static void alloc_cb(uv_handle_t* h, size_t suggested, uv_buf_t* out) {
  /* (also used while lingering: what is read then is dropped) */
  conn_t* c = h->data;
  (void)suggested;
  /* Reading only happens when every byte read before has been parsed. The
   * buffer is allocated when a read comes and given back while the
   * connection waits for its next request: an idle keep-alive connection
   * costs no read buffer. */
  if (c->rbuf == NULL) c->rbuf = malloc(READ_BUF_SIZE);
  *out = c->rbuf != NULL ? uv_buf_init(c->rbuf, READ_BUF_SIZE)
                         : uv_buf_init(NULL, 0); /* read_cb gets ENOBUFS */
}

static void parse_more(conn_t* c);

static void read_cb(uv_stream_t* st, ssize_t n, const uv_buf_t* buf) {
  conn_t* c = st->data;
  (void)buf;
  if (n == 0) return;
  if (c->lingering) { /* discarding what the client still sends */
    if (n < 0) conn_close(c);
    return;
  }
  if (n < 0) {
    /* EOF or reset: a request in progress is abandoned. */
    if (c->phase == PH_BODY || c->phase == PH_HEADERS)
      log_error(c->srv, c, "connection %s mid-request",
                n == UV_EOF ? "closed" : uv_strerror((int)n));
    conn_close(c);
    return;
  }
  c->srv->metrics.bytes_in += (uint64_t)n;
  c->rpos = 0;
  c->rlen = (size_t)n;
  if (c->crlf_need > 0 && !check_crlf(c, 0)) {
    timer_update(c);
    return;
  }
  parse_more(c);
  timer_update(c);
}

static void start_reading(conn_t* c) {
  if (c->reading || c->closing || c->paused) return;
  if (uv_read_start((uv_stream_t*)&c->tcp, alloc_cb, read_cb) == 0)
    c->reading = 1;
  timer_update(c);
}

static void stop_reading(conn_t* c) {
  if (!c->reading) return;
  uv_read_stop((uv_stream_t*)&c->tcp);
  c->reading = 0;
  timer_update(c);
}

static const http_parser_settings* parser_settings(void);

/* Parses rbuf[rpos, rlen). Stops when paused (then reading stops too). */
static void parse_more(conn_t* c) {
  while (!c->closing && !c->paused && c->rpos < c->rlen) {
    size_t len = c->rlen - c->rpos, n;
    enum http_errno e;
    c->in_parse = 1;
    n = http_parser_execute(&c->hp, parser_settings(), c->rbuf + c->rpos, len);
    c->in_parse = 0;
    if (c->closing) return;
    c->rpos += n;
    e = HTTP_PARSER_ERRNO(&c->hp);
    if (e == HPE_PAUSED) {
      if (!c->hold_body && !c->hold_resp && !c->close_after) {
        hp_pause(&c->hp, 0); /* whoever paused has let go */
        continue;
      }
      c->paused = 1;
      break;
    }
    if (e != HPE_OK) {
      char msg[160];
      snprintf(msg, sizeof(msg), "malformed HTTP: %s",
               http_errno_description(e));
      if (c->phase == PH_IDLE) {
        /* Refused before a request began (garbage): time it from now. */
        c->phase = PH_HEADERS;
        c->start_ns = uv_hrtime();
      }
      if (c->req_id[0] == '\0') pipe__server_request_id(c->srv, c->req_id);
      fail_request(c, e == HPE_HEADER_OVERFLOW ? 431 : 400,
                   e == HPE_HEADER_OVERFLOW ? "headers_too_large" : "bad_request",
                   msg);
      if (!c->resp_started && c->job == NULL) conn_close(c);
      return;
    }
    if (n < len && !c->paused) break; /* should not happen */
  }
  if (c->paused)
    stop_reading(c);
  else if (c->rpos >= c->rlen)
    start_reading(c);
}

/* Lifts the pause when nothing holds it any more. Safe to call anytime. */
static void conn_resume(conn_t* c) {
  if (c->closing || c->hold_body || c->hold_resp || c->in_parse) return;
  if (c->close_after && c->resp_started) return;
  if (c->paused) {
    c->paused = 0;
    hp_pause(&c->hp, 0);
  }
  parse_more(c);
}

static void next_request(conn_t* c) {
  if (c->job != NULL || c->get != NULL) return; /* still finishing */
  reset_request(c);
  c->hold_resp = 0;
  if (c->srv->draining) {
    conn_close(c);
    return;
  }
  c->kept_alive = 1;
  c->idle_since = uv_now(c->srv->loop);
  conn_resume(c);
  if (!c->closing && !c->paused && c->phase == PH_IDLE && c->rpos >= c->rlen) {
    free(c->rbuf);
    c->rbuf = NULL;
    c->rpos = c->rlen = 0;
  }
  timer_update(c);
}

/* ---- parser callbacks -------------------------------------------------------- */

static int on_message_begin(http_parser* p) {
  conn_t* c = p->data;
  reset_request(c);
  c->phase = PH_HEADERS;
  c->start_ns = uv_hrtime();
  c->hdr_deadline = uv_now(c->srv->loop) + c->srv->cfg.header_timeout_ms;
  pipe__server_request_id(c->srv, c->req_id);
  return 0;
}

static int count_head(conn_t* c, size_t n) {
  c->hbytes += n;
  if (c->srv->cfg.max_header_size > 0 &&
      c->hbytes > c->srv->cfg.max_header_size) {
    fail_request(c, 431, "headers_too_large",
                 "the request head is larger than the server accepts");
    return 0;
  }
  return 1;
}

static int on_url(http_parser* p, const char* at, size_t n) {
  conn_t* c = p->data;
  if (!count_head(c, n)) return 0;
  if (c->url.len + n > MAX_URL) {
    fail_request(c, 414, "uri_too_long", "the request target is too long");
    return 0;
  }
  pipe__sbuf_add(&c->url, at, n);
  return 0;
}

static int lower_eq(const char* a, const char* b) {
  for (; *a && *b; a++, b++) {
    char x = *a;
    if (x >= 'A' && x <= 'Z') x = (char)(x - 'A' + 'a');
    if (x != *b) return 0;
  }
  return *a == '\0' && *b == '\0';
}

static int is_tchar(unsigned char ch) {
  return (ch >= 'a' && ch <= 'z') || (ch >= 'A' && ch <= 'Z') ||
         (ch >= '0' && ch <= '9') || strchr("!#$%&'*+-.^_`|~", ch) != NULL;
}

/* One complete header line: check and remember what we use. */
static void header_done(conn_t* c) {
  const char* n = c->hname.p != NULL ? c->hname.p : "";
  char* v = c->hval.p != NULL ? c->hval.p : "";
  size_t i, vl = c->hval.len;
  c->nheaders++;
  for (i = 0; i < c->hname.len; i++)
    if (!is_tchar((unsigned char)n[i])) c->hdr_bad = 1;
  if (c->hname.len == 0) c->hdr_bad = 1;
  for (i = 0; i < vl; i++) {
    unsigned char ch = (unsigned char)v[i];
    if ((ch < 0x20 && ch != '\t') || ch == 0x7f) c->hdr_bad = 1;
  }
  /* Trailing blanks are not part of the value (RFC 9110 5.5). */
  while (vl > 0 && (v[vl - 1] == ' ' || v[vl - 1] == '\t')) v[--vl] = '\0';
  if (lower_eq(n, "content-length")) {
    c->cl_count++;
  } else if (lower_eq(n, "transfer-encoding")) {
    c->te_count++;
    if (!lower_eq(v, "chunked")) c->te_bad = 1;
  } else if (lower_eq(n, "host")) {
    c->host_count++;
  } else if (lower_eq(n, "expect")) {
    if (lower_eq(v, "100-continue"))
      c->expect_continue = 1;
    else
      c->expect_bad = 1;
  } else if (lower_eq(n, "content-type")) {
    free(c->content_type);
    c->content_type = strdup(v);
  } else if (lower_eq(n, "x-request-id")) {
    /* A proxy's or client's id is kept when it is a sane token, so one id
     * follows the request through every log. */
    if (vl >= 1 && vl < sizeof(c->req_id) &&
        strspn(v, "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz"
                  "0123456789._-") == vl)
      memcpy(c->req_id, v, vl + 1);
  } else if (lower_eq(n, "if-none-match")) {
    free(c->if_none_match);
    c->if_none_match = strdup(v);
  } else if (lower_eq(n, "range")) {
    free(c->range);
    c->range = strdup(v);
  } else if (lower_eq(n, "authorization")) {
    free(c->auth);
    c->auth = strdup(v);
  }
  pipe__sbuf_reset(&c->hname);
  pipe__sbuf_reset(&c->hval);
}

static int on_header_field(http_parser* p, const char* at, size_t n) {
  conn_t* c = p->data;
  if (!count_head(c, n)) return 0;
  if (c->last_value) {
    header_done(c);
    c->last_value = 0;
  }
  pipe__sbuf_add(&c->hname, at, n);
  return 0;
}

static int on_header_value(http_parser* p, const char* at, size_t n) {
  conn_t* c = p->data;
  if (!count_head(c, n)) return 0;
  /* A value comes in one piece, or in two when a read ends inside it (then
   * the second starts the next read). Any other second piece is an obs-fold
   * continuation line, which this parser joins silently: refused (RFC 9112
   * 5.2 allows it; nginx refuses it too). */
  if (c->last_value && !(c->value_at_end && at == c->rbuf)) c->hdr_bad = 1;
  c->value_at_end = at + n == c->rbuf + c->rlen;
  c->last_value = 1;
  pipe__sbuf_add(&c->hval, at, n);
  return 0;
}

static int route_request(conn_t* c);

static int on_headers_complete(http_parser* p) {
  conn_t* c = p->data;
  if (c->last_value) {
    header_done(c);
    c->last_value = 0;
  }
  c->phase = PH_BODY;
  c->head_req = c->hp.method == HTTP_HEAD;
  c->head_seen = 1;
  if (c->hname.oom || c->hval.oom || c->url.oom) {
    fail_request(c, 500, "internal", "out of memory");
    return 0;
  }
  if (p->http_major != 1 || p->http_minor > 1) {
    fail_request(c, 505, "http_version", "only HTTP/1.0 and HTTP/1.1 are served");
    return 0;
  }
  if (c->hdr_bad) {
    fail_request(c, 400, "bad_header",
                 "a header name is not a token or a value holds a control "
                 "character");
    return 0;
  }
  if (c->cl_count > 1) {
    fail_request(c, 400, "bad_framing", "more than one Content-Length header");
    return 0;
  }
  if (c->te_count > 0 && c->cl_count > 0) {
    fail_request(c, 400, "bad_framing",
                 "both Content-Length and Transfer-Encoding");
    return 0;
  }
  if (c->te_count > 1 || c->te_bad) {
    fail_request(c, 400, "bad_framing",
                 "Transfer-Encoding other than one 'chunked'");
    return 0;
  }
  if ((p->http_minor == 1 && c->host_count != 1) || c->host_count > 1) {
    fail_request(c, 400, "bad_host", "HTTP/1.1 needs exactly one Host header");
    return 0;
  }
  if (c->expect_bad) {
    fail_request(c, 417, "expectation_failed",
                 "only Expect: 100-continue is supported");
    return 0;
  }
  route_request(c);
  return 0;
}

static int on_body(http_parser* p, const char* at, size_t n);

static int on_message_complete(http_parser* p) {
  conn_t* c = p->data;
  c->msg_done = 1;
  c->phase = PH_DONE;
  if (c->job != NULL && !c->job->failed) {
    job_t* j = c->job;
    if (j->kind == JOB_PUT) {
      if (j->cur != NULL && j->cur->src != NULL)
        pipe__push_source_end(j->cur->src);
      j->cur = NULL;
      j->body_done = 1;
    } else {
      int r = pipe__mp_finish(j->mp);
      if (r < 0) {
        int st = pipe__mp_http_status(r);
        job_fail(j, st ? st : 400, pipe_err_name(r), "%s",
                 pipe__mp_error(j->mp)->msg[0] ? pipe__mp_error(j->mp)->msg
                                                : pipe_strerror(r));
        j = NULL; /* job_fail may have freed it */
      } else {
        j->body_done = 1;
      }
    }
    if (j != NULL) job_check(j);
  }
  /* Pipelined requests wait until this response is out. */
  if (!c->resp_done) {
    c->hold_resp = 1;
    hp_pause(p, 1);
  } else if (!c->closing) {
    c->hold_resp = 1;
    hp_pause(p, 1);
    next_request(c);
  }
  return 0;
}

static const http_parser_settings settings = {
    .on_message_begin = on_message_begin,
    .on_url = on_url,
    .on_header_field = on_header_field,
    .on_header_value = on_header_value,
    .on_headers_complete = on_headers_complete,
    .on_body = on_body,
    .on_message_complete = on_message_complete,
};

static const http_parser_settings* parser_settings(void) { return &settings; }

/* ---- routing ---------------------------------------------------------------- */

static void send_continue(conn_t* c) {
  static const char msg[] = "HTTP/1.1 100 Continue\r\n\r\n";
  char* m;
  if (!c->expect_continue || c->continue_sent || c->hp.http_minor == 0) return;
  m = malloc(sizeof(msg));
  if (m == NULL) return;
  memcpy(m, msg, sizeof(msg));
  c->continue_sent = 1;
  conn_write(c, m, sizeof(msg) - 1, NULL);
}

static int authorized(conn_t* c) {
  pipe_http_server_t* srv = c->srv;
  const char* a = c->auth;
  size_t i;
  int ok = 0;
  if (srv->ntokens == 0) return 1;
  if (a == NULL || strncmp(a, "Bearer ", 7) != 0) return 0;
  a += 7;
  while (*a == ' ') a++;
  /* Every token is compared, whatever matched: the time says nothing about
   * which one or how much of it. */
  for (i = 0; i < srv->ntokens; i++)
    ok |= pipe__ct_equal(a, strlen(a), srv->tokens[i], strlen(srv->tokens[i]));
  return ok;
}

/* Finds "name=value" in a query string; decodes it into a malloc'd string.
 * Returns 1 found, 0 not, -1 bad escape. */
static int query_param(const char* q, const char* name, char** out) {
  size_t nl = strlen(name);
  *out = NULL;
  while (q != NULL && *q != '\0') {
    const char* amp = strchr(q, '&');
    size_t len = amp != NULL ? (size_t)(amp - q) : strlen(q);
    if (len > nl && strncmp(q, name, nl) == 0 && q[nl] == '=') {
      char* v = malloc(len - nl);
      if (v == NULL) return -1;
      if (pipe__pct_decode(q + nl + 1, len - nl - 1, v, 1) < 0) {
        free(v);
        return -1;
      }
      *out = v;
      return 1;
    }
    q = amp != NULL ? amp + 1 : NULL;
  }
  return 0;
}

static int method_is(conn_t* c, enum http_method m) { return c->hp.method == m; }

static void route_put(conn_t* c, const char* key, const char* query);
static void route_post(conn_t* c, const char* query);
static void route_get_object(conn_t* c, const char* key);

static int route_request(conn_t* c) {
  pipe_http_server_t* srv = c->srv;
  char* path = c->url.p != NULL ? c->url.p : "";
  char* q = strchr(path, '?');
  char* query = NULL;
  size_t plen;
  int get = method_is(c, HTTP_GET) || method_is(c, HTTP_HEAD);
  if (path[0] != '/') {
    fail_request(c, 400, "bad_target", "the request target must be a path");
    return 0;
  }
  plen = q != NULL ? (size_t)(q - path) : strlen(path);
  if (q != NULL) query = q + 1;
  if (plen == 1) {
    c->route = "/";
    if (!get) goto not_allowed_get;
    {
      const char* page = pipe__server_page();
      size_t n = strlen(page);
      send_head(c, 200, "Cache-Control: no-store\r\n", "text/html; charset=utf-8",
                n, method_is(c, HTTP_HEAD) ? NULL : page,
                method_is(c, HTTP_HEAD) ? 0 : n, 1);
    }
    return 0;
  }
  if (plen == 8 && strncmp(path, "/healthz", 8) == 0) {
    pipe_sbuf_t b = {0};
    c->route = "/healthz";
    if (!get) goto not_allowed_get;
    pipe__sbuf_puts(&b, "{\"status\":\"ok\"}\n");
    send_json(c, 200, NULL, &b);
    pipe__sbuf_free(&b);
    return 0;
  }
  if (plen == 7 && strncmp(path, "/readyz", 7) == 0) {
    pipe_sbuf_t b = {0};
    int r = srv->store->ops->ready(srv->store);
    c->route = "/readyz";
    if (!get) goto not_allowed_get;
    if (srv->draining)
      pipe__sbuf_puts(&b, "{\"status\":\"draining\"}\n");
    else if (r < 0)
      pipe__sbuf_printf(&b, "{\"status\":\"store unavailable\",\"error\":\"%s\"}\n",
                        pipe_err_name(r));
    else
      pipe__sbuf_puts(&b, "{\"status\":\"ready\"}\n");
    send_json(c, srv->draining || r < 0 ? 503 : 200, NULL, &b);
    pipe__sbuf_free(&b);
    return 0;
  }
  if (plen == 8 && strncmp(path, "/metrics", 8) == 0) {
    pipe_sbuf_t b = {0};
    c->route = "/metrics";
    if (!get) goto not_allowed_get;
    pipe__server_metrics_render(srv, &b);
    send_head(c, 200, NULL, "text/plain; version=0.0.4; charset=utf-8", b.len,
              method_is(c, HTTP_HEAD) ? NULL : b.p,
              method_is(c, HTTP_HEAD) ? 0 : b.len, 1);
    pipe__sbuf_free(&b);
    return 0;
  }
  if (plen >= 3 && strncmp(path, "/v1", 3) == 0 &&
      (plen == 3 || path[3] == '/')) {
    if (plen == 11 && strncmp(path, "/v1/uploads", 11) == 0) {
      c->route = "/v1/uploads";
      if (!method_is(c, HTTP_POST)) {
        send_error_x(c, 405, "method_not_allowed", "Allow: POST\r\n",
                     "use POST for %s", "/v1/uploads");
        return 0;
      }
      if (!authorized(c)) goto unauthorized;
      route_post(c, query);
      return 0;
    }
    if (plen > 12 && strncmp(path, "/v1/objects/", 12) == 0) {
      char* key;
      long kl;
      c->route = "/v1/objects";
      if (!get && !method_is(c, HTTP_PUT)) {
        send_error_x(c, 405, "method_not_allowed",
                     "Allow: GET, HEAD, PUT\r\n",
                     "use GET, HEAD or PUT on an object");
        return 0;
      }
      if (!authorized(c)) goto unauthorized;
      key = malloc(plen - 12 + 1);
      if (key == NULL) {
        fail_request(c, 500, "internal", "out of memory");
        return 0;
      }
      kl = pipe__pct_decode(path + 12, plen - 12, key, 0);
      if (kl < 0 || !pipe__store_key_ok(key, (size_t)kl) ||
          strlen(key) != (size_t)kl) {
        free(key);
        fail_request(c, 400, "bad_key",
                     "the key is empty or holds '..', a leading '/', an "
                     "empty or hidden segment, a backslash, NUL or a "
                     "control character");
        return 0;
      }
      if (method_is(c, HTTP_PUT))
        route_put(c, key, query);
      else
        route_get_object(c, key);
      free(key);
      return 0;
    }
    c->route = "other";
    if (!authorized(c)) goto unauthorized;
  }
  c->route = "other";
  send_error(c, 404, "not_found", "no route for %.*s", (int)plen, path);
  return 0;

not_allowed_get:
  send_error_x(c, 405, "method_not_allowed", "Allow: GET, HEAD\r\n",
               "use GET or HEAD for %.*s", (int)plen, path);
  return 0;
unauthorized:
  send_error_x(c, 401, "unauthorized", "WWW-Authenticate: Bearer\r\n",
               "a valid 'Authorization: Bearer TOKEN' header is required");
  return 0;
}

/* ---- uploads ------------------------------------------------------------------ */

static void entry_free(entry_t* e) {
  if (e->pl != NULL) pipe_pipeline_free(e->pl); /* aborts a running one */
  free(e->field);
  free(e->filename);
  free(e->key);
  free(e);
}

static void job_free(job_t* j) {
  conn_t* c = j->c;
  pipe_http_server_t* srv = j->srv;
  entry_t* e = j->entries;
  while (e != NULL) {
    entry_t* nx = e->next;
    entry_free(e);
    e = nx;
  }
  if (j->waiting != NULL) entry_free(j->waiting);
  pipe__mp_free(j->mp);
  pipe__sbuf_free(&j->fields);
  pipe__sbuf_free(&j->fval);
  free(j->fname);
  free(j->pending);
  free(j->spec);
  srv->mem_in_use -= j->mem;
  srv->uploads_in_flight--;
  free(j);
  if (c != NULL) {
    c->job = NULL;
    conn_unref(c);
  }
}

/* The HTTP status for a pipeline's or the store's error: bad data for the
 * client's transforms is the client's (422); a key that collides with a
 * directory, or runs through a stored object, is a conflict (409); a full
 * disk is 507; the rest is ours (500). */
static int store_status(int err) {
  switch (err) {
    case PIPE_ECSV:
    case PIPE_EUTF8:
    case PIPE_EFIELDS:
    case PIPE_EGZIP:
    case PIPE_ETRUNC:
      return 422;
    case PIPE_EISDIR:
    case PIPE_ENOTDIR:
    case PIPE_EEXIST:
      return 409;
    case PIPE_ENOSPC:
    case PIPE_EDQUOT:
      return 507;
    default:
      return 500;
  }
}

/* store_status, refined by the error's detail: a store that is down or
 * fails (S3 5xx after retries, unreachable, denied) is a bad gateway
 * (502), one that keeps saying SlowDown (503/429 after retries) is busy
 * (503, Retry-After). */
static int store_status_err(int err, const pipe_error_t* er) {
  switch (err) {
    case PIPE_ENET:
    case PIPE_ES3:
    case PIPE_ES3DENIED:
    case PIPE_ES3NOTFOUND:
    case PIPE_ENOCREDS:
    case PIPE_EINTEGRITY:
      if (er != NULL && (er->http_status == 503 || er->http_status == 429))
        return 503;
      return 502;
    default:
      return store_status(err);
  }
}

static const char* status_code_name(int st) {
  switch (st) {
    case 502: return "store_unavailable";
    case 503: return "store_busy";
    case 422: return "pipeline_failed";
    case 409: return "key_conflict";
    case 507: return "store_full";
    default: return "store_failed";
  }
}

/* The entry's pipeline has finished (status 0: the object is stored). */
static void entry_done(pipe_pipeline_t* pl, int status) {
  entry_t* e = pipe_pipeline_data(pl);
  job_t* j = e->job;
  pipe_stage_t* s;
  int fail_st = status < 0 ? store_status_err(status, pipe_pipeline_error(pl)) : 0;
  e->done = 1;
  e->status = status;
  e->bytes_in = pipe__push_source_bytes(e->src);
  e->bytes_out = e->sink->stats.bytes_in;
  for (s = pipe_pipeline_first(pl); s != NULL; s = s->next)
    pipe__metrics_stage(j->srv, s);
  if (status == 0) {
    pipe_store_info_t info;
    const char* hex = pipe_hash_hex(e->hash);
    e->stored = 1;
    snprintf(e->sha, sizeof(e->sha), "%s", hex != NULL ? hex : "");
    if ((j->srv->store->ops->sink_info != NULL
             ? j->srv->store->ops->sink_info(j->srv->store, e->sink, &info)
             : j->srv->store->ops->stat(j->srv->store, e->key, &info)) == 0)
      snprintf(e->etag, sizeof(e->etag), "%s", info.etag);
  } else {
    const pipe_error_t* er = pipe_pipeline_error(pl);
    snprintf(e->msg, sizeof(e->msg), "%s%s%s", er->stage,
             er->stage[0] ? ": " : "", er->msg[0] ? er->msg : pipe_strerror(status));
  }
  if (status < 0 && j->srv->store->ops->sink_leftover != NULL) {
    char left[1200];
    if (j->srv->store->ops->sink_leftover(j->srv->store, e->sink, left,
                                          sizeof(left)))
      log_error(j->srv, j->c, "%s", left);
  }
  e->pl = NULL;
  e->src = e->hash = e->sink = NULL;
  pipe_pipeline_free(pl);
  j->running--;
  if (status < 0 && !j->failed) {
    /* Bad data for the client's transforms is the client's error. */
    int st = fail_st;
    log_error(j->srv, j->c, "storing %s failed: %s", e->key, e->msg);
    /* The client gets the pipeline's message for its data (line, column),
     * but not the store's, which names paths on this machine: the log has
     * it. */
    if (st == 422)
      job_fail(j, st, status_code_name(st), "%s: %s", e->key, e->msg);
    else
      job_fail(j, st, status_code_name(st), "%s: %s (request %s)", e->key,
               pipe_strerror(status), j->c != NULL ? j->c->req_id : "");
    return; /* j may be gone */
  }
  if (job_check(j)) return;
  job_try_resume(j);
}

static void entry_drained(void* ud) {
  entry_t* e = ud;
  job_try_resume(e->job);
}

/* Creates and runs the pipeline of e. Returns 0 or < 0 (job failed). */
static int entry_start(job_t* j, entry_t* e) {
  pipe_http_server_t* srv = j->srv;
  pipe_error_t err;
  int r;
  e->started = 1;
  r = pipe__server_pipeline_new(srv, &e->pl);
  if (r < 0) goto fail;
  pipe_pipeline_set_data(e->pl, e);
  r = pipe__push_source_new(e->pl, entry_drained, e, &e->src);
  if (r < 0) goto fail;
  if (j->spec != NULL) {
    pipe_spec_limits_t lim;
    pipe__server_spec_limits(srv, &lim);
    r = pipe_spec_build_transforms(j->spec, e->pl, &lim, NULL, &err);
    if (r < 0) goto fail;
  }
  r = pipe_hash_new(e->pl, PIPE_HASH_SHA256, &e->hash);
  if (r < 0) goto fail;
  r = srv->store->ops->add_sink(srv->store, e->pl, e->key, &e->sink);
  if (r < 0) goto fail;
  r = pipe_pipeline_run(e->pl, entry_done);
  if (r < 0) goto fail;
  j->running++;
  return 0;
fail:
  if (e->pl != NULL) pipe_pipeline_free(e->pl);
  e->pl = NULL;
  e->src = e->hash = e->sink = NULL;
  e->done = 1;
  e->status = r;
  {
    int st = store_status(r);
    job_fail(j, st, status_code_name(st), "cannot store %s: %s", e->key,
             pipe_strerror(r));
  }
  return r;
}

static void job_add(job_t* j, entry_t* e) {
  e->job = j;
  if (j->tail != NULL)
    j->tail->next = e;
  else
    j->entries = e;
  j->tail = e;
}

static void job_respond(job_t* j) {
  conn_t* c = j->c;
  pipe_sbuf_t b = {0};
  entry_t* e;
  int first = 1;
  if (c == NULL || c->closing || c->resp_started) return;
  if (j->kind == JOB_PUT) {
    e = j->entries;
    pipe__sbuf_puts(&b, "{\"key\":");
    pipe__sbuf_json(&b, e->key, strlen(e->key));
    pipe__sbuf_printf(&b, ",\"bytes_in\":%llu,\"bytes_out\":%llu,\"sha256\":\"%s\",\"etag\":",
                      (unsigned long long)e->bytes_in,
                      (unsigned long long)e->bytes_out, e->sha);
    pipe__sbuf_json(&b, e->etag, strlen(e->etag));
    pipe__sbuf_puts(&b, "}\n");
  } else {
    pipe__sbuf_puts(&b, "{\"files\":[");
    for (e = j->entries; e != NULL; e = e->next) {
      if (!first) pipe__sbuf_puts(&b, ",");
      first = 0;
      pipe__sbuf_puts(&b, "{\"field\":");
      pipe__sbuf_json(&b, e->field, strlen(e->field));
      pipe__sbuf_puts(&b, ",\"filename\":");
      pipe__sbuf_json(&b, e->filename, strlen(e->filename));
      pipe__sbuf_puts(&b, ",\"key\":");
      pipe__sbuf_json(&b, e->key, strlen(e->key));
      pipe__sbuf_printf(&b, ",\"bytes_in\":%llu,\"bytes_out\":%llu,\"sha256\":\"%s\",\"etag\":",
                        (unsigned long long)e->bytes_in,
                        (unsigned long long)e->bytes_out, e->sha);
      pipe__sbuf_json(&b, e->etag, strlen(e->etag));
      pipe__sbuf_puts(&b, "}");
    }
    pipe__sbuf_puts(&b, "],\"fields\":{");
    if (j->fields.p != NULL) pipe__sbuf_add(&b, j->fields.p, j->fields.len);
    pipe__sbuf_puts(&b, "}}\n");
  }
  if (b.oom) {
    send_error(c, 500, "internal", "out of memory");
  } else {
    pipe_sbuf_t loc = {0};
    if (j->kind == JOB_PUT && j->entries->etag[0] != '\0')
      pipe__sbuf_printf(&loc, "ETag: %s\r\n", j->entries->etag);
    send_json(c, 201, loc.p, &b);
    pipe__sbuf_free(&loc);
  }
  pipe__sbuf_free(&b);
}

/* An object of a failed job has been removed (remove_async). */
static void job_removed(void* ud, int status) {
  job_t* j = ud;
  if (status < 0)
    log_error(j->srv, j->c, "removing an object of a failed request: %s",
              pipe_strerror(status));
  j->removing--;
  job_check(j);
}

/* Finishes the job when nothing is left to wait for. Returns 1 when it
 * freed j. */
static int job_check(job_t* j) {
  entry_t* e;
  if (j->finished || j->running > 0 || j->in_feed > 0) return 0;
  if (j->failed) {
    /* Remove every object of the request, then answer. */
    /* POST keys are ours: remove whatever an entry left, including the
     * directory of its uuid. A PUT that failed stored nothing, and the
     * object it would have replaced must stay. */
    for (e = j->entries; e != NULL && !j->removed; e = e->next)
      if (e->stored || (j->kind == JOB_POST && e->started)) {
        pipe_store_t* st = j->srv->store;
        if (st->ops->remove_async == NULL)
          st->ops->remove(st, e->key);
        else if (st->ops->remove_async(st, e->key, job_removed, j) == 0)
          j->removing++;
        e->stored = 0;
      }
    j->removed = 1;
    if (j->removing > 0) return 0; /* answered once they are gone */
    j->finished = 1;
    if (j->c != NULL && !j->c->closing) {
      conn_t* c = j->c;
      if (j->fail_status == 503)
        send_error_x(c, 503, j->fail_code, "Retry-After: 1\r\n", "%s",
                     j->fail_msg);
      else
        send_error(c, j->fail_status, j->fail_code, "%s", j->fail_msg);
    }
    job_free(j);
    return 1;
  }
  if (!j->body_done || j->waiting != NULL || j->cur != NULL) return 0;
  j->finished = 1;
  for (e = j->entries; e != NULL; e = e->next)
    j->srv->metrics.stored_bytes += e->bytes_out;
  job_respond(j);
  job_free(j);
  return 1;
}

static void job_fail(job_t* j, int status, const char* code, const char* fmt,
                     ...) {
  entry_t* e;
  va_list ap;
  if (j->failed || j->finished) return;
  j->failed = 1;
  j->fail_status = status;
  snprintf(j->fail_code, sizeof(j->fail_code), "%s", code);
  va_start(ap, fmt);
  vsnprintf(j->fail_msg, sizeof(j->fail_msg), fmt, ap);
  va_end(ap);
  if (j->c != NULL) {
    j->c->close_after = 1; /* the rest of the body is not read */
    j->c->hold_body = 0;
  }
  for (e = j->entries; e != NULL; e = e->next)
    if (e->pl != NULL) pipe_pipeline_abort(e->pl, PIPE_ECANCELED);
  j->cur = NULL;
  job_check(j); /* may free j */
}

/* Admission: a new upload fits the configured budgets, or 503. */
static job_t* job_new(conn_t* c, int kind, const char* query) {
  pipe_http_server_t* srv = c->srv;
  pipe_spec_limits_t lim;
  pipe_error_t err;
  job_t* j;
  char* spec = NULL;
  pipe_spec_cost_t cost;
  size_t mem;
  int r = query_param(query, "pipeline", &spec);
  if (r < 0) {
    fail_request(c, 400, "bad_query", "bad percent-encoding in the query");
    return NULL;
  }
  if (spec != NULL && spec[strspn(spec, " \t")] == '\0') {
    free(spec);
    spec = NULL;
  }
  pipe__server_spec_limits(srv, &lim);
  memset(&cost, 0, sizeof(cost));
  if (spec != NULL) {
    r = pipe_spec_build_transforms(spec, NULL, &lim, &cost, &err);
    if (r < 0) {
      char msg[700];
      if (err.has_offset)
        snprintf(msg, sizeof(msg), "pipeline: %s (at character %llu)", err.msg,
                 (unsigned long long)err.column);
      else
        snprintf(msg, sizeof(msg), "pipeline: %s", err.msg);
      free(spec);
      fail_request(c, 400, "bad_pipeline", msg);
      return NULL;
    }
  }
  /* Source pool, hash (no pool of its own in use) and sink: the body side. */
  mem = cost.mem + 3 * lim.buf_size * lim.pool_limit;
  if (srv->store->ops->sink_mem != NULL) mem += srv->store->ops->sink_mem(srv->store);
  /* CPU jobs are not admitted here: every upload's pipeline is made in the
   * server's context, whose CPU budget (--max-cpu-jobs) queues them, so a
   * gzip upload waits its turn for a thread instead of being refused. */
  if ((srv->cfg.max_uploads > 0 && srv->uploads_in_flight >= srv->cfg.max_uploads) ||
      (srv->cfg.max_memory > 0 && srv->mem_in_use + mem > srv->cfg.max_memory)) {
    free(spec);
    srv->metrics.rejected++;
    c->close_after = 1;
    send_error_x(c, 503, "busy", "Retry-After: 1\r\n",
                 "the server is at its upload limit (this upload needs %zu "
                 "bytes of buffers); retry later",
                 mem);
    fail_request(c, 503, "busy", "busy");
    return NULL;
  }
  j = calloc(1, sizeof(*j));
  if (j == NULL) {
    free(spec);
    fail_request(c, 500, "internal", "out of memory");
    return NULL;
  }
  j->c = c;
  j->srv = srv;
  j->kind = kind;
  j->spec = spec;
  j->mem = mem;
  srv->mem_in_use += mem;
  srv->uploads_in_flight++;
  c->refs++;
  c->job = j;
  return j;
}

static int body_size_ok(conn_t* c, uint64_t limit, const char* what) {
  if (limit > 0 && (c->hp.flags & F_CHUNKED) == 0 &&
      c->hp.content_length != ULLONG_MAX && c->hp.content_length > limit) {
    char msg[160];
    snprintf(msg, sizeof(msg), "the %s is larger than %llu bytes", what,
             (unsigned long long)limit);
    fail_request(c, 413, "too_large", msg);
    return 0;
  }
  return 1;
}

static int has_body(conn_t* c) {
  return (c->hp.flags & F_CHUNKED) != 0 || c->cl_count > 0;
}

static void route_put(conn_t* c, const char* key, const char* query) {
  pipe_http_server_t* srv = c->srv;
  job_t* j;
  entry_t* e;
  if (!has_body(c)) {
    fail_request(c, 411, "length_required",
                 "send Content-Length or Transfer-Encoding: chunked");
    return;
  }
  if (!body_size_ok(c, srv->cfg.max_body_size, "request body")) return;
  if (!body_size_ok(c, srv->cfg.max_file_size, "object")) return;
  if (srv->draining) {
    send_error_x(c, 503, "draining", "Retry-After: 1\r\n",
                 "the server is shutting down");
    fail_request(c, 503, "draining", "draining");
    return;
  }
  j = job_new(c, JOB_PUT, query);
  if (j == NULL) return;
  e = calloc(1, sizeof(*e));
  if (e == NULL || (e->key = strdup(key)) == NULL) {
    free(e);
    job_fail(j, 500, "internal", "out of memory");
    return;
  }
  job_add(j, e);
  if (entry_start(j, e) < 0) return;
  j->cur = e;
  send_continue(c);
}

/* ---- multipart ------------------------------------------------------------- */

static int mp_part_begin(void* ud, const pipe_mp_part_t* part) {
  job_t* j = ud;
  entry_t* e;
  char name[256], uuid[40];
  unsigned char rnd[16];
  size_t kl;
  if (part->is_file && part->filename_len == 0) {
    /* A browser's file input with no file chosen sends filename="" and no
     * content: not a file anybody uploaded. Its bytes are skipped. */
    j->skip_part = 1;
    return 0;
  }
  if (!part->is_file) {
    free(j->fname);
    j->fname = strdup(part->name);
    pipe__sbuf_reset(&j->fval);
    return j->fname == NULL ? PIPE_ENOMEM : 0;
  }
  e = calloc(1, sizeof(*e));
  if (e == NULL) return PIPE_ENOMEM;
  e->job = j;
  e->field = strdup(part->name);
  e->filename = strdup(part->filename);
  pipe__store_sanitize_name(part->filename, name, sizeof(name));
  if (uv_random(NULL, NULL, rnd, sizeof(rnd), 0, NULL) != 0)
    memset(rnd, 0, sizeof(rnd));
  rnd[6] = (unsigned char)((rnd[6] & 0x0f) | 0x40); /* UUID version 4 */
  rnd[8] = (unsigned char)((rnd[8] & 0x3f) | 0x80);
  snprintf(uuid, sizeof(uuid),
           "%02x%02x%02x%02x-%02x%02x-%02x%02x-%02x%02x-%02x%02x%02x%02x%02x%02x",
           rnd[0], rnd[1], rnd[2], rnd[3], rnd[4], rnd[5], rnd[6], rnd[7],
           rnd[8], rnd[9], rnd[10], rnd[11], rnd[12], rnd[13], rnd[14], rnd[15]);
  kl = strlen(uuid) + strlen(name) + 2;
  e->key = malloc(kl);
  if (e->field == NULL || e->filename == NULL || e->key == NULL) {
    entry_free(e);
    return PIPE_ENOMEM;
  }
  snprintf(e->key, kl, "%s/%s", uuid, name);
  if (j->running > 0) {
    /* One pipeline per request at a time: wait for the previous file. */
    j->waiting = e;
    return PIPE_FULL;
  }
  job_add(j, e);
  if (entry_start(j, e) < 0) return PIPE_ECANCELED;
  j->cur = e;
  return 0;
}

static int mp_part_data(void* ud, const uint8_t* data, size_t len) {
  job_t* j = ud;
  if (j->skip_part) return 0;
  if (j->cur == NULL) { /* a text field: the parser bounds its size */
    pipe__sbuf_add(&j->fval, data, len);
    return j->fval.oom ? PIPE_ENOMEM : 0;
  }
  if (j->cur->src == NULL) return PIPE_ECANCELED;
  {
    int r = pipe__push_source_write(j->cur->src, data, len);
    if (r == PIPE_FULL) j->src_full = 1; /* pause after this slice */
    return r < 0 ? r : 0;
  }
}

static int mp_part_end(void* ud) {
  job_t* j = ud;
  if (j->skip_part) {
    j->skip_part = 0;
    return 0;
  }
  if (j->cur != NULL) {
    if (j->cur->src != NULL) pipe__push_source_end(j->cur->src);
    j->cur = NULL;
    return 0;
  }
  if (j->fname != NULL) {
    if (j->fields.len > 0) pipe__sbuf_puts(&j->fields, ",");
    pipe__sbuf_json(&j->fields, j->fname, strlen(j->fname));
    pipe__sbuf_puts(&j->fields, ":");
    pipe__sbuf_json(&j->fields, j->fval.p != NULL ? j->fval.p : "", j->fval.len);
    free(j->fname);
    j->fname = NULL;
    if (j->fields.oom) return PIPE_ENOMEM;
  }
  return 0;
}

static const pipe_mp_callbacks_t mp_callbacks = {
    .on_part_begin = mp_part_begin,
    .on_part_data = mp_part_data,
    .on_part_end = mp_part_end,
};

/* Feeds body bytes to the multipart parser. Keeps what it could not take
 * (a part waits) in j->pending and holds the body. Returns 0, or -1 when
 * the job failed (j may be freed: do not touch it). */
static int job_feed_mp(job_t* j, const uint8_t* data, size_t len) {
  conn_t* c = j->c;
  size_t used = 0;
  int r;
  j->src_full = 0;
  j->in_feed++;
  r = pipe__mp_feed(j->mp, data, len, &used);
  j->in_feed--;
  if (j->failed) {
    job_check(j);
    return -1;
  }
  if (r < 0) {
    int st = pipe__mp_http_status(r);
    const pipe_error_t* er = pipe__mp_error(j->mp);
    job_fail(j, st ? st : 500, pipe_err_name(r), "%s",
             er->msg[0] ? er->msg : pipe_strerror(r));
    return -1;
  }
  if (r == PIPE_FULL && used < len) {
    uint8_t* p = malloc(len - used);
    if (p == NULL) {
      job_fail(j, 500, "internal", "out of memory");
      return -1;
    }
    memcpy(p, data + used, len - used);
    free(j->pending);
    j->pending = p;
    j->pending_len = len - used;
    j->pending_off = 0;
  }
  if (r == PIPE_FULL || j->src_full) {
    c->hold_body = 1;
    hp_pause(&c->hp, 1);
  }
  return 0;
}

/* Something that held the body may have cleared: go on if all did. */
static void job_try_resume(job_t* j) {
  conn_t* c = j->c;
  int r;
  if (j->failed || j->finished || c == NULL || c->closing || !c->hold_body)
    return;
  if (j->waiting != NULL) {
    entry_t* e = j->waiting;
    if (j->running > 0) return;
    j->waiting = NULL;
    job_add(j, e);
    if (entry_start(j, e) < 0) return;
    j->cur = e;
  }
  if (j->cur != NULL && j->cur->src != NULL &&
      pipe__push_source_busy(j->cur->src))
    return;
  if (j->pending != NULL) {
    uint8_t* p = j->pending;
    size_t len = j->pending_len;
    j->pending = NULL;
    j->pending_len = 0;
    c->hold_body = 0;
    r = job_feed_mp(j, p, len);
    free(p);
    if (r < 0 || c->hold_body) return;
  }
  c->hold_body = 0;
  conn_resume(c);
}

static void route_post(conn_t* c, const char* query) {
  pipe_http_server_t* srv = c->srv;
  char boundary[PIPE_MP_BOUNDARY_MAX + 1];
  size_t blen = 0;
  pipe_mp_config_t mc;
  job_t* j;
  int r;
  if (c->content_type == NULL) {
    fail_request(c, 415, "unsupported_media_type",
                 "POST /v1/uploads takes multipart/form-data");
    return;
  }
  r = pipe__mp_boundary_parse(c->content_type, strlen(c->content_type),
                              boundary, &blen);
  if (r < 0) {
    fail_request(c, r == PIPE_EMPMEDIA ? 415 : 400,
                 r == PIPE_EMPMEDIA ? "unsupported_media_type" : "bad_boundary",
                 r == PIPE_EMPMEDIA ? "POST /v1/uploads takes multipart/form-data"
                                    : "bad or missing multipart boundary");
    return;
  }
  if (!has_body(c)) {
    fail_request(c, 411, "length_required",
                 "send Content-Length or Transfer-Encoding: chunked");
    return;
  }
  if (!body_size_ok(c, srv->cfg.max_body_size, "request body")) return;
  if (srv->draining) {
    send_error_x(c, 503, "draining", "Retry-After: 1\r\n",
                 "the server is shutting down");
    fail_request(c, 503, "draining", "draining");
    return;
  }
  j = job_new(c, JOB_POST, query);
  if (j == NULL) return;
  pipe__mp_config_init(&mc);
  if (srv->cfg.max_files > 0) mc.max_files = srv->cfg.max_files;
  if (srv->cfg.max_fields > 0) mc.max_fields = srv->cfg.max_fields;
  if (srv->cfg.max_parts > 0) mc.max_parts = srv->cfg.max_parts;
  if (srv->cfg.max_field_size > 0) mc.max_field_size = srv->cfg.max_field_size;
  if (srv->cfg.max_file_size > 0) mc.max_file_size = srv->cfg.max_file_size;
  if (srv->cfg.max_part_header_size > 0)
    mc.max_header_size = srv->cfg.max_part_header_size;
  r = pipe__mp_new(boundary, blen, &mc, &mp_callbacks, j, &j->mp);
  if (r < 0) {
    job_fail(j, 400, "bad_boundary", "bad multipart boundary");
    return;
  }
  send_continue(c);
}

/* Checks rbuf[off..] against the rest of a chunk's CRLF; refuses the
 * request when it is something else. Returns 0 after refusing. */
static int check_crlf(conn_t* c, size_t off) {
  while (c->crlf_need > 0 && off < c->rlen) {
    char want = c->crlf_need == 2 ? '\r' : '\n';
    if (c->rbuf[off] != want) {
      c->crlf_need = 0;
      fail_request(c, 400, "bad_framing", "chunk data not followed by CRLF");
      return 0;
    }
    c->crlf_need--;
    off++;
  }
  return 1;
}

static int on_body(http_parser* p, const char* at, size_t n) {
  conn_t* c = p->data;
  job_t* j = c->job;
  pipe_http_server_t* srv = c->srv;
  c->body_bytes += n;
  if (srv->cfg.max_body_size > 0 && c->body_bytes > srv->cfg.max_body_size) {
    fail_request(c, 413, "too_large", "the request body is too large");
    return 0;
  }
  if (p->flags & F_CHUNKED) {
    /* The lenient parser takes any two bytes after a chunk's data as its
     * CRLF: check them here (the rest of the read buffer, or the start of
     * the next read). */
    if (p->content_length == 0) {
      size_t off = (size_t)(at + n - c->rbuf);
      c->crlf_need = 2;
      if (!check_crlf(c, off)) return 0;
    }
  }
  if (j == NULL || j->failed) return 0; /* a body nobody wants: skipped */
  if (j->kind == JOB_PUT) {
    int r;
    if (srv->cfg.max_file_size > 0 && c->body_bytes > srv->cfg.max_file_size) {
      fail_request(c, 413, "too_large", "the object is too large");
      return 0;
    }
    if (j->cur == NULL || j->cur->src == NULL) return 0;
    r = pipe__push_source_write(j->cur->src, at, n);
    if (r == PIPE_FULL) {
      c->hold_body = 1;
      hp_pause(p, 1);
    }
    return 0;
  }
  job_feed_mp(j, (const uint8_t*)at, n);
  return 0;
}

/* ---- GET ---------------------------------------------------------------------- */

static void get_free(getj_t* g) {
  conn_t* c = g->c;
  if (g->rd != NULL) c->srv->store->ops->read_close(g->rd);
  free(g->key);
  if (g->fd >= 0) {
    uv_fs_t req;
    uv_fs_close(NULL, &req, g->fd, NULL);
    uv_fs_req_cleanup(&req);
  }
  free(g->buf);
  free(g);
  c->get = NULL;
  if (c->resp_done && c->msg_done && !c->closing) next_request(c);
  conn_unref(c);
}

static void get_abort(getj_t* g) {
  g->dead = 1;
  if (!g->busy) get_free(g);
}

static void get_read_next(getj_t* g);

static void get_written(conn_t* c, int status) {
  getj_t* g = c->get;
  if (g == NULL) return;
  g->busy = 0;
  if (status < 0 || g->dead || c->closing) {
    get_free(g);
    return;
  }
  get_read_next(g);
}

static void get_read_cb(uv_fs_t* req) {
  getj_t* g = req->data;
  conn_t* c = g->c;
  ssize_t n = req->result;
  uv_fs_req_cleanup(req);
  if (g->dead || c->closing) {
    g->busy = 0;
    get_free(g);
    return;
  }
  if (n <= 0) {
    /* The object shrank or the disk failed after the headers went out:
     * all we can do is close, the client sees a short body. */
    g->busy = 0;
    log_error(c->srv, c, "reading a stored object failed: %s",
              n < 0 ? uv_strerror((int)n) : "unexpected end of file");
    conn_close(c);
    get_free(g);
    return;
  }
  {
    char* mem = g->buf;
    size_t len = (size_t)n;
    g->off += len;
    g->left -= len;
    c->resp_bytes += len;
    g->buf = NULL; /* the write owns it; a new one for the next read */
    if (g->left == 0) {
      /* The last piece: it completes the response. */
      g->busy = 0;
      conn_write(c, mem, len, resp_written);
      get_free(g);
      return;
    }
    conn_write(c, mem, len, get_written);
  }
}

static void get_read_next(getj_t* g) {
  size_t n = g->left < GET_BUF_SIZE ? (size_t)g->left : GET_BUF_SIZE;
  uv_buf_t b;
  int r;
  g->buf = malloc(n);
  if (g->buf == NULL) {
    conn_close(g->c);
    get_free(g);
    return;
  }
  b = uv_buf_init(g->buf, (unsigned)n);
  g->busy = 1;
  g->req.data = g;
  r = uv_fs_read(g->c->srv->loop, &g->req, g->fd, &b, 1, (int64_t)g->off,
                 get_read_cb);
  if (r < 0) {
    g->busy = 0;
    conn_close(g->c);
    get_free(g);
  }
}

/* Parses "bytes=A-B", "bytes=A-" or "bytes=-N" against size. Returns 1 with
 * [*from, *to] (inclusive), 0 when the header is to be ignored (not a
 * single byte range), -1 when unsatisfiable. */
static int parse_range(const char* h, uint64_t size, uint64_t* from,
                       uint64_t* to) {
  const char* p;
  char* end;
  unsigned long long a, b;
  if (strncmp(h, "bytes=", 6) != 0 || strchr(h, ',') != NULL) return 0;
  p = h + 6;
  if (*p == '-') {
    if (p[1] < '0' || p[1] > '9') return 0;
    b = strtoull(p + 1, &end, 10);
    if (*end != '\0') return 0;
    if (b == 0 || size == 0) return -1;
    if (b > size) b = size;
    *from = size - b;
    *to = size - 1;
    return 1;
  }
  if (*p < '0' || *p > '9') return 0;
  a = strtoull(p, &end, 10);
  if (*end != '-') return 0;
  p = end + 1;
  if (*p == '\0') {
    b = size > 0 ? size - 1 : 0;
  } else {
    if (*p < '0' || *p > '9') return 0;
    b = strtoull(p, &end, 10);
    if (*end != '\0' || b < a) return 0;
    if (b >= size) b = size - 1;
  }
  if (a >= size) return -1;
  *from = a;
  *to = b;
  return 1;
}

static void route_get_async(conn_t* c, const char* key);

static void route_get_object(conn_t* c, const char* key) {
  pipe_http_server_t* srv = c->srv;
  pipe_store_info_t info;
  pipe_sbuf_t extra = {0};
  uint64_t from = 0, to = 0, len;
  int fd, status = 200, rr = 0;
  getj_t* g;
  if (srv->store->ops->read_open != NULL) {
    route_get_async(c, key);
    return;
  }
  fd = srv->store->ops->open_read(srv->store, key, &info);
  if (fd < 0) {
    if (fd == PIPE_ENOENT || fd == PIPE_ENOTDIR || fd == PIPE_EISDIR)
      send_error(c, 404, "no_such_key", "no object %s", key);
    else
      send_error(c, 500, "store_failed", "cannot read %s: %s", key,
                 pipe_strerror(fd));
    return;
  }
  if (c->if_none_match != NULL &&
      (strcmp(c->if_none_match, "*") == 0 ||
       strstr(c->if_none_match, info.etag) != NULL)) {
    /* The client has this version (RFC 9110 13.1.2): no body. */
    uv_fs_t req;
    uv_fs_close(NULL, &req, fd, NULL);
    uv_fs_req_cleanup(&req);
    pipe__sbuf_printf(&extra, "ETag: %s\r\n", info.etag);
    send_head(c, 304, extra.p, NULL, 0, NULL, 0, 1);
    pipe__sbuf_free(&extra);
    return;
  }
  if (c->range != NULL) rr = parse_range(c->range, info.size, &from, &to);
  if (rr < 0) {
    uv_fs_t req;
    uv_fs_close(NULL, &req, fd, NULL);
    uv_fs_req_cleanup(&req);
    pipe__sbuf_printf(&extra, "Content-Range: bytes */%llu\r\n",
                      (unsigned long long)info.size);
    send_error_x(c, 416, "range_not_satisfiable", extra.p,
                 "the range is outside the object's %llu bytes",
                 (unsigned long long)info.size);
    pipe__sbuf_free(&extra);
    return;
  }
  if (rr == 0) {
    from = 0;
    len = info.size;
  } else {
    status = 206;
    len = to - from + 1;
    pipe__sbuf_printf(&extra, "Content-Range: bytes %llu-%llu/%llu\r\n",
                      (unsigned long long)from, (unsigned long long)to,
                      (unsigned long long)info.size);
  }
  pipe__sbuf_printf(&extra, "ETag: %s\r\nAccept-Ranges: bytes\r\n", info.etag);
  if (method_is(c, HTTP_HEAD) || len == 0) {
    uv_fs_t req;
    uv_fs_close(NULL, &req, fd, NULL);
    uv_fs_req_cleanup(&req);
    send_head(c, status, extra.p, "application/octet-stream", len, NULL, 0, 1);
    pipe__sbuf_free(&extra);
    return;
  }
  g = calloc(1, sizeof(*g));
  if (g == NULL) {
    uv_fs_t req;
    uv_fs_close(NULL, &req, fd, NULL);
    uv_fs_req_cleanup(&req);
    pipe__sbuf_free(&extra);
    send_error(c, 500, "internal", "out of memory");
    return;
  }
  g->c = c;
  g->fd = fd;
  g->off = from;
  g->left = len;
  c->get = g;
  c->refs++;
  send_head(c, status, extra.p, "application/octet-stream", len, NULL, 0, 0);
  pipe__sbuf_free(&extra);
  get_read_next(g);
}

/* ---- GET from an asynchronous store (S3) -----------------------------------
 *
 * read_open asks for the object's size and ETag (HeadObject); the headers
 * go out as for a local object (Range, 206/416), then one ranged read
 * streams the bytes, each piece written as it arrives. While AGET_MAX_WQ
 * writes are queued on the socket the read pauses (the S3 transfer
 * stops): a slow client pauses the read from storage. */
#define AGET_MAX_WQ 16

static void aget_written(conn_t* c, int status) {
  getj_t* g = c->get;
  if (g == NULL || status < 0) return; /* write_cb closes */
  g->wq--;
  if (g->paused && g->wq < AGET_MAX_WQ / 2 && !g->dead && !c->closing) {
    g->paused = 0;
    c->srv->store->ops->read_resume(g->rd); /* may end g */
  }
}

static void aget_info(void* ud, int st, const pipe_store_info_t* info,
                      const pipe_error_t* err) {
  getj_t* g = ud;
  conn_t* c = g->c;
  pipe_sbuf_t extra = {0};
  uint64_t from = 0, to = 0, len;
  int status = 200, rr = 0, r;
  if (st < 0) {
    if (st == PIPE_ENOENT) {
      send_error(c, 404, "no_such_key", "no object %s", g->key);
    } else {
      int hs = store_status_err(st, err);
      log_error(c->srv, c, "reading %s failed: %s", g->key,
                err != NULL && err->msg[0] ? err->msg : pipe_strerror(st));
      if (hs == 503)
        send_error_x(c, 503, status_code_name(hs), "Retry-After: 1\r\n",
                     "cannot read %s: %s", g->key, pipe_strerror(st));
      else
        send_error(c, hs, status_code_name(hs), "cannot read %s: %s",
                   g->key, pipe_strerror(st));
    }
    get_free(g);
    return;
  }
  if (c->if_none_match != NULL &&
      (strcmp(c->if_none_match, "*") == 0 ||
       strstr(c->if_none_match, info->etag) != NULL)) {
    /* The client has this version (RFC 9110 13.1.2): no body. */
    pipe__sbuf_printf(&extra, "ETag: %s\r\n", info->etag);
    send_head(c, 304, extra.p, NULL, 0, NULL, 0, 1);
    pipe__sbuf_free(&extra);
    get_free(g);
    return;
  }
  if (c->range != NULL) rr = parse_range(c->range, info->size, &from, &to);
  if (rr < 0) {
    pipe__sbuf_printf(&extra, "Content-Range: bytes */%llu\r\n",
                      (unsigned long long)info->size);
    send_error_x(c, 416, "range_not_satisfiable", extra.p,
                 "the range is outside the object's %llu bytes",
                 (unsigned long long)info->size);
    pipe__sbuf_free(&extra);
    get_free(g);
    return;
  }
  if (rr == 0) {
    from = 0;
    len = info->size;
  } else {
    status = 206;
    len = to - from + 1;
    pipe__sbuf_printf(&extra, "Content-Range: bytes %llu-%llu/%llu\r\n",
                      (unsigned long long)from, (unsigned long long)to,
                      (unsigned long long)info->size);
  }
  pipe__sbuf_printf(&extra, "ETag: %s\r\nAccept-Ranges: bytes\r\n", info->etag);
  if (method_is(c, HTTP_HEAD) || len == 0) {
    send_head(c, status, extra.p, "application/octet-stream", len, NULL, 0, 1);
    pipe__sbuf_free(&extra);
    get_free(g);
    return;
  }
  send_head(c, status, extra.p, "application/octet-stream", len, NULL, 0, 0);
  pipe__sbuf_free(&extra);
  g->left = len;
  r = c->srv->store->ops->read_range(g->rd, from, len);
  if (r < 0) {
    log_error(c->srv, c, "reading a stored object failed: %s", pipe_strerror(r));
    conn_close(c); /* frees g */
  }
}

static int aget_data(void* ud, const char* p, size_t n) {
  getj_t* g = ud;
  conn_t* c = g->c;
  char* mem;
  if (g->dead || c->closing) return PIPE_ECANCELED;
  if (g->wq >= AGET_MAX_WQ) {
    g->paused = 1;
    return PIPE_FULL;
  }
  mem = malloc(n > 0 ? n : 1);
  if (mem == NULL) return PIPE_ENOMEM;
  memcpy(mem, p, n);
  g->wq++;
  g->left -= n < g->left ? n : g->left;
  c->resp_bytes += n;
  g->busy = 1; /* a failed write closes c: g must outlive this call */
  conn_write(c, mem, n, aget_written);
  g->busy = 0;
  return g->dead ? PIPE_ECANCELED : 0;
}

static void aget_end(void* ud, int st, const pipe_error_t* err) {
  getj_t* g = ud;
  conn_t* c = g->c;
  if (g->dead || c->closing) {
    get_free(g);
    return;
  }
  if (st < 0 || g->left > 0) {
    /* The headers are out: all we can do is close, the client sees a
     * short body. */
    log_error(c->srv, c, "reading a stored object failed: %s",
              err != NULL && err->msg[0] ? err->msg
                                         : st < 0 ? pipe_strerror(st)
                                                  : "short read");
    conn_close(c); /* frees g */
    return;
  }
  /* After the last piece's write: the response is complete. */
  conn_write(c, malloc(1), 0, resp_written);
  get_free(g);
}

static const pipe_store_read_cbs_t aget_cbs = {
    .on_info = aget_info,
    .on_data = aget_data,
    .on_end = aget_end,
};

static void route_get_async(conn_t* c, const char* key) {
  pipe_http_server_t* srv = c->srv;
  getj_t* g = calloc(1, sizeof(*g));
  int r;
  if (g == NULL) {
    send_error(c, 500, "internal", "out of memory");
    return;
  }
  g->c = c;
  g->fd = -1;
  c->get = g;
  c->refs++;
  g->key = strdup(key);
  r = g->key == NULL ? PIPE_ENOMEM
                     : srv->store->ops->read_open(srv->store, key, &aget_cbs, g,
                                                  &g->rd);
  if (r < 0) {
    g->rd = NULL;
    send_error(c, 502, "store_unavailable", "cannot read %s: %s", key,
               pipe_strerror(r));
    get_free(g);
  }
}

/* ---- connections of the server ------------------------------------------- */

int pipe__server_conn_new(pipe_http_server_t* srv, int fd) {
  conn_t* c = calloc(1, sizeof(*c));
  struct sockaddr_storage ss;
  int len = sizeof(ss), r;
  if (c == NULL) {
    close(fd);
    return PIPE_ENOMEM;
  }
  c->srv = srv;
  uv_tcp_init(srv->loop, &c->tcp);
  uv_timer_init(srv->loop, &c->timer);
  c->tcp.data = c->timer.data = c;
  c->refs = 2; /* the two handles */
  c->next = srv->conns;
  if (srv->conns != NULL) srv->conns->prev = c;
  srv->conns = c;
  srv->nconns++;
  http_parser_init(&c->hp, HTTP_REQUEST);
  c->hp.data = c;
  r = uv_tcp_open(&c->tcp, (uv_os_sock_t)fd);
  if (r < 0) {
    close(fd); /* not the handle's: uv_tcp_open did not take it */
    c->closing = 1;
    srv->nclosing++;
    uv_close((uv_handle_t*)&c->timer, handle_closed);
    uv_close((uv_handle_t*)&c->tcp, handle_closed);
    return r;
  }
  uv_tcp_nodelay(&c->tcp, 1);
  if (uv_tcp_getpeername(&c->tcp, (struct sockaddr*)&ss, &len) == 0) {
    char ip[INET6_ADDRSTRLEN] = "";
    int port = 0;
    if (ss.ss_family == AF_INET6) {
      struct sockaddr_in6* a = (struct sockaddr_in6*)&ss;
      uv_ip6_name(a, ip, sizeof(ip));
      port = ntohs(a->sin6_port);
    } else {
      struct sockaddr_in* a = (struct sockaddr_in*)&ss;
      uv_ip4_name(a, ip, sizeof(ip));
      port = ntohs(a->sin_port);
    }
    snprintf(c->remote, sizeof(c->remote), "%s:%d", ip, port);
  }
  c->phase = PH_IDLE;
  start_reading(c);
  return 0;
}

/* Waiting for its next request with nothing under way: closing it loses
 * nothing (a client reusing it sees the close and reconnects, as after
 * --idle-timeout). A connection that has not had a request yet is not one:
 * its client is about to send. */
static int idle_keep_alive(const conn_t* c) {
  return !c->closing && !c->lingering && c->kept_alive && c->phase == PH_IDLE &&
         c->job == NULL && c->get == NULL && c->writes == 0 &&
         c->rpos >= c->rlen;
}

int pipe__server_reclaim_idle(pipe_http_server_t* srv) {
  conn_t *c, *oldest = NULL;
  for (c = srv->conns; c != NULL; c = c->next)
    if (idle_keep_alive(c) &&
        (oldest == NULL || c->idle_since < oldest->idle_since))
      oldest = c;
  if (oldest == NULL) return 0;
  conn_close(oldest); /* its descriptor is closed now (uv_close) */
  srv->metrics.conns_reclaimed++;
  return 1;
}

/* Draining: connections waiting for a next request go now; the others
 * close when their response is out (can_keep_alive says no). */
void pipe__server_close_idle(pipe_http_server_t* srv) {
  conn_t* c = srv->conns;
  while (c != NULL) {
    conn_t* nx = c->next;
    if (c->phase == PH_IDLE && c->job == NULL && c->get == NULL &&
        c->writes == 0)
      conn_close(c);
    c = nx;
  }
}

/* The grace is over: abort what is left (jobs remove their objects). */
void pipe__server_close_all(pipe_http_server_t* srv) {
  conn_t* c = srv->conns;
  srv->aborting = 1; /* the clients are not the ones gone */
  while (c != NULL) {
    conn_t* nx = c->next;
    if (c->job != NULL && !c->closing)
      log_error(srv, c, "shutdown grace over: upload aborted");
    conn_close(c);
    c = nx;
  }
}
