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
 * Opening fd 1 as a stream, and giving it back as it was, is
 * stdio_stream.c's (shared with the stdin source).
 */
#include <uv.h>

#include "pipe/io.h"
#include "pipe/pipeline.h"
#include "stages/fd_writer.h"
#include "stages/stdio_stream.h"

enum { OUT_NONE, OUT_FILE, OUT_STREAM };

/* State: `kind` says which path start() chose (OUT_NONE: it failed). */
typedef struct stdout_sink_s {
  pipe_stage_t stage; /* first */
  int kind;
  pipe_stdio_stream_t io;
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

static int stdout_sink_start(pipe_stage_t* s) {
  stdout_sink_t* out = (stdout_sink_t*)s;
  int r = pipe__stdio_stream_open(&out->io, s, 1, "write", WHAT);
  if (r < 0) return r;
  if (r == PIPE_STDIO_FILE) {
    out->kind = OUT_FILE;
    pipe__fd_writer_init_fs(&out->writer, s, 1, -1, stdout_writer_done);
  } else {
    out->kind = OUT_STREAM;
    pipe__fd_writer_init_stream(&out->writer, s, &out->io.h.stream,
                                stdout_writer_done);
  }
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
  if (out->kind == OUT_NONE) {
    pipe__stdio_stream_close(&out->io); /* opened before a failure */
    return;
  }
  /* A write in flight on the file path finishes on its own (fd 1 stays
   * open); on a stream, uv_close cancels it before stdout_close_cb. */
  pipe__fd_writer_destroy(&out->writer, NULL);
  pipe__stdio_stream_close(&out->io);
}

static const pipe_stage_ops_t stdout_sink_ops = {
    .name = "stdout_sink",
    .size = sizeof(stdout_sink_t),
    .start = stdout_sink_start,
    .write = stdout_sink_write,
    .end = stdout_sink_end,
    .destroy = stdout_sink_destroy,
};

int pipe_stdout_sink_new(pipe_pipeline_t* pl, pipe_stage_t** out) {
  pipe_stage_t* s;
  int r;
  if (out != NULL) *out = NULL;
  r = pipe_stage_new(pl, &stdout_sink_ops, &s);
  if (r < 0) return r;
  if (out != NULL) *out = s;
  return 0;
}
