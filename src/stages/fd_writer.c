/* The sinks' write queue (see fd_writer.h).
 *
 * Invariants: count == length of the queue; the first `inflight` buffers
 * of the queue are borrowed by the request in flight (busy == 1) and must
 * not be released or moved until its callback; every other buffer may be
 * dropped at any time. The stage holds the pipeline exactly while busy.
 * In direct mode a request borrows a staging buffer, never a queued one
 * (inflight stays 0): queued buffers are copied out and released.
 */
#define _GNU_SOURCE /* O_DIRECT */
#include "stages/fd_writer.h"

#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>

#include "pipe/pipeline.h"

/* One request gathers at most this many buffers (well under IOV_MAX; more
 * would not make the write any faster). */
#define MAX_IOV 16

static void kick(pipe_fd_writer_t* w);
static void kick_direct(pipe_fd_writer_t* w);
static void complete_direct(pipe_fd_writer_t* w, ssize_t res);
static void free_direct(pipe_fd_writer_t* w);
static void fs_write_cb(uv_fs_t* req);

static void init_common(pipe_fd_writer_t* w, pipe_stage_t* s,
                        pipe__fd_writer_cb done) {
  w->stage = s;
  w->stream = NULL;
  w->fd = -1;
  w->offset = -1;
  w->head = w->tail = NULL;
  w->head_off = 0;
  w->count = w->inflight = w->inflight_bytes = 0;
  w->hwm = pipe_pipeline_config(s->pipeline)->hwm;
  w->done = done;
  w->idle = NULL;
  w->dbuf[0] = w->dbuf[1] = NULL;
  w->dlen[0] = w->dlen[1] = w->doff = 0;
  w->dfill = w->dwrite = 0;
  w->odirect = 0;
  w->busy = w->full = w->ending = w->stopped = w->dead = 0;
}

void pipe__fd_writer_init_fs(pipe_fd_writer_t* w, pipe_stage_t* s, uv_file fd,
                             int64_t offset, pipe__fd_writer_cb done) {
  init_common(w, s, done);
  w->fd = fd;
  w->offset = offset;
  w->req.fs.data = w;
}

void pipe__fd_writer_init_stream(pipe_fd_writer_t* w, pipe_stage_t* s,
                                 uv_stream_t* stream, pipe__fd_writer_cb done) {
  init_common(w, s, done);
  w->stream = stream;
  w->req.wr.data = w;
}

/* Releases the first n buffers of the queue. */
static void drop_front(pipe_fd_writer_t* w, size_t n) {
  while (n-- > 0 && w->head != NULL) {
    pipe_buf_t* b = w->head;
    w->head = b->next;
    w->head_off = 0;
    if (w->head == NULL) w->tail = NULL;
    w->count--;
    pipe_buf_unref(b);
  }
}

/* Releases every buffer after the first `keep`: those not in a request. */
static void drop_after(pipe_fd_writer_t* w, size_t keep) {
  pipe_buf_t* b = w->head;
  pipe_buf_t* rest;
  size_t i;
  if (keep == 0) {
    drop_front(w, w->count);
    return;
  }
  for (i = 1; i < keep && b != NULL; i++) b = b->next;
  if (b == NULL) return;
  rest = b->next;
  b->next = NULL;
  w->tail = b;
  while (rest != NULL) {
    pipe_buf_t* n = rest->next;
    pipe_buf_unref(rest);
    w->count--;
    rest = n;
  }
}

static void finish(pipe_fd_writer_t* w, int status) {
  if (w->stopped) return;
  w->stopped = 1;
  if (status < 0) drop_after(w, w->busy ? w->inflight : 0);
  w->done(w, status);
}

/* Accounts for `res` bytes written (or an error) by the request that just
 * completed. Runs with the stage still held; the caller releases. */
static void complete(pipe_fd_writer_t* w, ssize_t res) {
  size_t left;
  w->busy = 0;
  if (w->dead) {
    /* Torn down while the kernel had our buffers: now they can go. */
    drop_front(w, w->inflight);
    w->inflight = 0;
    free_direct(w);
    if (w->idle != NULL) w->idle(w, 0);
    return;
  }
  if (w->dbuf[0] != NULL) {
    complete_direct(w, res);
    return;
  }
  w->inflight = 0;
  if (res == 0 && w->inflight_bytes > 0) res = UV_EIO; /* no progress */
  if (res < 0) {
    finish(w, (int)res);
    return;
  }
  if (w->offset >= 0) w->offset += res;
  /* Short writes leave the rest of a buffer (or of the batch) in the queue:
   * the next kick continues from there. The position goes in head_off, not
   * in the buffer's off/len: those are its producer's, and a buffer with
   * refs > 1 is read-only to us. */
  left = (size_t)res;
  while (left > 0 && w->head != NULL) {
    pipe_buf_t* b = w->head;
    if (b->len - w->head_off > left) {
      w->head_off += left;
      break;
    }
    left -= b->len - w->head_off;
    drop_front(w, 1);
  }
  if (w->full && w->count < w->hwm) {
    w->full = 0;
    pipe_stage_drain(w->stage);
  }
  kick(w);
}

