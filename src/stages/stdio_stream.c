/* fd 0 or 1 as a libuv stream (see stdio_stream.h). */
#include "stages/stdio_stream.h"

#include <fcntl.h>

#include "pipe/pipeline.h"

int pipe__stdio_stream_open(pipe_stdio_stream_t* st, pipe_stage_t* s, int fd,
                            const char* verb, const char* what) {
  uv_loop_t* loop = pipe_stage_loop(s);
  int err;
  st->stage = s;
  st->fd = fd;
  st->open = 0;
  st->saved_flags = fcntl(fd, F_GETFL);
  switch (uv_guess_handle(fd)) {
    case UV_FILE:
      return PIPE_STDIO_FILE;
    case UV_NAMED_PIPE:
      err = uv_pipe_init(loop, &st->h.pipe, 0);
      if (err == 0) {
        st->open = 1; /* initialized: must be closed whatever follows */
        err = uv_pipe_open(&st->h.pipe, fd);
      }
      break;
    case UV_TTY:
      err = uv_tty_init(loop, &st->h.tty, fd, fd == 0);
      if (err == 0) st->open = 1;
      break;
    default:
      pipe_stage_fail(s, PIPE_EINVAL,
                      "cannot %s %s: unsupported kind of file (closed, or a "
                      "TCP socket)",
                      verb, what);
      return PIPE_EINVAL;
  }
  if (err < 0) {
    pipe_stage_fail(s, err, "cannot %s %s: %s", verb, what, uv_strerror(err));
    return err;
  }
  return 0;
}

static void stdio_close_cb(uv_handle_t* h) {
  pipe_stdio_stream_t* st = h->data;
  /* Give the fd back to the processes sharing it as we found it. An fd
   * above 2 was ours (a FIFO the file source opened): uv_close closed it,
   * and its number may already belong to someone else. */
  if (st->saved_flags != -1 && st->fd <= 2)
    (void)fcntl(st->fd, F_SETFL, st->saved_flags);
  pipe_stage_release(st->stage);
}

void pipe__stdio_stream_close(pipe_stdio_stream_t* st) {
  if (!st->open) return;
  st->open = 0;
  st->h.handle.data = st;
  pipe_stage_hold(st->stage); /* released in stdio_close_cb */
  uv_close(&st->h.handle, stdio_close_cb);
}
