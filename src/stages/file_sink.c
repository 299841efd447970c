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
 * Which file is the target: OUT is first followed through symbolic links
 * (lstat/readlink, by hand, so that a dangling link still names where its
 * file will be), and the temp file goes beside that final target: a
 * symlink OUT keeps being a symlink and its target is replaced atomically
 * in the target's own folder. A replaced file keeps its mode, and its
 * owner and group where we are allowed to set them (sed -i, rsync): the
 * temp file is created 0600 and given the old file's owner and mode before
 * a single byte is written, so the data is never readable by more people
 * than the old file was.
 *
 * Some targets are not a place in a directory but an open file or a
 * device: anything that is not a regular file (/dev/null, a FIFO, a
 * terminal), anything reached through a link that lives in /proc
 * (/dev/stdout -> /proc/self/fd/1, /dev/fd/N: the file behind an fd, even
 * a regular one) and anything directly in /dev. Those are decided with
 * lstat/stat on the resolved path, not by the name the user typed (a link
 * ./out -> /dev/null is a device too). They are opened and written in
 * place, never renamed over (renaming over /dev/stdout as root replaces
 * the device node), with no temp file and no fsync; a regular file behind
 * an fd link is opened O_APPEND so it continues where the shell's `>` or
 * `>>` left it. Like standard output, a reader that goes away (EPIPE from
 * a FIFO or a pipe behind /dev/stdout) ends the run quietly with success.
 *
 * A FIFO (or a pipe behind an fd link) is a stream: opened O_NONBLOCK and
 * written with uv_write on a uv_pipe_t, like standard output, never with a
 * blocking write(2) on a thread-pool thread, which a stalled reader would
 * park there out of a teardown's reach (SIGINT would wait for the reader).
 * With no reader yet, open(O_WRONLY | O_NONBLOCK) fails with ENXIO instead
 * of blocking the loop in start(): the sink then retries every 50 ms
 * (PH_OPENING), holding what upstream pushes meanwhile and answering
 * PIPE_FULL, so `pipe ... -o fifo` waits for its reader as `cat > fifo`
 * does, and can be interrupted while it waits.
 *
 * Teardown: destroy() with the file not committed closes and unlinks the
 * temp file, but only once no request (write or fsync) is in flight, since
 * the kernel could hand the same fd number to someone else meanwhile.
 */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include <uv.h>

#include "pipe/io.h"
#include "pipe/pipeline.h"
#include "stages/fd_writer.h"
#include "stages/stdio_stream.h"

_Static_assert(PIPE_FILE_SINK_DIRECT_MEM == 2 * PIPE__FD_DIRECT_CHUNK,
               "io.h states what direct mode holds");

enum { PH_IDLE, PH_OPENING, PH_WRITING, PH_FSYNC_FILE, PH_FSYNC_DIR, PH_DONE };

#define FIFO_POLL_MS 50

/* State: `path` is our copy of OUT (used in every message), `target` the
 * file it resolves to (after symlinks) and `dir` the target's folder; all
 * three and `tmp` (NULL until created) are malloc'd. `fd` is the temp file
 * (or the target itself when `direct`; -1 once closed), `dirfd` the folder
 * during its fsync. `fs_busy` is 1 while `fsreq` is in flight (the stage
 * is held). A FIFO target is the stream `io` instead of `fd` (`stream`);
 * until its reader comes (PH_OPENING) `timer` retries the open and
 * `pending` holds the buffers taken meanwhile (ours, linked by ->next). */
typedef struct file_sink_s {
  pipe_stage_t stage; /* first */
  char* path;
  char* target;
  char* dir;
  char* tmp;
  int fsync;
  int fd;
  int dirfd;
  int phase;
  int committed; /* renamed over the target: nothing to undo */
  int direct;    /* target is a device or FIFO: written in place */
  int direct_io; /* asked: O_DIRECT on the temp file (fd_writer.h) */
  int destroyed;
  int cleaned;
  int fs_busy;
  int writer_ready; /* `writer` initialized (it is not while opening) */
  int stream;
  int end_pending; /* end() came while opening */
  int told_full;   /* we answered PIPE_FULL while opening */
  int timer_open;
  pipe_buf_t* pending;
  pipe_buf_t* pending_tail;
  uv_timer_t timer;
  pipe_stdio_stream_t io;
  uv_fs_t fsreq;
  pipe_fd_writer_t writer;
} file_sink_t;

static void sink_fsync_cb(uv_fs_t* req);
static int start_fifo(file_sink_t* fs);

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

/* The temp name adds ".", ".pipe-" and 6 random characters to the base:
 * a base longer than this is shortened so the name still fits NAME_MAX
 * (the temp name only has to be unique and recognizable, not complete). */
#define TEMP_EXTRA 13
#define TEMP_BASE_MAX (NAME_MAX - TEMP_EXTRA)