/* ---- direct mode ------------------------------------------------------- */

/* Sets or clears O_DIRECT on fd. Returns 0 or a negated errno. */
static int set_odirect(int fd, int on) {
  int fl = fcntl(fd, F_GETFL);
  if (fl == -1) return -errno;
  fl = on ? fl | O_DIRECT : fl & ~O_DIRECT;
  return fcntl(fd, F_SETFL, fl) == 0 ? 0 : -errno;
}

static void free_direct(pipe_fd_writer_t* w) {
  free(w->dbuf[0]); /* one allocation holds both */
  w->dbuf[0] = w->dbuf[1] = NULL;
}

int pipe__fd_writer_set_direct(pipe_fd_writer_t* w) {
  void* mem;
  int r;
  if (w->stream != NULL || w->offset != 0 || w->dbuf[0] != NULL)
    return PIPE_EINVAL;
  if (posix_memalign(&mem, PIPE__FD_DIRECT_ALIGN, 2 * PIPE__FD_DIRECT_CHUNK) != 0)
    return PIPE_ENOMEM;
  r = set_odirect(w->fd, 1);
  if (r < 0) {
    free(mem);
    return r;
  }
  w->dbuf[0] = mem;
  w->dbuf[1] = (char*)mem + PIPE__FD_DIRECT_CHUNK;
  w->odirect = 1;
  return 0;
}

/* Copies queued buffers into the staging buffer being filled, releasing
 * each one as soon as its last byte is copied. */
static void fill_direct(pipe_fd_writer_t* w) {
  unsigned f = w->dfill;
  while (w->head != NULL && w->dlen[f] < PIPE__FD_DIRECT_CHUNK) {
    pipe_buf_t* b = w->head;
    size_t n = b->len - w->head_off;
    size_t room = PIPE__FD_DIRECT_CHUNK - w->dlen[f];
    if (n > room) n = room;
    memcpy(w->dbuf[f] + w->dlen[f], pipe_buf_data(b) + w->head_off, n);
    w->dlen[f] += n;
    w->head_off += n;
    if (w->head_off == b->len) drop_front(w, 1);
  }
}

/* Writes dbuf[i] from doff: with O_DIRECT while the chunk is whole and
 * aligned, else (the file's tail, or after the kernel refused) buffered. */
static void write_direct(pipe_fd_writer_t* w, unsigned i) {
  uv_buf_t iov;
  size_t n = w->dlen[i] - w->doff;
  int err;
  if (w->odirect && (n != PIPE__FD_DIRECT_CHUNK || w->doff != 0)) {
    err = set_odirect(w->fd, 0);
    if (err < 0) {
      finish(w, err);
      return;
    }
    w->odirect = 0; /* and stays off: the offset is no longer aligned */
  }
  iov = uv_buf_init(w->dbuf[i] + w->doff, (unsigned)n);
  w->dwrite = i;
  w->inflight_bytes = n;
  w->busy = 1;
  pipe_stage_hold(w->stage);
  w->req.fs.data = w;
  err = uv_fs_write(pipe_stage_loop(w->stage), &w->req.fs, w->fd, &iov, 1,
                    w->offset, fs_write_cb);
  if (err < 0) {
    w->busy = 0;
    finish(w, err);
    pipe_stage_release(w->stage);
  }
}

/* kick() in direct mode: copy what is queued, and write a full staging
 * buffer (or, once ending, the tail) when nothing is in flight. */
static void kick_direct(pipe_fd_writer_t* w) {
  if (w->stopped || w->dead || pipe_stage_stopping(w->stage)) return;
  fill_direct(w);
  if (!w->busy) {
    unsigned f = w->dfill;
    if (w->dlen[f] == PIPE__FD_DIRECT_CHUNK ||
        (w->ending && w->head == NULL && w->dlen[f] > 0)) {
      w->dfill = f ^ 1u; /* empty: its write has completed */
      w->doff = 0;
      write_direct(w, f);
      if (w->stopped) return;
      fill_direct(w);
    } else if (w->ending && w->head == NULL) {
      finish(w, 0);
    }
  }
}

