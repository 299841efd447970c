/* Reading a file descriptor with uv_fs_read (see fd_reader.h).
 *
 * State machine of one reader: idle -> (pump) read in flight -> callback ->
 * either read again into the same buffer (it is not full yet), push it and
 * read the next one, stop because downstream is full (resume() pumps), or
 * end. `busy` is set exactly while r->req is in flight, and the stage holds
 * the pipeline open for exactly that time.
 */
#include "stages/fd_reader.h"

#include "pipe/pipeline.h"

static void read_cb(uv_fs_t* req);

void pipe__fd_reader_init(pipe_fd_reader_t* r, pipe_stage_t* s, uv_file fd,
                          int64_t offset, int owns_fd, const char* what) {
  r->stage = s;
  r->what = what;
  r->fd = fd;
  r->offset = offset;
  r->buf = NULL;
  r->busy = 0;
  r->eof = 0;
  r->dead = 0;
  r->owns_fd = owns_fd ? 1 : 0;
  r->req.data = r;
}

static void close_fd(pipe_fd_reader_t* r) {
  uv_fs_t req;
  if (!r->owns_fd || r->fd < 0) return;
  /* Synchronous: close() of a regular file does not block for long, and
   * it keeps teardown free of one more callback to wait for. */
  uv_fs_close(NULL, &req, r->fd, NULL);
  uv_fs_req_cleanup(&req);
  r->fd = -1;
}

void pipe__fd_reader_pump(pipe_fd_reader_t* r) {
  pipe_stage_t* s = r->stage;
  uv_buf_t iov;
  int err;
  if (r->dead || r->busy || r->eof || pipe_stage_stopping(s) || s->blocked)
    return;
  if (r->buf == NULL) {
    /* The buffer is ours (returns: caller owns) until we push it. */
    r->buf = pipe_pool_acquire(s->pool);
    if (r->buf == NULL) {
      pipe_stage_wait_pool(s, s->pool); /* resume() pumps again */
      return;
    }
  }
  /* Borrowed by the request until read_cb: the buffer must not move. */
  iov = uv_buf_init((char*)pipe_buf_tail(r->buf),
                    (unsigned)pipe_buf_room(r->buf));
  pipe_stage_hold(s);
  r->busy = 1;
  r->req.data = r;
  err = uv_fs_read(pipe_stage_loop(s), &r->req, r->fd, &iov, 1, r->offset,
                   read_cb);
  if (err < 0) {
    r->busy = 0;
    pipe_stage_fail(s, err, "cannot read %s: %s", r->what, uv_strerror(err));
    pipe_stage_release(s);
  }
}

/* Pushes the filled buffer (gives it away: after this we must not touch
 * it). Returns 1 to go on reading, 0 to stop (full, failing). */
static int push_buf(pipe_fd_reader_t* r) {
  pipe_buf_t* b = r->buf;
  r->buf = NULL;
  return pipe_stage_push(r->stage, b) == PIPE_OK;
}

static void read_cb(uv_fs_t* req) {
  pipe_fd_reader_t* r = req->data;
  pipe_stage_t* s = r->stage;
  ssize_t n = req->result;
  uv_fs_req_cleanup(req);
  r->busy = 0;
  if (r->dead || pipe_stage_stopping(s)) {
    /* Torn down (or the outcome is decided) while we read: only clean up.
     * pipe__fd_reader_destroy() left the buffer and the fd to us. */
    pipe_buf_unref(r->buf);
    r->buf = NULL;
    if (r->dead) close_fd(r);
    pipe_stage_release(s); /* last: may complete the pipeline */
    return;
  }
  if (n < 0) {
    pipe_stage_fail(s, (int)n, "cannot read %s: %s", r->what,
                    uv_strerror((int)n));
  } else if (n == 0) {
    /* End of file: push what the buffer holds, then end (the core delivers
     * the end behind that data even if downstream answered PIPE_FULL). */
    r->eof = 1;
    if (r->buf->len > 0)
      (void)push_buf(r);
    else {
      pipe_buf_unref(r->buf);
      r->buf = NULL;
    }
    pipe_stage_end(s);
  } else {
    r->buf->len += (size_t)n;
    if (r->offset >= 0) r->offset += n;
    /* Fill the whole buffer before pushing: fewer, fuller buffers down the
     * line. A short read from a regular file usually means end of file,
     * which the next read confirms with 0. */
    if (pipe_buf_room(r->buf) == 0 && !push_buf(r)) {
      pipe_stage_release(s);
      return; /* full or failing: resume() pumps again */
    }
    pipe__fd_reader_pump(r);
  }
  pipe_stage_release(s);
}

void pipe__fd_reader_destroy(pipe_fd_reader_t* r) {
  r->dead = 1;
  if (r->busy) return; /* read_cb releases the buffer and the fd */
  pipe_buf_unref(r->buf);
  r->buf = NULL;
  close_fd(r);
}
