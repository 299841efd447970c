/* The stdin source: fd 0, whatever it turns out to be at start().
 *
 * - A regular file or a character device (uv_guess_handle says UV_FILE):
 *   read with uv_fs_read from the fd's current position, by the same
 *   fd_reader as the file source (so `pipe x < big.csv` is as fast as
 *   `pipe x big.csv`).
 * - A pipe/socket (UV_NAMED_PIPE) or a terminal (UV_TTY): a uv_pipe_t or
 *   uv_tty_t stream, read by the stream reader shared with the file
 *   source's FIFO mode (stream_reader.h: pool buffers, uv_read_stop as
 *   backpressure, the flush signal when the stream goes idle). The
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
#include "stages/stream_reader.h"

enum { IN_NONE, IN_FILE, IN_STREAM };

/* State: `kind` says which of `reader` (a file) or `io` + `sreader` (a
 * stream) is live. */
typedef struct stdin_source_s {
  pipe_stage_t stage; /* first */
  int kind;
  pipe_fd_reader_t reader;
  pipe_stdio_stream_t io;
  pipe_stream_reader_t sreader;
} stdin_source_t;

#define WHAT "standard input"

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
  pipe__stream_reader_init(&in->sreader, s, &in->io.h.stream, WHAT);
  return pipe__stream_reader_start(&in->sreader);
}

/* Downstream drained, or our pool has a buffer again. */
static void stdin_source_resume(pipe_stage_t* s) {
  stdin_source_t* in = (stdin_source_t*)s;
  if (in->kind == IN_FILE)
    pipe__fd_reader_pump(&in->reader);
  else if (in->kind == IN_STREAM)
    (void)pipe__stream_reader_start(&in->sreader);
}

static void stdin_source_destroy(pipe_stage_t* s, int status) {
  stdin_source_t* in = (stdin_source_t*)s;
  (void)status;
  if (in->kind == IN_FILE) {
    pipe__fd_reader_destroy(&in->reader);
  } else {
    if (in->kind == IN_STREAM) pipe__stream_reader_destroy(&in->sreader);
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
