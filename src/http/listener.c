/* The HTTP server's listening socket and connection admission
 * (--max-connections, the file-descriptor limit).
 *
 * We accept connections ourselves, with a uv_poll_t on the listening socket
 * and accept4(), rather than with uv_listen(). What libuv 1.44's listener
 * (uv__server_io in src/unix/stream.c) does at the limits is not what a
 * server that must stay up wants:
 *   - At EMFILE/ENFILE it closes the spare descriptor it keeps, accepts
 *     every pending connection and closes it at once: the client reads an
 *     EOF or a reset instead of an answer, and no callback says so, so there
 *     is nothing to log or count.
 *   - When that spare is gone (reopening it failed) it calls the connection
 *     callback with UV_EMFILE and retries accept() at once, forever, inside
 *     one callback: the loop spins at full CPU and serves nothing. Measured
 *     on the server of before this file: RLIMIT_NOFILE lowered to 3 under a
 *     running `pipe serve`, one connection pending, ~1 s of CPU per 2 s.
 *   - A connection past --max-connections must be answered and closed: with
 *     uv_accept() each refusal costs a handle and a loop iteration.
 * Here:
 *   - Below the cap, an accepted descriptor becomes a connection
 *     (pipe__server_conn_new).
 *   - At the cap, it gets a complete 503 (the usual JSON error, a request
 *     id, Retry-After: 1, Connection: close) in one non-blocking send() — a
 *     few hundred bytes into a new socket's empty send buffer — and is
 *     closed. Its request is never parsed or waited for; what of it has
 *     already arrived is discarded (up to 64 KiB, without blocking) so that
 *     close() sends FIN rather than RST, which some client stacks answer by
 *     dropping the 503 unread. No handle, no allocation, nothing left in the
 *     backlog. (At worker_connections, 512 by default, nginx closes idle
 *     keep-alive connections to make room — ngx_drain_connections — and
 *     else accepts the new one and closes it unanswered, logging
 *     "worker_connections are not enough". Node's server.maxConnections,
 *     unlimited by default, closes the new socket unanswered too. A 503
 *     with Retry-After tells a client or load balancer what happened and
 *     when to come back.)
 *   - At EMFILE/ENFILE, the spare descriptor we hold is closed, one
 *     connection accepted into its slot and refused as above (with code
 *     fd_limit), the spare reopened: the standard trick (libuv's, and the
 *     one libev's documentation describes), but the client gets an answer.
 *     Without a spare (it could not be reopened), accepting pauses for
 *     100 ms (nginx disables accept events for accept_mutex_delay, 500 ms)
 *     and new connections wait in the backlog meanwhile: a bounded amount
 *     of work whatever the flood.
 *   - Errors of one connection (ECONNABORTED, the network errors accept(2)
 *     passes on) skip it; any other error pauses as above.
 * At most 64 connections are accepted per wakeup, so that one busy listener
 * cannot starve the connections it already has, and so that workers sharing
 * the socket each take some.
 *
 * Each refusal is counted (pipe_http_connections_refused_total{reason}) and
 * logged, at most one line per reason a second with the count since the
 * previous one: the first refusal is logged at once, later ones within the
 * second are folded into the line that refuse_timer writes when it ends, so
 * a flood cannot fill the disk. Loop thread only. */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE /* accept4 */
#endif
#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>
#include <uv.h>

#include "http/server_internal.h"

#define ACCEPT_BATCH 64
#define ACCEPT_PAUSE_MS 100
#define REFUSE_LOG_MS 1000
#define DISCARD_MAX (64 * 1024)

static const char* const refuse_reason[PIPE_HTTP_REFUSE_NKINDS] = {
    "max_connections", "fd_limit", "accept_paused"};

/* The spare descriptor: one slot of the process's table kept free for the
 * moment the table is full. -1 when it cannot be had. */
static int open_spare(void) {
  return open("/dev/null", O_RDONLY | O_CLOEXEC);
}

static const char* errno_name(int e) {
  switch (e) {
    case 0: return "";
    case EMFILE: return "EMFILE";
    case ENFILE: return "ENFILE";
    case ENOBUFS: return "ENOBUFS";
    case ENOMEM: return "ENOMEM";
    default: return uv_err_name(-e);
  }
}

/* ---- the refusal log ------------------------------------------------------ */

static void refuse_log_flush(pipe_http_server_t* srv) {
  int k;
  for (k = 0; k < PIPE_HTTP_REFUSE_NKINDS; k++) {
    pipe_sbuf_t f = {0};
    const char* msg;
    uint64_t n = srv->refuse_unlogged[k];
    if (n == 0) continue;
    srv->refuse_unlogged[k] = 0;
    pipe__sbuf_printf(&f, ",\"reason\":\"%s\",\"count\":%llu", refuse_reason[k],
                      (unsigned long long)n);
    if (k == PIPE_HTTP_REFUSE_MAX_CONNS) {
      msg = "connections refused with 503: --max-connections reached";
      pipe__sbuf_printf(&f, ",\"connections\":%zu,\"max_connections\":%u",
                        srv->nconns - srv->nclosing, srv->cfg.max_connections);
    } else if (k == PIPE_HTTP_REFUSE_FD_LIMIT) {
      msg = "accept failed: out of file descriptors; connections refused "
            "with 503";
    } else {
      msg = "accept failed: not accepting for 100 ms";
    }
    if (srv->refuse_errno[k] != 0)
      pipe__sbuf_printf(&f, ",\"error\":\"%s\"", errno_name(srv->refuse_errno[k]));
    if (!f.oom) pipe__server_log(srv, "error", msg, f.p);
    pipe__sbuf_free(&f);
  }
}