/* Creates `<dir>/.<base>.pipe-XXXXXX` exclusively with `mode`; sets fs->tmp
 * and fs->fd. Returns 0 or a negated errno. */
static int create_temp(file_sink_t* fs, const char* base, mode_t mode) {
  static const char alphabet[] =
      "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789";
  size_t blen = strlen(base);
  size_t n = strlen(fs->dir) + blen + TEMP_EXTRA + 3;
  int attempt, err = PIPE_EEXIST;
  if (blen > TEMP_BASE_MAX) blen = TEMP_BASE_MAX;
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
    snprintf(fs->tmp, n, "%s/.%.*s.pipe-%s", fs->dir, (int)blen, base,
             suffix);
    fs->fd = open(fs->tmp, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, mode);
    if (fs->fd >= 0) return 0;
    err = -errno; /* EEXIST: someone has that name, draw another */
  }
  free(fs->tmp);
  fs->tmp = NULL;
  return err;
}

/* Gives the temp file the owner, group and mode of the file it replaces,
 * before anything is written to it. Owner and group only where permitted:
 * as root both; otherwise the group if we are in it (chown(2) allows that)
 * and else the file is ours, as with sed -i. chown first: it may clear the
 * set-id bits that chmod then sets. */
static void copy_owner_and_mode(int fd, const struct stat* old) {
  if (fchown(fd, old->st_uid, old->st_gid) != 0)
    (void)fchown(fd, (uid_t)-1, old->st_gid);
  (void)fchmod(fd, old->st_mode & 07777);
}

static int in_dir(const char* path, const char* dir) {
  size_t n = strlen(dir);
  return strncmp(path, dir, n) == 0 && (path[n] == '\0' || path[n] == '/');
}

/* Follows path through symbolic links, by hand so that a dangling link
 * still names the file it will create. Returns 0 with *final (malloc'd),
 * the path writing would reach, and *magic = 1 when a link on the way
 * lives in /proc (/proc/self/fd/N, also via /dev/fd/N or /dev/stdout):
 * those name an open file, not a directory entry. PIPE_ENOMEM, or -ELOOP
 * after 40 links (the kernel's limit). */
