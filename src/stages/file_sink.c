/* The file sink: write to a temporary file beside the target, rename it
 * over the target only when everything is written (and fsync'd).
 *
 * Why: a failed or interrupted run must never leave a truncated output
 * that looks complete, and must not damage an existing target. The temp
 * file lives in the target's own directory so that rename(2) is atomic
 * (same filesystem) and readers see either the old file or the new one.
 *
 * The temp file is created with open(O_CREAT | O_EXCL, 0666) under a random
 * name `<dir>/.<base>.pipe-XXXXXX` rather than with mkstemp(): mkstemp
 * forces mode 0600, and restoring "0666 & ~umask" afterwards would need the
 * umask, which a process can only read by changing it (racy with threads).
 * O_EXCL with an unguessable name gives mkstemp's guarantees while the
 * kernel applies the umask (and default ACLs) exactly as for any new file.
 *
 * Sequence on success: end() -> the writer drains -> [uv_fs_fsync the file]
 * -> close -> rename -> [fsync the directory, so that the rename itself is
 * durable] -> pipe_stage_end(s). Open, close and rename are synchronous:
 * they are quick metadata operations done once per run; the fsyncs, which
 * can take long, go to the thread pool.
 *
 * A target that exists and is not a regular file (/dev/null, a FIFO, a
 * terminal) has no contents to protect and cannot be replaced by rename —
 * doing so as root would swap /dev/null for a plain file — so it is opened
 * and written in place, with no temp file and no fsync.
 *
 * Teardown: destroy() with the file not committed closes and unlinks the
 * temp file, but only once no request (write or fsync) is in flight, since
 * the kernel could hand the same fd number to someone else meanwhile.
 */
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include <uv.h>

#include "pipe/io.h"
#include "pipe/pipeline.h"
#include "stages/fd_writer.h"

enum { PH_IDLE, PH_WRITING, PH_FSYNC_FILE, PH_FSYNC_DIR, PH_DONE };

/* State: `path` and `tmp` are our copies (tmp NULL until created); `fd`
 * is the temp file (-1 once closed), `dirfd` the directory during its
 * fsync. `fs_busy` is 1 while `fsreq` is in flight (the stage is held). */
typedef struct file_sink_s {
  pipe_stage_t stage; /* first */
  char* path;
  char* dir;
  char* tmp;
  int fsync;
  int fd;
  int dirfd;
  int phase;
  int committed; /* renamed over the target: nothing to undo */
  int direct;    /* target is a device or FIFO: written in place */
  int destroyed;
  int cleaned;
  int fs_busy;
  uv_fs_t fsreq;
  pipe_fd_writer_t writer;
} file_sink_t;

static void sink_fsync_cb(uv_fs_t* req);

/* ---- helpers ------------------------------------------------------------- */

static void close_fd(int* fd) {
  if (*fd >= 0) close(*fd);
  *fd = -1;
}

/* Splits path into a malloc'd directory ("." if none) and a pointer to the
 * base name inside path. Returns 0, PIPE_ENOMEM, or PIPE_EISDIR when the
 * path ends with a slash. */
static int split_path(const char* path, char** dir, const char** base) {
  const char* slash = strrchr(path, '/');
  if (slash == NULL) {
    *dir = strdup(".");
    *base = path;
  } else {
    size_t n = (size_t)(slash - path);
    *dir = n == 0 ? strdup("/") : strndup(path, n);
    *base = slash + 1;
  }
  if (*dir == NULL) return PIPE_ENOMEM;
  return **base == '\0' ? PIPE_EISDIR : 0;
}

/* Creates `<dir>/.<base>.pipe-XXXXXX` exclusively; sets fs->tmp and fs->fd.
 * Returns 0 or a negated errno. */
static int create_temp(file_sink_t* fs, const char* base) {
  static const char alphabet[] =
      "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789";
  size_t n = strlen(fs->dir) + strlen(base) + 16;
  int attempt, err = PIPE_EEXIST;
  fs->tmp = malloc(n);
  if (fs->tmp == NULL) return PIPE_ENOMEM;
  for (attempt = 0; attempt < 100 && err == PIPE_EEXIST; attempt++) {
    unsigned char rnd[6];
    char suffix[7];
    int i;
    err = uv_random(NULL, NULL, rnd, sizeof(rnd), 0, NULL);
    if (err < 0) break;
    for (i = 0; i < 6; i++) suffix[i] = alphabet[rnd[i] % 62];
    suffix[6] = '\0';
    snprintf(fs->tmp, n, "%s/.%s.pipe-%s", fs->dir, base, suffix);
    fs->fd = open(fs->tmp, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0666);
    if (fs->fd >= 0) return 0;
    err = -errno; /* EEXIST: someone has that name, draw another */
  }
  free(fs->tmp);
  fs->tmp = NULL;
  return err;
}

