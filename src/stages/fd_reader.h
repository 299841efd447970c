/* Internal: reading a file descriptor with uv_fs_read into a stage's pool.
 *
 * Shared by the file source and the stdin source (when fd 0 is a regular
 * file or a character device). The reader is embedded in the stage and
 * drives it: it acquires buffers from the stage's own pool, fills each one
 * to capacity (or to end of file), pushes it downstream and ends the stage
 * at end of file.
 *
 * Flow: at most one uv_fs_read in flight, and one buffer of read-ahead: the
 * next read is issued just before a filled buffer is pushed, so reading and
 * converting overlap. A filled buffer is held (no further read) while the
 * stage is blocked (downstream answered PIPE_FULL); an empty pool is waited
 * on; either way the stage's resume() calls pipe__fd_reader_pump() again. The stage is held while a read is in flight,
 * so its memory outlives the request even after destroy().
 *
 * Not installed; loop thread only.
 */
#ifndef PIPE_STAGES_FD_READER_H
#define PIPE_STAGES_FD_READER_H

#include <stdint.h>
#include <uv.h>

#include "pipe/stage.h"

typedef struct pipe_fd_reader_s {
  pipe_stage_t* stage;  /* the stage we read for (we push as it) */
  const char* what;     /* for messages: the path, or "standard input" */
  uv_fs_t req;          /* the one read in flight */
  uv_file fd;           /* closed by the reader iff owns_fd */
  int64_t offset;       /* next read position; -1: the fd's own position */
  pipe_buf_t* buf;      /* being filled: owned by the reader */
  unsigned busy : 1;    /* a read is in flight (the stage is held) */
  unsigned eof : 1;     /* end of file seen: the stage has ended */
  unsigned dead : 1;    /* destroyed: callbacks only clean up */
  unsigned owns_fd : 1; /* close fd once destroyed and no read in flight */
} pipe_fd_reader_t;

/** Prepares r to read fd for stage s. offset >= 0 reads with pread from
 *  there on; -1 reads from the fd's current position (stdin). owns_fd: the
 *  reader closes fd after destroy, once no read is in flight (closing it
 *  under a read could make the kernel reuse the number mid-read). `what` is
 *  borrowed and must outlive the reader. Nothing is read yet. */
void pipe__fd_reader_init(pipe_fd_reader_t* r, pipe_stage_t* s, uv_file fd,
                          int64_t offset, int owns_fd, const char* what);

/** Issues the next read unless one is in flight, the stage is blocked or
 *  stopping, end of file was seen, or the pool is empty (then it waits on
 *  the pool and the stage's resume() must call pump again). Call from
 *  start() and resume(). */
void pipe__fd_reader_pump(pipe_fd_reader_t* r);

/** From the stage's destroy(): stops reading. The buffer being filled and
 *  (if owned) the fd are released now, or by the callback of the read still
 *  in flight, which then also releases the stage's hold. */
void pipe__fd_reader_destroy(pipe_fd_reader_t* r);

#endif /* PIPE_STAGES_FD_READER_H */
