/* The file source: a path opened at start() and read with asynchronous
 * uv_fs_read into the stage's pool (the reading itself lives in
 * fd_reader.c, shared with the stdin source).
 *
 * The open is synchronous on purpose: it happens once per run, before any
 * data flows, and failing inside start() gives the user the error before
 * anything else has happened. fstat right after gives the size for progress
 * reporting and rejects directories with a clear message instead of a
 * confusing EISDIR from the first read.
 *
 * FIFOs: open(2) of a FIFO for reading blocks until a writer appears, in
 * start(), on the loop thread, where not even SIGINT's handler (a loop
 * callback) can run. So every path is opened O_NONBLOCK, which returns at
 * once; a FIFO is then read as a stream (stream_reader.c: polled by the
 * loop, no thread parked in read(2), data passed on as it comes, and
 * teardown at any moment), and anything else gets its O_NONBLOCK cleared
 * and is read with uv_fs_read as before. A FIFO opened this way reports
 * neither data nor end of file until a writer has come (Linux keeps the
 * writer count seen at open), so waiting for the writer still works.
 */
#include <fcntl.h>
#include <unistd.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <uv.h>

#include "pipe/io.h"
#include "pipe/pipeline.h"
#include "stages/fd_reader.h"
#include "stages/stdio_stream.h"
#include "stages/stream_reader.h"

/* State: `path` is our copy; `size` is -1 until start() has seen the file
 * (and for a FIFO). From start() on the fd belongs to `reader` (it closes
 * it in destroy, after any read in flight), or for a FIFO (`stream` set)
 * to the stream `io`, whose close closes it. */
typedef struct file_source_s {
  pipe_stage_t stage; /* first */
  char* path;
  int64_t size;
  int started;
  int stream;
  pipe_fd_reader_t reader;
  pipe_stdio_stream_t io;
  pipe_stream_reader_t sreader;
} file_source_t;

/* The path is a FIFO: read it as a stream. Owns fd in every outcome. */
static int start_fifo(file_source_t* fs, int fd) {
  pipe_stage_t* s = &fs->stage;
  uv_os_fd_t attached;
  int r;
  fs->stream = 1;
  fs->started = 1;
  r = pipe__stdio_stream_open(&fs->io, s, fd, "read", fs->path);
  if (r == 0) {
    pipe__stream_reader_init(&fs->sreader, s, &fs->io.h.stream, fs->path);
    return pipe__stream_reader_start(&fs->sreader);
  }
  /* Failed (the stage has the message): the fd is the handle's to close
   * only if it got attached to it. */
  if (!fs->io.open || uv_fileno(&fs->io.h.handle, &attached) != 0) close(fd);
  return r < 0 ? r : PIPE_EINVAL;
}

static int file_source_start(pipe_stage_t* s) {
  file_source_t* fs = (file_source_t*)s;
  uv_fs_t req;
  int fd, err;
  fd = uv_fs_open(NULL, &req, fs->path, O_RDONLY | O_CLOEXEC | O_NONBLOCK, 0,
                  NULL);
  uv_fs_req_cleanup(&req);
  if (fd < 0) {
    pipe_stage_fail(s, fd, "cannot open %s: %s", fs->path, uv_strerror(fd));
    return fd;
  }
  err = uv_fs_fstat(NULL, &req, fd, NULL);
  if (err == 0 && S_ISFIFO(req.statbuf.st_mode)) {
    uv_fs_req_cleanup(&req);
    return start_fifo(fs, fd);
  }
  uv_fs_req_cleanup(&req);
  {
    /* Blocking again: uv_fs_read on a thread wants plain read(2). */
    int fl = fcntl(fd, F_GETFL);
    if (fl != -1) (void)fcntl(fd, F_SETFL, fl & ~O_NONBLOCK);
  }
  /* From here the reader owns the fd, whatever happens. */
  pipe__fd_reader_init(&fs->reader, s, fd, 0, 1, fs->path);
  fs->started = 1;
  err = uv_fs_fstat(NULL, &req, fd, NULL);
  if (err == 0 && S_ISDIR(req.statbuf.st_mode)) err = UV_EISDIR;
  if (err == 0) fs->size = (int64_t)req.statbuf.st_size;
  uv_fs_req_cleanup(&req);
  if (err < 0) {
    pipe_stage_fail(s, err, "cannot read %s: %s", fs->path, uv_strerror(err));
    return err;
  }
  pipe__fd_reader_pump(&fs->reader);
  return 0;
}

/* Downstream drained, or a buffer came back to our pool. */
static void file_source_resume(pipe_stage_t* s) {
  file_source_t* fs = (file_source_t*)s;
  if (fs->stream)
    (void)pipe__stream_reader_start(&fs->sreader);
  else
    pipe__fd_reader_pump(&fs->reader);
}

static void file_source_destroy(pipe_stage_t* s, int status) {
  file_source_t* fs = (file_source_t*)s;
  (void)status; /* a source has nothing to commit or abort */
  if (fs->stream) {
    if (fs->io.open) pipe__stream_reader_destroy(&fs->sreader);
    pipe__stdio_stream_close(&fs->io); /* closes the fd too */
  } else if (fs->started) {
    pipe__fd_reader_destroy(&fs->reader);
  }
  free(fs->path);
  fs->path = NULL;
  /* fs->reader.what pointed at path: from here a late read_cb only cleans
   * up, and never formats a message. */
}

static const pipe_stage_ops_t file_source_ops = {
    .name = "file_source",
    .size = sizeof(file_source_t),
    .start = file_source_start,
    .resume = file_source_resume,
    .destroy = file_source_destroy,
};

int pipe_file_source_new(pipe_pipeline_t* pl,
                         const pipe_file_source_config_t* cfg,
                         pipe_stage_t** out) {
  pipe_stage_t* s;
  file_source_t* fs;
  char* path;
  int r;
  if (out != NULL) *out = NULL;
  if (cfg == NULL || cfg->path == NULL || cfg->path[0] == '\0')
    return PIPE_EINVAL;
  path = strdup(cfg->path);
  if (path == NULL) return PIPE_ENOMEM;
  r = pipe_stage_new(pl, &file_source_ops, &s);
  if (r < 0) {
    free(path);
    return r;
  }
  fs = (file_source_t*)s;
  fs->path = path;
  fs->size = -1;
  if (out != NULL) *out = s;
  return 0;
}

int64_t pipe_file_source_size(const pipe_stage_t* s) {
  if (s == NULL || s->ops != &file_source_ops) return -1;
  return ((const file_source_t*)s)->size;
}
