/* Internal: reading a libuv stream (a pipe, FIFO or terminal) with
 * uv_read_start straight into buffers from a stage's pool.
 *
 * Used by the stdin source for a pipe or terminal, and by the file source
 * when its path is a FIFO: a FIFO read with
 * uv_fs_read would park a thread-pool thread in read(2) while the writer
 * is idle, and nothing (not even SIGINT's teardown, which waits for that
 * read) could get it back. As a stream it is polled by the loop instead,
 * data flows as the writer produces it, and a teardown simply stops
 * reading.
 *
 * Flow: every read is pushed at once (a live writer's lines flow through),
 * and a read short of the buffer's room is followed by the flush signal
 * (pipe_stage_flush: the stream is idle, stages below pass on what they
 * hold);
 * backpressure is uv_read_stop, both when downstream answers PIPE_FULL and
 * when the pool is empty (alloc_cb hands libuv a zero-length buffer, which
 * libuv reports as UV_ENOBUFS: "paused", not an error). The stage's
 * resume() calls pipe__stream_reader_start() again. At UV_EOF the stage
 * ends.
 *
 * The stream is borrowed: the caller opened it and closes it (after
 * pipe__stream_reader_destroy). Not installed; loop thread only.
 */
#ifndef PIPE_STAGES_STREAM_READER_H
#define PIPE_STAGES_STREAM_READER_H

#include <uv.h>

#include "pipe/stage.h"

typedef struct pipe_stream_reader_s {
  pipe_stage_t* stage;  /* the stage we read for (we push as it) */
  uv_stream_t* stream;  /* borrowed; its data pointer is ours */
  const char* what;     /* for messages; borrowed, outlives the reader */
  pipe_buf_t* cur;      /* libuv reads into it; owned until pushed */
  unsigned reading : 1; /* uv_read_start in force */
  unsigned eof : 1;
  unsigned dead : 1;
} pipe_stream_reader_t;

/** Prepares r to read stream for stage s. Nothing is read yet. */
void pipe__stream_reader_init(pipe_stream_reader_t* r, pipe_stage_t* s,
                              uv_stream_t* stream, const char* what);

/** Starts reading unless already reading, at end of stream, destroyed, or
 *  the stage is blocked or stopping. Call from start() and resume().
 *  Returns 0, or < 0 after failing the stage. */
int pipe__stream_reader_start(pipe_stream_reader_t* r);

/** From the stage's destroy(): stops reading and releases the buffer. The
 *  caller closes the stream afterwards. */
void pipe__stream_reader_destroy(pipe_stream_reader_t* r);

#endif /* PIPE_STAGES_STREAM_READER_H */
