/* The stdin source: fd 0, whatever it turns out to be at start().
 *
 * - A regular file or a character device (uv_guess_handle says UV_FILE):
 *   read with uv_fs_read from the fd's current position, by the same
 *   fd_reader as the file source (so `pipe x < big.csv` is as fast as
 *   `pipe x big.csv`).
 * - A pipe/socket (UV_NAMED_PIPE) or a terminal (UV_TTY): a uv_pipe_t or
 *   uv_tty_t stream, read with uv_read_start straight into buffers from the
 *   stage's pool. Backpressure is uv_read_stop, both when downstream answers
 *   PIPE_FULL and when the pool is empty (alloc_cb hands libuv an empty
 *   buffer, which libuv reports as UV_ENOBUFS: "paused", not an error). The
 *   kernel's pipe buffer then fills and the writer blocks, exactly as it
 *   should.
 *
 * The handle is initialized in start(), not in the constructor, so that a
 * pipeline freed without running has no handle to close.
 *
 * fd 0 itself is never closed: the reader is told it does not own the fd,
 * and opening it as a stream (and giving it back as it was) is
 * stdio_stream.c's, shared with the stdout sink.
 */
#include <uv.h>

#include "pipe/io.h"
#include "pipe/pipeline.h"
#include "stages/fd_reader.h"
#include "stages/stdio_stream.h"

enum { IN_NONE, IN_FILE, IN_STREAM };

/* State: `kind` says which of `reader` / `io` is live. `cur` is the pool
 * buffer libuv reads into (owned by us until pushed). */
typedef struct stdin_source_s {
  pipe_stage_t stage; /* first */
  int kind;
  pipe_fd_reader_t reader;
  pipe_stdio_stream_t io;
  pipe_buf_t* cur;
  int reading; /* uv_read_start in force */
  int eof;
} stdin_source_t;

#define WHAT "standard input"

/* ---- stream mode --------------------------------------------------------- */

/* Hands libuv the free space of our current pool buffer (borrowed by libuv
 * until read_cb). An empty pool gives a zero-length buffer: libuv then
 * calls read_cb with UV_ENOBUFS and we stop reading until a buffer comes
 * back. */
static void stdin_alloc_cb(uv_handle_t* h, size_t suggested, uv_buf_t* out) {
  stdin_source_t* in = h->data;
  (void)suggested; /* our buffers have the pool's size */
  if (in->cur == NULL) in->cur = pipe_pool_acquire(in->stage.pool);
  if (in->cur == NULL) {
    *out = uv_buf_init(NULL, 0);
    return;
  }
  *out = uv_buf_init((char*)pipe_buf_tail(in->cur),
                     (unsigned)pipe_buf_room(in->cur));
}

static void stdin_stop(stdin_source_t* in) {
  if (!in->reading) return;
  uv_read_stop(&in->io.h.stream);
  in->reading = 0;
}

static void stdin_read_cb(uv_stream_t* st, ssize_t n, const uv_buf_t* buf) {
  stdin_source_t* in = st->data;
  pipe_stage_t* s = &in->stage;
  (void)buf;          /* it is in->cur's free space */
  if (n == 0) return; /* EAGAIN: keep cur for the next read */
  if (n == UV_ENOBUFS) {
    stdin_stop(in);
    pipe_stage_wait_pool(s, s->pool); /* resume() restarts reading */
    return;
  }
  if (n == UV_EOF) {
    stdin_stop(in);
    in->eof = 1;
    pipe_buf_unref(in->cur); /* cur held no data: we push on every read */
    in->cur = NULL;
    pipe_stage_end(s);
    return;
  }
  if (n < 0) {
    stdin_stop(in);
    pipe_stage_fail(s, (int)n, "cannot read " WHAT ": %s", uv_strerror((int)n));
    return;
  }
  {
    /* Push every read at once rather than waiting to fill the buffer: a
     * pipe or terminal delivers data as it is produced, and an interactive
     * or slow writer should see its lines flow through. The buffer is
     * given away: we must not touch it after the push. A read short of
     * the buffer's room means the pipe (or terminal line) is drained for
     * now: send the flush signal, so stages below that hold a partial
     * buffer (csv2json) pass it on too (`tail -f x.csv | pipe csv2json`). */
    pipe_buf_t* b = in->cur;
    int idle = (size_t)n < pipe_buf_room(b);
    int r;
    b->len += (size_t)n;
    in->cur = NULL;
    r = pipe_stage_push(s, b);
    if (r >= 0 && idle) pipe_stage_flush(s);
    if (r != PIPE_OK) stdin_stop(in); /* full/failing */
  }
}

static int stdin_start_reading(stdin_source_t* in) {
  int err;
  if (in->reading || in->eof || pipe_stage_stopping(&in->stage) ||
      in->stage.blocked)
    return 0;
  err = uv_read_start(&in->io.h.stream, stdin_alloc_cb, stdin_read_cb);
  if (err < 0) {
    pipe_stage_fail(&in->stage, err, "cannot read " WHAT ": %s",
                    uv_strerror(err));
    return err;
  }
  in->reading = 1;
  return 0;
}

/* ---- stage ops ----------------------------------------------------------- */

static int stdin_source_start(pipe_stage_t* s) {
  stdin_source_t* in = (stdin_source_t*)s;
  int r = pipe__stdio_stream_open(&in->io, s, 0, "read", WHAT);
  if (r < 0) return r;
  if (r == PIPE_STDIO_FILE) {
    pipe__fd_reader_init(&in->reader, s, 0, -1, 0, WHAT);
    in->kind = IN_FILE;
    pipe__fd_reader_pump(&in->reader);
    return 0;
  }
  in->kind = IN_STREAM;
  in->io.h.handle.data = in;
  return stdin_start_reading(in);
}

/* Downstream drained, or our pool has a buffer again. */
static void stdin_source_resume(pipe_stage_t* s) {
  stdin_source_t* in = (stdin_source_t*)s;
  if (in->kind == IN_FILE)
    pipe__fd_reader_pump(&in->reader);
  else if (in->kind == IN_STREAM)
    (void)stdin_start_reading(in);
}

static void stdin_source_destroy(pipe_stage_t* s, int status) {
  stdin_source_t* in = (stdin_source_t*)s;
  (void)status;
  if (in->kind == IN_FILE) {
    pipe__fd_reader_destroy(&in->reader);
  } else {
    stdin_stop(in);
    pipe_buf_unref(in->cur);
    in->cur = NULL;
    pipe__stdio_stream_close(&in->io); /* if start() opened it */
  }
}

static const pipe_stage_ops_t stdin_source_ops = {
    .name = "stdin_source",
    .size = sizeof(stdin_source_t),
    .start = stdin_source_start,
    .resume = stdin_source_resume,
    .destroy = stdin_source_destroy,
};

int pipe_stdin_source_new(pipe_pipeline_t* pl, pipe_stage_t** out) {
  pipe_stage_t* s;
  int r;
  if (out != NULL) *out = NULL;
  r = pipe_stage_new(pl, &stdin_source_ops, &s);
  if (r < 0) return r;
  if (out != NULL) *out = s;
  return 0;
}
