/* Internal: fd 0 or 1 as a libuv stream, shared by the stdin source and the
 * stdout sink.
 *
 * uv_guess_handle() decides: a regular file or character device is left to
 * the caller's fs path (uv_fs_read / uv_fs_write on the fd); a pipe or
 * socket becomes a uv_pipe_t and a terminal a uv_tty_t. libuv switches a
 * pipe to non-blocking mode, a flag shared with every process holding the
 * same pipe (the shell's other children), so the fd's flags are saved here
 * and restored once the handle has closed. The fd itself stays open: libuv
 * never closes fds 0-2 in uv_close. The file source also opens a FIFO it
 * has opened itself (fd > 2) this way: uv_close closes that one, and its
 * flags are not restored. A terminal keeps UV_TTY_MODE_NORMAL,
 * so there is no mode to reset.
 *
 * Not installed; loop thread only.
 */
#ifndef PIPE_STAGES_STDIO_STREAM_H
#define PIPE_STAGES_STDIO_STREAM_H

#include <uv.h>

#include "pipe/stage.h"

typedef struct pipe_stdio_stream_s {
  union {
    uv_handle_t handle;
    uv_stream_t stream;
    uv_pipe_t pipe;
    uv_tty_t tty;
  } h;
  pipe_stage_t* stage; /* held from close until the close callback */
  int fd;
  int open;        /* h is initialized: pipe__stdio_stream_close it */
  int saved_flags; /* fcntl(fd, F_GETFL) before libuv, -1 if unknown */
} pipe_stdio_stream_t;

enum { PIPE_STDIO_FILE = 1 };

/** Opens fd for stage s. Returns PIPE_STDIO_FILE when fd is a file or a
 *  character device (nothing opened: use the fs path), 0 with st->h a
 *  ready stream (h.handle.data is for the caller), or < 0 after failing
 *  the stage with a message ("cannot <verb> <what>: ..."). */
int pipe__stdio_stream_open(pipe_stdio_stream_t* st, pipe_stage_t* s, int fd,
                            const char* verb, const char* what);

/** Closes the stream if it was opened: the stage is held until the handle
 *  has closed and fd's flags are restored. A uv_write in flight is
 *  cancelled by the close. */
void pipe__stdio_stream_close(pipe_stdio_stream_t* st);

#endif /* PIPE_STAGES_STDIO_STREAM_H */
