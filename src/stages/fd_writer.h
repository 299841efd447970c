/* Internal: the write queue shared by the file sink and the stdout sink.
 *
 * A writer is embedded in a sink stage. It keeps a FIFO of buffers taken
 * from upstream and writes them with one request in flight at a time,
 * gathering everything queued into that request (pwritev / writev): either
 * uv_fs_write on a file descriptor (regular files, and fd 1 when it is one)
 * or uv_write on a stream (fd 1 as a pipe or terminal).
 *
 * Flow: write() answers PIPE_FULL once `hwm` buffers are queued (the one in
 * flight counts), and the writer calls pipe_stage_drain() when the queue
 * falls below hwm again. Short writes (fs mode) are continued from where
 * they stopped. The stage is held while a request is in flight.
 *
 * Completion: `done(w, status)` runs once: with 0 when pipe__fd_writer_end()
 * was called and every byte is written, or with the error of the first
 * failed write (the queue is then dropped and later writes are refused).
 *
 * Not installed; loop thread only.
 */
#ifndef PIPE_STAGES_FD_WRITER_H
#define PIPE_STAGES_FD_WRITER_H

#include <stdint.h>
#include <uv.h>

#include "pipe/stage.h"

typedef struct pipe_fd_writer_s pipe_fd_writer_t;
typedef void (*pipe__fd_writer_cb)(pipe_fd_writer_t* w, int status);

struct pipe_fd_writer_s {
  pipe_stage_t* stage; /* the sink we write for */
  uv_stream_t* stream; /* stream mode if non-NULL, else fs mode on fd */
  uv_file fd;          /* fs mode: not owned (the sink closes it) */
  int64_t offset;      /* fs mode: next position; -1: the fd's position */
  union {
    uv_fs_t fs;
    uv_write_t wr;
  } req;            /* the one request in flight */
  pipe_buf_t* head; /* queue, linked by ->next; owned by the writer */
  pipe_buf_t* tail;
  size_t head_off; /* bytes of head already written (a short write): kept
                      here, never in the buffer, which may be shared */
  size_t count;    /* buffers queued, those in flight included */
  size_t inflight; /* the first `inflight` buffers are in req */
  size_t inflight_bytes;
  size_t hwm; /* PIPE_FULL at count >= hwm */
  pipe__fd_writer_cb done;
  pipe__fd_writer_cb idle; /* after destroy: nothing in flight any more */
  unsigned busy : 1;       /* req in flight (the stage is held) */
  unsigned full : 1;       /* we answered PIPE_FULL: drain when below hwm */
  unsigned ending : 1;     /* pipe__fd_writer_end() called */
  unsigned stopped : 1;    /* done() has run: no more writing */
  unsigned dead : 1;       /* pipe__fd_writer_destroy() called */
};

/** Writes with uv_fs_write to fd (borrowed: the caller closes it, after
 *  the idle callback of pipe__fd_writer_destroy). offset >= 0: pwrite from
 *  there on; -1: write at the fd's position (stdout, O_APPEND files). */
void pipe__fd_writer_init_fs(pipe_fd_writer_t* w, pipe_stage_t* s, uv_file fd,
                             int64_t offset, pipe__fd_writer_cb done);

/** Writes with uv_write to an initialized stream (borrowed: the caller
 *  closes it, which cancels a write in flight). */
void pipe__fd_writer_init_stream(pipe_fd_writer_t* w, pipe_stage_t* s,
                                 uv_stream_t* stream, pipe__fd_writer_cb done);

/** Queues buf (takes it, in every outcome) and starts writing. Returns
 *  PIPE_OK, or PIPE_FULL when hwm buffers are queued or the writer has
 *  stopped (then buf was dropped: the pipeline is ending). */
int pipe__fd_writer_write(pipe_fd_writer_t* w, pipe_buf_t* buf);

/** No more data: done(w, 0) runs once the queue is written (possibly from
 *  inside this call). */
void pipe__fd_writer_end(pipe_fd_writer_t* w);

/** From the sink's destroy(): drops the buffers not yet handed to the
 *  kernel and stops writing. `idle` (may be NULL) runs once no request is
 *  in flight: now, or from the completion of the one in flight — close or
 *  unlink only then, never under a write. */
void pipe__fd_writer_destroy(pipe_fd_writer_t* w, pipe__fd_writer_cb idle);

#endif /* PIPE_STAGES_FD_WRITER_H */
