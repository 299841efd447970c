/* Reading a libuv stream into pool buffers (see stream_reader.h).
 *
 * `reading` is 1 exactly while uv_read_start is in force; `cur` is the
 * pool buffer libuv reads into: acquired in alloc_cb, pushed (given away)
 * after every read, so it is NULL or empty between callbacks.
 */
#include "stages/stream_reader.h"

#include "pipe/pipeline.h"

void pipe__stream_reader_init(pipe_stream_reader_t* r, pipe_stage_t* s,
                              uv_stream_t* stream, const char* what) {
  r->stage = s;
  r->stream = stream;
  r->what = what;
  r->cur = NULL;
  r->reading = r->eof = r->dead = 0;
  stream->data = r;
}

/* Hands libuv the free space of the current pool buffer (borrowed by libuv
 * until read_cb). An empty pool gives a zero-length buffer: libuv then
 * calls read_cb with UV_ENOBUFS and we stop until a buffer comes back. */
static void alloc_cb(uv_handle_t* h, size_t suggested, uv_buf_t* out) {
  pipe_stream_reader_t* r = h->data;
  (void)suggested; /* our buffers have the pool's size */
  if (r->cur == NULL) r->cur = pipe_pool_acquire(r->stage->pool);
  if (r->cur == NULL) {
    *out = uv_buf_init(NULL, 0);
    return;
  }
  *out = uv_buf_init((char*)pipe_buf_tail(r->cur),
                     (unsigned)pipe_buf_room(r->cur));
}

static void stop(pipe_stream_reader_t* r) {
  if (!r->reading) return;
  uv_read_stop(r->stream);
  r->reading = 0;
}

static void read_cb(uv_stream_t* st, ssize_t n, const uv_buf_t* buf) {
  pipe_stream_reader_t* r = st->data;
  pipe_stage_t* s = r->stage;
  pipe_buf_t* b;
  int idle, ret;
  (void)buf;          /* it is r->cur's free space */
  if (n == 0) return; /* EAGAIN: keep cur for the next read */
  if (n == UV_ENOBUFS) {
    stop(r);
    pipe_stage_wait_pool(s, s->pool); /* resume() starts reading again */
    return;
  }
  if (n == UV_EOF) {
    stop(r);
    r->eof = 1;
    pipe_buf_unref(r->cur); /* cur held no data: we push on every read */
    r->cur = NULL;
    pipe_stage_end(s);
    return;
  }
  if (n < 0) {
    stop(r);
    pipe_stage_fail(s, (int)n, "cannot read %s: %s", r->what,
                    uv_strerror((int)n));
    return;
  }
  /* Pushed at once, not when full: a pipe, FIFO or terminal delivers data
   * as the writer produces it. The buffer is given away; we must not touch
   * it after. A read short of the buffer's room means the stream is
   * drained for now: send the flush signal, so stages below that hold a
   * partial buffer (csv2json) pass it on too (`tail -f x.csv | pipe
   * csv2json`). */
  b = r->cur;
  idle = (size_t)n < pipe_buf_room(b);
  b->len += (size_t)n;
  r->cur = NULL;
  ret = pipe_stage_push(s, b);
  if (ret >= 0 && idle) pipe_stage_flush(s);
  if (ret != PIPE_OK) stop(r); /* full or failing */
}

int pipe__stream_reader_start(pipe_stream_reader_t* r) {
  int err;
  if (r->reading || r->eof || r->dead || pipe_stage_stopping(r->stage) ||
      r->stage->blocked)
    return 0;
  err = uv_read_start(r->stream, alloc_cb, read_cb);
  if (err < 0) {
    pipe_stage_fail(r->stage, err, "cannot read %s: %s", r->what,
                    uv_strerror(err));
    return err;
  }
  r->reading = 1;
  return 0;
}

void pipe__stream_reader_destroy(pipe_stream_reader_t* r) {
  stop(r);
  r->dead = 1;
  pipe_buf_unref(r->cur);
  r->cur = NULL;
}