/* Fires a second after a line was written: writes what came since, and
 * stays on as long as there is something to write. */
static void refuse_timer_cb(uv_timer_t* t) {
  pipe_http_server_t* srv = t->data;
  int k, any = 0;
  for (k = 0; k < PIPE_HTTP_REFUSE_NKINDS; k++)
    if (srv->refuse_unlogged[k] > 0) any = 1;
  if (!any) {
    srv->refuse_timer_on = 0;
    return;
  }
  refuse_log_flush(srv);
  uv_timer_start(t, refuse_timer_cb, REFUSE_LOG_MS, 0);
}

static void refuse_note(pipe_http_server_t* srv, int kind, int err) {
  srv->refuse_unlogged[kind]++;
  srv->refuse_errno[kind] = err;
  if (srv->refuse_timer_on) return; /* folded into the next line */
  refuse_log_flush(srv);
  srv->refuse_timer_on = 1;
  uv_timer_start(&srv->refuse_timer, refuse_timer_cb, REFUSE_LOG_MS, 0);
}

/* ---- refusing ------------------------------------------------------------- */

/* Answers the accepted socket fd with a complete 503 and closes it (takes
 * fd). kind: PIPE_HTTP_REFUSE_MAX_CONNS or _FD_LIMIT; err: the accept
 * error behind an fd_limit refusal. */
static void refuse(pipe_http_server_t* srv, int fd, int kind, int err) {
  pipe_sbuf_t body = {0}, resp = {0};
  char id[24], msg[200], junk[4096];
  size_t got = 0;
  ssize_t n;
  pipe__server_request_id(srv, id);
  if (kind == PIPE_HTTP_REFUSE_MAX_CONNS)
    snprintf(msg, sizeof(msg),
             "the server has %zu connections open, its limit "
             "(--max-connections); retry later",
             srv->nconns - srv->nclosing);
  else
    snprintf(msg, sizeof(msg),
             "the server is out of file descriptors; retry later");
  pipe__server_error_body(&body, 503,
                          kind == PIPE_HTTP_REFUSE_MAX_CONNS
                              ? "too_many_connections"
                              : "fd_limit",
                          msg, id);
  /* The headers of every error response (send_head), in its order. */
  pipe__sbuf_printf(&resp,
                    "HTTP/1.1 503 Service Unavailable\r\n"
                    "X-Request-Id: %s\r\n"
                    "Content-Type: application/json\r\n"
                    "Content-Length: %zu\r\n"
                    "Connection: close\r\n"
                    "Retry-After: 1\r\n\r\n",
                    id, body.len);
  pipe__sbuf_add(&resp, body.p, body.len);
  if (!resp.oom && !body.oom)
    (void)send(fd, resp.p, resp.len, MSG_NOSIGNAL | MSG_DONTWAIT);
  while (got < DISCARD_MAX &&
         (n = recv(fd, junk, sizeof(junk), MSG_DONTWAIT)) > 0)
    got += (size_t)n;
  close(fd);
  pipe__sbuf_free(&body);
  pipe__sbuf_free(&resp);
  srv->metrics.conns_refused[kind]++;
  refuse_note(srv, kind, err);
}

/* ---- accepting ------------------------------------------------------------ */

static void on_readable(uv_poll_t* h, int status, int events);

static void accept_resume(uv_timer_t* t) {
  pipe_http_server_t* srv = t->data;
  if (srv->draining) return;
  if (srv->spare_fd < 0) srv->spare_fd = open_spare();
  if (uv_poll_start(&srv->accept_poll, UV_READABLE, on_readable) == 0)
    srv->accept_polling = 1;
  else
    uv_timer_start(&srv->accept_timer, accept_resume, ACCEPT_PAUSE_MS, 0);
}

/* Stops reading the listening socket for ACCEPT_PAUSE_MS: the pending
 * connections stay in the backlog instead of the loop retrying accept()
 * (level-triggered poll: a readable socket we cannot accept from would
 * wake us again at once). err: a negated errno or libuv error. */
static void accept_pause(pipe_http_server_t* srv, int err) {
  if (srv->accept_polling) {
    uv_poll_stop(&srv->accept_poll);
    srv->accept_polling = 0;
  }
  uv_timer_start(&srv->accept_timer, accept_resume, ACCEPT_PAUSE_MS, 0);
  srv->metrics.accept_paused++;
  refuse_note(srv, PIPE_HTTP_ACCEPT_PAUSED, -err);
}

