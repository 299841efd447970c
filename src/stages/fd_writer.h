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
 * Direct mode (pipe__fd_writer_set_direct, fs mode on a regular file): the
 * bytes go through two aligned staging buffers written with O_DIRECT, so
 * they never pass through the page cache. Each buffer taken from upstream
 * is copied into the staging buffer being filled and released at once; a
 * full staging buffer is written while the other fills (every write but
 * the last is PIPE__FD_DIRECT_CHUNK bytes at an aligned offset, as O_DIRECT
 * requires). The tail of the file, shorter than a chunk, is written with
 * O_DIRECT cleared again. A filesystem that refuses O_DIRECT (at the fcntl
 * or at the first write: EINVAL) gets the same bytes written buffered.
 *
 * Not installed; loop thread only.
 */
#ifndef PIPE_STAGES_FD_WRITER_H
#define PIPE_STAGES_FD_WRITER_H

#include <stdint.h>
#include <uv.h>

#include "pipe/stage.h"

/* Direct mode: bytes per staging buffer (two per writer), a multiple of
 * every logical block size O_DIRECT asks alignment to (512 or 4096). */
#define PIPE__FD_DIRECT_CHUNK ((size_t)256 << 10)
#define PIPE__FD_DIRECT_ALIGN ((size_t)4096)

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
  /* Direct mode (dbuf[0] != NULL): dbuf[dfill] is being filled, dlen[i]
   * bytes are in dbuf[i]; while busy, dbuf[dwrite] is in the request
   * (dlen[dwrite] bytes from doff). Both buffers are the writer's. */
  char* dbuf[2];
  size_t dlen[2];
  size_t doff;
  unsigned dfill, dwrite;
  unsigned odirect : 1;    /* O_DIRECT is set on fd now */
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

/** fs mode, before the first write, on a regular file opened for writing
 *  from offset 0 (a fresh temp file): writes through O_DIRECT with
 *  2 x PIPE__FD_DIRECT_CHUNK bytes of staging (see above). Returns 0 when
 *  direct mode is on, PIPE_ENOMEM, or the error of setting O_DIRECT on fd
 *  (EINVAL on filesystems without it): the writer then stays buffered and
 *  works as before, so the caller may ignore the result. */
int pipe__fd_writer_set_direct(pipe_fd_writer_t* w);

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
