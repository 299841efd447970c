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

/* Issues one read into r->buf (acquired here if needed). */
static void start_read(pipe_fd_reader_t* r) {
  pipe_stage_t* s = r->stage;
  uv_buf_t iov;
  int err;
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

void pipe__fd_reader_pump(pipe_fd_reader_t* r) {
  pipe_stage_t* s = r->stage;
  if (r->dead || r->busy || pipe_stage_stopping(s)) return;
  /* A filled buffer (or the last bytes at end of file) goes down first, as
   * soon as downstream takes it; the next read is issued before the push,
   * so the thread pool reads the next buffer while this one is converted
   * (read-ahead of one buffer, whatever downstream says). */
  if (r->buf != NULL &&
      (pipe_buf_room(r->buf) == 0 || (r->eof && r->buf->len > 0))) {
    pipe_buf_t* full = r->buf;
    if (s->blocked) return; /* resume() pumps again */
    r->buf = NULL;
    if (!r->eof) start_read(r);
    if (pipe_stage_push(s, full) < 0) return; /* push took `full` */
    if (r->eof) pipe_stage_end(s);
    return;
  }
  if (r->eof) {
    pipe_stage_end(s); /* nothing left to push (the core ignores repeats) */
    return;
  }
  start_read(r);
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
  } else {
    if (n == 0) {
      r->eof = 1; /* push what the buffer holds, then end */
      if (r->buf->len == 0) {
        pipe_buf_unref(r->buf);
        r->buf = NULL;
      }
    } else {
      r->buf->len += (size_t)n;
      if (r->offset >= 0) r->offset += n;
    }
    /* A buffer is pushed only once full (fewer, fuller buffers down the
     * line); a short read from a regular file usually means end of file,
     * which the next read confirms with 0. */
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