/* A staging buffer's write completed with res bytes (or an error). */
static void complete_direct(pipe_fd_writer_t* w, ssize_t res) {
  unsigned i = w->dwrite;
  if (res == UV_EINVAL && w->odirect) {
    /* The filesystem took the flag but not the write (alignment it wants
     * larger than ours): the same bytes again, buffered. */
    int err = set_odirect(w->fd, 0);
    if (err < 0) {
      finish(w, err);
      return;
    }
    w->odirect = 0;
    write_direct(w, i);
    return;
  }
  if (res == 0 && w->inflight_bytes > 0) res = UV_EIO; /* no progress */
  if (res < 0) {
    finish(w, (int)res);
    return;
  }
  w->offset += res;
  w->doff += (size_t)res;
  if (w->doff < w->dlen[i]) { /* short write: the rest, buffered */
    write_direct(w, i);
    return;
  }
  w->dlen[i] = 0;
  w->doff = 0;
  kick_direct(w);
  if (!w->stopped && w->full && w->count < w->hwm) {
    w->full = 0;
    pipe_stage_drain(w->stage); /* last: upstream may write into us */
  }
}

static void fs_write_cb(uv_fs_t* req) {
  pipe_fd_writer_t* w = req->data;
  pipe_stage_t* s = w->stage;
  ssize_t res = req->result;
  uv_fs_req_cleanup(req);
  complete(w, res);
  pipe_stage_release(s); /* last: may complete the pipeline */
}

static void stream_write_cb(uv_write_t* req, int status) {
  pipe_fd_writer_t* w = req->data;
  pipe_stage_t* s = w->stage;
  /* uv_write writes everything or fails. */
  complete(w, status < 0 ? (ssize_t)status : (ssize_t)w->inflight_bytes);
  pipe_stage_release(s);
}

/* Starts the next request if there is something to write and nothing in
 * flight; reports done(0) once ending and empty. */
static void kick(pipe_fd_writer_t* w) {
  uv_buf_t iov[MAX_IOV];
  pipe_buf_t* b;
  size_t n = 0, bytes = 0;
  int err;
  if (w->dbuf[0] != NULL) {
    kick_direct(w);
    return;
  }
  if (w->busy || w->stopped || w->dead) return;
  /* The run's outcome is decided (another stage failed, an abort): write
   * nothing more and, above all, do not report success: destroy() comes
   * next. */
  if (pipe_stage_stopping(w->stage)) return;
  if (w->head == NULL) {
    if (w->ending) finish(w, 0);
    return;
  }
  /* The request borrows these buffers' bytes until its callback. */
  for (b = w->head; b != NULL && n < MAX_IOV; b = b->next) {
    size_t skip = b == w->head ? w->head_off : 0;
    iov[n++] = uv_buf_init((char*)pipe_buf_data(b) + skip,
                           (unsigned)(b->len - skip));
    bytes += b->len - skip;
  }
  w->inflight = n;
  w->inflight_bytes = bytes;
  w->busy = 1;
  pipe_stage_hold(w->stage);
  if (w->stream != NULL) {
    w->req.wr.data = w;
    err = uv_write(&w->req.wr, w->stream, iov, (unsigned)n, stream_write_cb);
  } else {
    w->req.fs.data = w;
    err = uv_fs_write(pipe_stage_loop(w->stage), &w->req.fs, w->fd, iov,
                      (unsigned)n, w->offset, fs_write_cb);
  }
  if (err < 0) {
    w->busy = 0;
    w->inflight = 0;
    finish(w, err);
    pipe_stage_release(w->stage);
  }
}

int pipe__fd_writer_write(pipe_fd_writer_t* w, pipe_buf_t* buf) {
  if (w->stopped || w->dead || w->ending) {
    pipe_buf_unref(buf); /* nothing more will be written */
    return PIPE_FULL;
  }
  if (buf->len == 0) {
    pipe_buf_unref(buf);
  } else {
    buf->next = NULL; /* the link is ours now */
    if (w->tail != NULL)
      w->tail->next = buf;
    else
      w->head = buf;
    w->tail = buf;
    w->count++;
    kick(w);
  }
  if (w->count >= w->hwm && !w->stopped) {
    w->full = 1;
    return PIPE_FULL;
  }
  return w->stopped ? PIPE_FULL : PIPE_OK;
}

void pipe__fd_writer_end(pipe_fd_writer_t* w) {
  if (w->ending || w->dead) return;
  w->ending = 1;
  kick(w);
}

void pipe__fd_writer_destroy(pipe_fd_writer_t* w, pipe__fd_writer_cb idle) {
  if (w->dead) return;
  w->dead = 1;
  w->idle = idle;
  drop_after(w, w->busy ? w->inflight : 0);
  if (w->busy) return; /* complete() frees the rest, then calls idle */
  free_direct(w);
  if (idle != NULL) idle(w, 0);
}