static int resolve_target(const char* path, char** final, int* magic) {
  char* cur = strdup(path);
  int hops;
  *final = NULL;
  *magic = 0;
  if (cur == NULL) return PIPE_ENOMEM;
  for (hops = 0; hops <= 40; hops++) {
    struct stat st;
    char link[PATH_MAX];
    char *dir = NULL, *rdir, *next;
    const char* base;
    ssize_t n;
    if (lstat(cur, &st) != 0 || !S_ISLNK(st.st_mode)) {
      *final = cur; /* not there (yet), or not a link: the target */
      return 0;
    }
    if (split_path(cur, &dir, &base) == PIPE_ENOMEM) goto fail;
    rdir = realpath(dir, NULL);
    if (rdir != NULL && in_dir(rdir, "/proc")) {
      free(rdir);
      free(dir);
      *magic = 1;
      *final = cur;
      return 0;
    }
    free(rdir);
    n = readlink(cur, link, sizeof(link) - 1);
    if (n < 0) { /* vanished meanwhile: let open() tell */
      free(dir);
      *final = cur;
      return 0;
    }
    link[n] = '\0';
    if (link[0] == '/') {
      next = strdup(link);
    } else {
      size_t len = strlen(dir) + (size_t)n + 2;
      next = malloc(len);
      if (next != NULL) snprintf(next, len, "%s/%s", dir, link);
    }
    free(dir);
    if (next == NULL) goto fail;
    free(cur);
    cur = next;
  }
  free(cur);
  return -ELOOP;
fail:
  free(cur);
  return PIPE_ENOMEM;
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
  free(fs->target);
  free(fs->path);
  fs->tmp = fs->dir = fs->target = fs->path = NULL;
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
    if (fd >= 0) close(fd); /* a stream is closed by destroy() */
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
  if (rename(fs->tmp, fs->target) != 0) {
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
  /* A FIFO or pipe whose reader went away (`-o /dev/stdout | head -1`):
   * stop quietly with success, as the stdout sink does for `-o -`. */
  if (status == UV_EPIPE && fs->direct) status = 0;
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

/* Opens a device, FIFO, terminal or fd link for writing in place. */
static int start_direct(file_sink_t* fs, int exists, const struct stat* st) {
  pipe_stage_t* s = &fs->stage;
  int flags = O_WRONLY | O_CLOEXEC;
  int err;
  if (exists && S_ISFIFO(st->st_mode)) return start_fifo(fs);
  if (!exists)
    flags |= O_CREAT | O_EXCL;
  else if (S_ISREG(st->st_mode))
    flags |= O_APPEND; /* the file behind /dev/fd/N: continue it */
  fs->fd = open(fs->target, flags, 0666);
  if (fs->fd < 0) {
    err = -errno;
    pipe_stage_fail(s, err, "cannot open %s: %s", fs->path, uv_strerror(err));
    return err;
  }
  fs->direct = 1; /* position -1: a device cannot pwrite */
  pipe__fd_writer_init_fs(&fs->writer, s, fs->fd, -1, sink_writer_done);
  fs->writer_ready = 1;
  fs->phase = PH_WRITING;
  return 0;
}

static void timer_close_cb(uv_handle_t* h) {
  pipe_stage_release(&((file_sink_t*)h->data)->stage);
}

static void stop_timer(file_sink_t* fs) {
  if (!fs->timer_open) return;
  fs->timer_open = 0;
  uv_timer_stop(&fs->timer);
  fs->timer.data = fs;
  pipe_stage_hold(&fs->stage); /* until timer_close_cb */
  uv_close((uv_handle_t*)&fs->timer, timer_close_cb);
}

/* Tries to open the FIFO target without blocking. Returns 1 when it is
 * open and writing (what was pending is queued), 0 when there is no reader
 * yet, < 0 after failing the stage. */
static int try_open_fifo(file_sink_t* fs) {
  pipe_stage_t* s = &fs->stage;
  int fd = open(fs->target, O_WRONLY | O_NONBLOCK | O_CLOEXEC);
  int r = PIPE_OK;
  if (fd < 0 && errno == ENXIO) return 0; /* no reader yet */
  if (fd < 0) {
    int err = -errno;
    pipe_stage_fail(s, err, "cannot open %s: %s", fs->path, uv_strerror(err));
    return err;
  }
  r = pipe__stdio_stream_open(&fs->io, s, fd, "write", fs->path);
  if (r == PIPE_STDIO_FILE) {
    /* Not a FIFO any more (replaced meanwhile): write it as a file. */
    int fl = fcntl(fd, F_GETFL);
    if (fl != -1) (void)fcntl(fd, F_SETFL, fl & ~O_NONBLOCK);
    fs->fd = fd;
    pipe__fd_writer_init_fs(&fs->writer, s, fd, -1, sink_writer_done);
  } else if (r < 0) {
    uv_os_fd_t attached; /* the handle closes fd only if it has it */
    if (!fs->io.open || uv_fileno(&fs->io.h.handle, &attached) != 0)
      close(fd);
    return r;
  } else {
    pipe__fd_writer_init_stream(&fs->writer, s, &fs->io.h.stream,
                                sink_writer_done);
  }
  fs->writer_ready = 1;
  fs->phase = PH_WRITING;
  r = PIPE_OK;
  while (fs->pending != NULL) {
    pipe_buf_t* b = fs->pending;
    fs->pending = b->next;
    r = pipe__fd_writer_write(&fs->writer, b); /* takes b */
  }
  fs->pending_tail = NULL;
  if (fs->end_pending)
    pipe__fd_writer_end(&fs->writer);
  else if (fs->told_full && r == PIPE_OK)
    pipe_stage_drain(s); /* else the writer drains once below its hwm */
  return 1;
}

static void fifo_poll_cb(uv_timer_t* t) {
  file_sink_t* fs = t->data;
  if (pipe_stage_stopping(&fs->stage) || try_open_fifo(fs) != 0)
    stop_timer(fs);
}

/* A FIFO target: open it now if it has a reader, else poll for one. */
static int start_fifo(file_sink_t* fs) {
  pipe_stage_t* s = &fs->stage;
  int r;
  fs->direct = 1;
  fs->stream = 1;
  fs->phase = PH_OPENING;
  r = try_open_fifo(fs);
  if (r != 0) return r < 0 ? r : 0;
  r = uv_timer_init(pipe_stage_loop(s), &fs->timer);
  if (r < 0) {
    pipe_stage_fail(s, r, "cannot open %s: %s", fs->path, uv_strerror(r));
    return r;
  }
  fs->timer_open = 1;
  fs->timer.data = fs;
  uv_timer_start(&fs->timer, fifo_poll_cb, FIFO_POLL_MS, FIFO_POLL_MS);
  return 0;
}

/* The temp file could not be created: say why in the user's terms. */
static int fail_create(file_sink_t* fs, int err) {
  pipe_stage_t* s = &fs->stage;
  struct stat st;
  if (err == UV_ENOENT)
    pipe_stage_fail(s, err, "cannot create %s: directory %s does not exist",
                    fs->path, fs->dir);
  else if (err == UV_ENOTDIR && stat(fs->dir, &st) == 0 && !S_ISDIR(st.st_mode))
    pipe_stage_fail(s, err, "cannot create %s: %s is not a directory",
                    fs->path, fs->dir);
  else if (err == UV_ENOTDIR)
    pipe_stage_fail(s, err, "cannot create %s: a part of %s is not a directory",
                    fs->path, fs->dir);
  else
    pipe_stage_fail(s, err, "cannot create %s (temporary file in %s): %s",
                    fs->path, fs->dir, uv_strerror(err));
  return err;
}

static int file_sink_start(pipe_stage_t* s) {
  file_sink_t* fs = (file_sink_t*)s;
  const char* base;
  struct stat st;
  int err, magic, exists;
  err = resolve_target(fs->path, &fs->target, &magic);
  if (err < 0) {
    pipe_stage_fail(s, err, "cannot write %s: %s", fs->path, uv_strerror(err));
    return err;
  }
  err = split_path(fs->target, &fs->dir, &base);
  exists = stat(fs->target, &st) == 0;
  if (err == PIPE_EISDIR || (err == 0 && exists && S_ISDIR(st.st_mode))) {
    pipe_stage_fail(s, PIPE_EISDIR, "cannot write %s: is a directory",
                    fs->path);
    return PIPE_EISDIR;
  }
  if (err < 0) return err;
  if (magic || (exists && !S_ISREG(st.st_mode))) return start_direct(fs, exists, &st);
  {
    char* rdir = realpath(fs->dir, NULL);
    int special = rdir != NULL && (strcmp(rdir, "/dev") == 0 ||
                                   in_dir(rdir, "/proc") || in_dir(rdir, "/sys"));
    free(rdir);
    if (special) return start_direct(fs, exists, &st);
  }
  /* A file being replaced: the new one is created private and given the
   * old one's owner and mode before any data goes in. */
  err = create_temp(fs, base, exists ? 0600 : 0666);
  if (err < 0) return fail_create(fs, err);
  if (exists) copy_owner_and_mode(fs->fd, &st);
  pipe__fd_writer_init_fs(&fs->writer, s, fs->fd, 0, sink_writer_done);
  /* Refused O_DIRECT (tmpfs, some FUSE and network filesystems) is no
   * error: the writer stays buffered. Out of memory is one. */
  if (fs->direct_io && pipe__fd_writer_set_direct(&fs->writer) == PIPE_ENOMEM) {
    pipe_stage_fail(s, PIPE_ENOMEM, "cannot write %s: out of memory", fs->path);
    return PIPE_ENOMEM;
  }
  fs->writer_ready = 1;
  fs->phase = PH_WRITING;
  return 0;
}

/* Takes buf, in every outcome. */
static int file_sink_write(pipe_stage_t* s, pipe_buf_t* buf) {
  file_sink_t* fs = (file_sink_t*)s;
  if (fs->phase == PH_OPENING) { /* kept until the FIFO has a reader */
    buf->next = NULL;
    if (fs->pending_tail != NULL)
      fs->pending_tail->next = buf;
    else
      fs->pending = buf;
    fs->pending_tail = buf;
    fs->told_full = 1;
    return PIPE_FULL;
  }
  if (fs->phase != PH_WRITING) { /* not started, or already ending */
    pipe_buf_unref(buf);
    return PIPE_FULL;
  }
  return pipe__fd_writer_write(&fs->writer, buf);
}

static int file_sink_end(pipe_stage_t* s) {
  file_sink_t* fs = (file_sink_t*)s;
  if (fs->phase == PH_OPENING) fs->end_pending = 1;
  if (fs->phase == PH_WRITING) pipe__fd_writer_end(&fs->writer);
  return 0;
}

static void file_sink_destroy(pipe_stage_t* s, int status) {
  file_sink_t* fs = (file_sink_t*)s;
  (void)status; /* `committed` says whether there is anything to undo */
  fs->destroyed = 1;
  stop_timer(fs);
  while (fs->pending != NULL) {
    pipe_buf_t* b = fs->pending;
    fs->pending = b->next;
    pipe_buf_unref(b);
  }
  fs->pending_tail = NULL;
  if (fs->writer_ready) pipe__fd_writer_destroy(&fs->writer, sink_writer_idle);
  /* A FIFO's stream: closing it cancels a write in flight (whose callback
   * comes first, then idle) and closes the fd. */
  if (fs->stream) pipe__stdio_stream_close(&fs->io);
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
  fs->direct_io = cfg->direct_io;
  fs->fd = fs->dirfd = -1;
  fs->fsreq.data = fs;
  if (out != NULL) *out = s;
  return 0;
}

int pipe_file_sink_in_place(const pipe_stage_t* s) {
  const file_sink_t* fs = (const file_sink_t*)s;
  if (s == NULL || s->ops != &file_sink_ops || fs->phase == PH_IDLE) return -1;
  return fs->direct && fs->writer_ready; /* a FIFO never opened: 0 */
}