/* Closes and unlinks whatever is left, once nothing is in flight. */
static void maybe_cleanup(file_sink_t* fs) {
  if (!fs->destroyed || fs->cleaned || fs->fs_busy || fs->writer.busy) return;
  fs->cleaned = 1;
  close_fd(&fs->fd);
  close_fd(&fs->dirfd);
  if (fs->tmp != NULL && !fs->committed) unlink(fs->tmp);
  free(fs->tmp);
  free(fs->dir);
  free(fs->path);
  fs->tmp = fs->dir = fs->path = NULL;
}

/* Starts an async fsync of fd (the stage is held until sink_fsync_cb). */
static void start_fsync(file_sink_t* fs, int fd, int phase) {
  pipe_stage_t* s = &fs->stage;
  int err;
  fs->phase = phase;
  fs->fs_busy = 1;
  fs->fsreq.data = fs;
  pipe_stage_hold(s);
  err = uv_fs_fsync(pipe_stage_loop(s), &fs->fsreq, fd, sink_fsync_cb);
  if (err < 0) {
    fs->fs_busy = 0;
    pipe_stage_fail(s, err, "cannot fsync %s: %s", fs->path, uv_strerror(err));
    pipe_stage_release(s);
  }
}

/* Everything is written (and the file synced): make it the target. */
static void commit(file_sink_t* fs) {
  pipe_stage_t* s = &fs->stage;
  int fd;
  /* Failed or aborted meanwhile: destroy() removes the temp file; the
   * target must stay as it was. */
  if (pipe_stage_stopping(s)) return;
  fd = fs->fd;
  fs->fd = -1;
  if (fs->direct) {
    close(fd);
    fs->committed = 1;
    fs->phase = PH_DONE;
    pipe_stage_end(s);
    return;
  }
  /* close() can report a deferred write error (NFS, quotas): check it. */
  if (close(fd) != 0) {
    int err = -errno;
    pipe_stage_fail(s, err, "cannot write %s: %s", fs->path, uv_strerror(err));
    return;
  }
  if (rename(fs->tmp, fs->path) != 0) {
    int err = -errno;
    pipe_stage_fail(s, err, "cannot rename %s to %s: %s", fs->tmp, fs->path,
                    uv_strerror(err));
    return;
  }
  fs->committed = 1;
  if (fs->fsync) {
    fs->dirfd = open(fs->dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (fs->dirfd >= 0) {
      start_fsync(fs, fs->dirfd, PH_FSYNC_DIR);
      return;
    }
    /* Some filesystems refuse to open directories: the data is synced, the
     * rename is in place; nothing the user could act on. */
  }
  fs->phase = PH_DONE;
  pipe_stage_end(s); /* the sink ending is the run's success */
}

static void sink_fsync_cb(uv_fs_t* req) {
  file_sink_t* fs = req->data;
  pipe_stage_t* s = &fs->stage;
  int res = (int)req->result;
  uv_fs_req_cleanup(req);
  fs->fs_busy = 0;
  if (fs->destroyed) {
    maybe_cleanup(fs);
  } else if (fs->phase == PH_FSYNC_FILE) {
    if (res < 0)
      pipe_stage_fail(s, res, "cannot fsync %s: %s", fs->path,
                      uv_strerror(res));
    else
      commit(fs);
  } else { /* PH_FSYNC_DIR: the target is already in place */
    close_fd(&fs->dirfd);
    fs->phase = PH_DONE;
    if (res < 0 && res != UV_EINVAL) /* EINVAL: dir fsync unsupported */
      pipe_stage_fail(s, res, "cannot fsync directory %s: %s", fs->dir,
                      uv_strerror(res));
    else
      pipe_stage_end(s);
  }
  pipe_stage_release(s); /* last: may complete the pipeline */
}

/* The writer has written everything after end() (status 0) or failed. */
static void sink_writer_done(pipe_fd_writer_t* w, int status) {
  file_sink_t* fs = (file_sink_t*)w->stage;
  if (status < 0) {
    pipe_stage_fail(&fs->stage, status, "cannot write %s: %s", fs->path,
                    uv_strerror(status));
    return;
  }
  if (fs->fsync && !fs->direct)
    start_fsync(fs, fs->fd, PH_FSYNC_FILE);
  else
    commit(fs);
}

static void sink_writer_idle(pipe_fd_writer_t* w, int status) {
  (void)status;
  maybe_cleanup((file_sink_t*)w->stage);
}

/* ---- stage ops ----------------------------------------------------------- */

static int file_sink_start(pipe_stage_t* s) {
  file_sink_t* fs = (file_sink_t*)s;
  const char* base;
  struct stat st;
  int err = split_path(fs->path, &fs->dir, &base);
  if (err == PIPE_EISDIR ||
      (err == 0 && stat(fs->path, &st) == 0 && S_ISDIR(st.st_mode))) {
    pipe_stage_fail(s, PIPE_EISDIR, "cannot write %s: is a directory",
                    fs->path);
    return PIPE_EISDIR;
  }
  if (err < 0) return err;
  if (stat(fs->path, &st) == 0 && !S_ISREG(st.st_mode)) {
    fs->fd = open(fs->path, O_WRONLY | O_CLOEXEC);
    if (fs->fd < 0) {
      err = -errno;
      pipe_stage_fail(s, err, "cannot open %s: %s", fs->path, uv_strerror(err));
      return err;
    }
    fs->direct = 1; /* position -1: a FIFO cannot pwrite */
    pipe__fd_writer_init_fs(&fs->writer, s, fs->fd, -1, sink_writer_done);
    fs->phase = PH_WRITING;
    return 0;
  }
  err = create_temp(fs, base);
  if (err == UV_ENOENT || err == UV_ENOTDIR) {
    pipe_stage_fail(s, err, "cannot create %s: directory %s does not exist",
                    fs->path, fs->dir);
    return err;
  }
  if (err < 0) {
    pipe_stage_fail(s, err, "cannot create %s (temporary file in %s): %s",
                    fs->path, fs->dir, uv_strerror(err));
    return err;
  }
  pipe__fd_writer_init_fs(&fs->writer, s, fs->fd, 0, sink_writer_done);
  fs->phase = PH_WRITING;
  return 0;
}

/* Takes buf, in every outcome. */
static int file_sink_write(pipe_stage_t* s, pipe_buf_t* buf) {
  file_sink_t* fs = (file_sink_t*)s;
  if (fs->phase != PH_WRITING) { /* not started, or already ending */
    pipe_buf_unref(buf);
    return PIPE_FULL;
  }
  return pipe__fd_writer_write(&fs->writer, buf);
}

static int file_sink_end(pipe_stage_t* s) {
  file_sink_t* fs = (file_sink_t*)s;
  if (fs->phase == PH_WRITING) pipe__fd_writer_end(&fs->writer);
  return 0;
}

static void file_sink_destroy(pipe_stage_t* s, int status) {
  file_sink_t* fs = (file_sink_t*)s;
  (void)status; /* `committed` says whether there is anything to undo */
  fs->destroyed = 1;
  if (fs->phase != PH_IDLE)
    pipe__fd_writer_destroy(&fs->writer, sink_writer_idle);
  maybe_cleanup(fs);
}

static const pipe_stage_ops_t file_sink_ops = {
    .name = "file_sink",
    .size = sizeof(file_sink_t),
    .start = file_sink_start,
    .write = file_sink_write,
    .end = file_sink_end,
    .destroy = file_sink_destroy,
};

int pipe_file_sink_new(pipe_pipeline_t* pl, const pipe_file_sink_config_t* cfg,
                       pipe_stage_t** out) {
  pipe_stage_t* s;
  file_sink_t* fs;
  char* path;
  int r;
  if (out != NULL) *out = NULL;
  if (cfg == NULL || cfg->path == NULL || cfg->path[0] == '\0')
    return PIPE_EINVAL;
  path = strdup(cfg->path);
  if (path == NULL) return PIPE_ENOMEM;
  r = pipe_stage_new(pl, &file_sink_ops, &s);
  if (r < 0) {
    free(path);
    return r;
  }
  fs = (file_sink_t*)s;
  fs->path = path;
  fs->fsync = cfg->fsync;
  fs->fd = fs->dirfd = -1;
  fs->fsreq.data = fs;
  if (out != NULL) *out = s;
  return 0;
}
