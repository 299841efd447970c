/* The stdout sink: fd 1, whatever it turns out to be at start().
 *
 * - A regular file or character device (UV_FILE): uv_fs_write at the fd's
 *   own position (so `>>` appends keep working), through the same writer as
 *   the file sink.
 * - A pipe/socket (UV_NAMED_PIPE) or terminal (UV_TTY): a uv_pipe_t or
 *   uv_tty_t and uv_write. One uv_write in flight gathering what is queued,
 *   so libuv's write_queue_size never exceeds the bytes of our queued
 *   buffers, which the writer bounds by the pipeline's hwm (FULL at hwm
 *   buffers, drain in the write callback).
 *
 * EPIPE (the reader went away, as in `pipe csv2json big.csv | head`) is not
 * an error: like other Unix tools we stop quietly and the run succeeds.
 * The sink simply ends itself (pipe_stage_end) although upstream has not
 * finished: the core treats a sink's end as the run's success, destroys
 * every stage with status 0 and ignores later pushes and errors. SIGPIPE
 * must be ignored by the program, or the kernel kills it first.
 *
 * fd 1 is never closed (libuv leaves fds 0-2 open in uv_close). libuv
 * switches a pipe to non-blocking mode, a flag shared with every process
 * writing to the same pipe: the original flags are restored after the
 * handle has closed. A terminal is reopened by libuv (uv_tty_init), so the
 * shell's own terminal description is not touched; its mode stays
 * UV_TTY_MODE_NORMAL, so there is nothing for uv_tty_reset_mode to undo.
 */
#include <fcntl.h>
#include <uv.h>

#include "pipe/io.h"
#include "pipe/pipeline.h"
#include "stages/fd_writer.h"

enum { OUT_NONE, OUT_FILE, OUT_STREAM };

/* State: `kind` says whether `h` was initialized (and must be closed). */
typedef struct stdout_sink_s {
  pipe_stage_t stage; /* first */
  int kind;
  union {
    uv_handle_t handle;
    uv_stream_t stream;
    uv_pipe_t pipe;
    uv_tty_t tty;
  } h;
  int saved_flags; /* fcntl(1, F_GETFL) before libuv, -1 if unknown */
  pipe_fd_writer_t writer;
} stdout_sink_t;

#define WHAT "standard output"

/* Everything written after end() (0), or the first write failed. */
static void stdout_writer_done(pipe_fd_writer_t* w, int status) {
  pipe_stage_t* s = w->stage;
  if (status == 0 || status == UV_EPIPE)
    pipe_stage_end(s); /* success, early in the EPIPE case */
  else
    pipe_stage_fail(s, status, "cannot write " WHAT ": %s",
                    uv_strerror(status));
}

static void stdout_close_cb(uv_handle_t* h) {
  stdout_sink_t* out = h->data;
  if (out->saved_flags != -1) (void)fcntl(1, F_SETFL, out->saved_flags);
  pipe_stage_release(&out->stage);
}

static int stdout_sink_start(pipe_stage_t* s) {
  stdout_sink_t* out = (stdout_sink_t*)s;
  uv_loop_t* loop = pipe_stage_loop(s);
  int err;
  out->saved_flags = fcntl(1, F_GETFL);
  switch (uv_guess_handle(1)) {
    case UV_FILE:
      out->kind = OUT_FILE;
      pipe__fd_writer_init_fs(&out->writer, s, 1, -1, stdout_writer_done);
      return 0;
    case UV_NAMED_PIPE:
      err = uv_pipe_init(loop, &out->h.pipe, 0);
      if (err == 0) {
        out->kind = OUT_STREAM; /* initialized: destroy must close it */
        err = uv_pipe_open(&out->h.pipe, 1);
      }
      break;
    case UV_TTY:
      err = uv_tty_init(loop, &out->h.tty, 1, 0);
      if (err == 0) out->kind = OUT_STREAM;
      break;
    default:
      pipe_stage_fail(s, PIPE_EINVAL,
                      "cannot write " WHAT
                      ": unsupported kind of file "
                      "(closed, or a TCP socket)");
      return PIPE_EINVAL;
  }
  if (out->kind == OUT_STREAM) out->h.handle.data = out;
  if (err < 0) {
    pipe_stage_fail(s, err, "cannot write " WHAT ": %s", uv_strerror(err));
    return err;
  }
  pipe__fd_writer_init_stream(&out->writer, s, &out->h.stream,
                              stdout_writer_done);
  return 0;
}

/* Takes buf, in every outcome. */
static int stdout_sink_write(pipe_stage_t* s, pipe_buf_t* buf) {
  stdout_sink_t* out = (stdout_sink_t*)s;
  if (out->kind == OUT_NONE) { /* start() failed: the run is failing */
    pipe_buf_unref(buf);
    return PIPE_FULL;
  }
  return pipe__fd_writer_write(&out->writer, buf);
}

static int stdout_sink_end(pipe_stage_t* s) {
  stdout_sink_t* out = (stdout_sink_t*)s;
  if (out->kind != OUT_NONE) pipe__fd_writer_end(&out->writer);
  return 0;
}

static void stdout_sink_destroy(pipe_stage_t* s, int status) {
  stdout_sink_t* out = (stdout_sink_t*)s;
  (void)status; /* bytes already written to fd 1 cannot be taken back */
  if (out->kind == OUT_NONE) return;
  /* A write in flight on the file path finishes on its own (fd 1 stays
   * open); on a stream, uv_close cancels it before stdout_close_cb. */
  pipe__fd_writer_destroy(&out->writer, NULL);
  if (out->kind == OUT_STREAM) {
    pipe_stage_hold(s); /* released in stdout_close_cb */
    uv_close(&out->h.handle, stdout_close_cb);
  }
}

static const pipe_stage_ops_t stdout_sink_ops = {
    "stdout_sink",       sizeof(stdout_sink_t), stdout_sink_start,
    stdout_sink_write,   stdout_sink_end,       NULL,
    stdout_sink_destroy,
};

int pipe_stdout_sink_new(pipe_pipeline_t* pl, pipe_stage_t** out) {
  pipe_stage_t* s;
  int r;
  if (out != NULL) *out = NULL;
  r = pipe_stage_new(pl, &stdout_sink_ops, &s);
  if (r < 0) return r;
  ((stdout_sink_t*)s)->saved_flags = -1;
  if (out != NULL) *out = s;
  return 0;
}