/* The errors accept(2) returns for one connection that went wrong (Linux
 * passes pending network errors on as accept's): skip it, accept on. */
static int one_connection_error(int e) {
  return e == ECONNABORTED || e == EINTR || e == EPROTO || e == EPERM ||
         e == ENETDOWN || e == ENOPROTOOPT || e == EHOSTDOWN ||
#ifdef ENONET
         e == ENONET ||
#endif
         e == EHOSTUNREACH || e == EOPNOTSUPP || e == ENETUNREACH;
}

/* The table is full (EMFILE) or the system's is (ENFILE): frees the spare's
 * slot, accepts one connection into it, refuses it, takes the slot back.
 * Returns 1 when accepting can go on, 0 when it must pause. */
static int accept_with_spare(pipe_http_server_t* srv, int err) {
  int fd, e;
  if (srv->spare_fd < 0) return 0;
  close(srv->spare_fd);
  fd = accept4(srv->listen_fd, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC);
  e = errno;
  if (fd >= 0) refuse(srv, fd, PIPE_HTTP_REFUSE_FD_LIMIT, err);
  srv->spare_fd = open_spare(); /* the slot fd had, now free again */
  if (fd >= 0) return 1;
  return e == EAGAIN || e == EWOULDBLOCK || one_connection_error(e);
}

/* At the cap, an idle keep-alive connection makes room before a new one is
 * refused: a client holding connections it is not using does not lock
 * others out. Connections being closed no longer count (their descriptors
 * are closed; their handles go on the next loop turn). */
static void admit(pipe_http_server_t* srv, int fd) {
  if (srv->cfg.max_connections > 0 &&
      srv->nconns - srv->nclosing >= srv->cfg.max_connections &&
      !pipe__server_reclaim_idle(srv)) {
    refuse(srv, fd, PIPE_HTTP_REFUSE_MAX_CONNS, 0);
    return;
  }
  (void)pipe__server_conn_new(srv, fd); /* takes fd */
}

static void on_readable(uv_poll_t* h, int status, int events) {
  pipe_http_server_t* srv = h->data;
  int i;
  (void)events;
  if (srv->draining) return;
  if (status < 0) {
    accept_pause(srv, status);
    return;
  }
  if (srv->spare_fd < 0) srv->spare_fd = open_spare();
  for (i = 0; i < ACCEPT_BATCH; i++) {
    int fd = accept4(srv->listen_fd, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC);
    int e;
    if (fd >= 0) {
      admit(srv, fd);
      continue;
    }
    e = errno;
    if (e == EAGAIN || e == EWOULDBLOCK) return; /* none left (or another
                                                     worker took it) */
    if (one_connection_error(e)) continue;
    if ((e == EMFILE || e == ENFILE) && accept_with_spare(srv, e)) continue;
    accept_pause(srv, -e);
    return;
  }
}

int pipe__listener_start(pipe_http_server_t* srv, int fd) {
  int r, fl;
  srv->listen_fd = fd;
  srv->spare_fd = -1;
  fl = fcntl(fd, F_GETFL);
  if (fl < 0 || fcntl(fd, F_SETFL, fl | O_NONBLOCK) < 0) {
    r = -errno;
    close(fd);
    srv->listen_fd = -1;
    return r;
  }
  r = uv_poll_init_socket(srv->loop, &srv->accept_poll, fd);
  if (r < 0) {
    close(fd);
    srv->listen_fd = -1;
    return r;
  }
  uv_timer_init(srv->loop, &srv->accept_timer);
  uv_timer_init(srv->loop, &srv->refuse_timer);
  srv->accept_poll.data = srv->accept_timer.data = srv->refuse_timer.data = srv;
  srv->listening = 3;
  srv->spare_fd = open_spare();
  r = uv_poll_start(&srv->accept_poll, UV_READABLE, on_readable);
  if (r < 0) {
    pipe__listener_close(srv);
    return r;
  }
  srv->accept_polling = 1;
  return 0;
}

static void listener_closed(uv_handle_t* h) {
  pipe_http_server_t* srv = h->data;
  if (--srv->listening == 0) pipe__server_drain_check(srv);
}

void pipe__listener_close(pipe_http_server_t* srv) {
  if (srv->listen_fd < 0) return;
  refuse_log_flush(srv); /* what the rate limit held back */
  uv_close((uv_handle_t*)&srv->accept_poll, listener_closed);
  uv_close((uv_handle_t*)&srv->accept_timer, listener_closed);
  uv_close((uv_handle_t*)&srv->refuse_timer, listener_closed);
  srv->accept_polling = 0;
  /* Closed now, not in the close callback: the poll no longer watches it
   * (uv_close stops it at once), and other workers sharing the socket go
   * on accepting from their copies. */
  close(srv->listen_fd);
  srv->listen_fd = -1;
  if (srv->spare_fd >= 0) close(srv->spare_fd);
  srv->spare_fd = -1;
}
