/* The file source: a path opened at start() and read with asynchronous
 * uv_fs_read into the stage's pool (the reading itself lives in
 * fd_reader.c, shared with the stdin source).
 *
 * The open is synchronous on purpose: it happens once per run, before any
 * data flows, and failing inside start() gives the user the error before
 * anything else has happened. fstat right after gives the size for progress
 * reporting and rejects directories with a clear message instead of a
 * confusing EISDIR from the first read.
 */
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <uv.h>

#include "pipe/io.h"
#include "pipe/pipeline.h"
#include "stages/fd_reader.h"

/* State: `path` is our copy; `size` is -1 until start() has seen the file.
 * The fd belongs to the reader from start() on (it closes it in destroy,
 * after any read in flight). */
typedef struct file_source_s {
  pipe_stage_t stage; /* first */
  char* path;
  int64_t size;
  int started;
  pipe_fd_reader_t reader;
} file_source_t;

static int file_source_start(pipe_stage_t* s) {
  file_source_t* fs = (file_source_t*)s;
  uv_fs_t req;
  int fd, err;
  fd = uv_fs_open(NULL, &req, fs->path, O_RDONLY | O_CLOEXEC, 0, NULL);
  uv_fs_req_cleanup(&req);
  if (fd < 0) {
    pipe_stage_fail(s, fd, "cannot open %s: %s", fs->path, uv_strerror(fd));
    return fd;
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
  pipe__fd_reader_pump(&((file_source_t*)s)->reader);
}

static void file_source_destroy(pipe_stage_t* s, int status) {
  file_source_t* fs = (file_source_t*)s;
  (void)status; /* a source has nothing to commit or abort */
  if (fs->started) pipe__fd_reader_destroy(&fs->reader);
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
