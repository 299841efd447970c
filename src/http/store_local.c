/* The local directory store (see store.h).
 *
 * An object is the file DIR/KEY. It is written by the library's file sink:
 * a temporary file in the key's directory, fsync'd and renamed over the key
 * only when the pipeline succeeds, so a half-received upload is never
 * visible, and an existing object is replaced atomically. The ETag is the
 * nginx kind, derived from the file's size and modification time (so GET
 * needs no hash of the content).
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "http/store.h"
#include "pipe/io.h"

typedef struct local_store_s {
  pipe_store_t base; /* first */
  char* dir;
} local_store_t;

/* DIR/KEY into a malloc'd string, or NULL. */
static char* object_path(const local_store_t* ls, const char* key) {
  size_t n = strlen(ls->dir) + strlen(key) + 2;
  char* p = malloc(n);
  if (p != NULL) snprintf(p, n, "%s/%s", ls->dir, key);
  return p;
}

/* Creates every directory of key's path below the store (mkdir -p). */
static int make_parents(const local_store_t* ls, const char* key) {
  char* p = object_path(ls, key);
  size_t root;
  char* q;
  if (p == NULL) return PIPE_ENOMEM;
  root = strlen(ls->dir) + 1;
  for (q = p + root; (q = strchr(q, '/')) != NULL; q++) {
    *q = '\0';
    if (mkdir(p, 0777) != 0 && errno != EEXIST) {
      int err = -errno;
      free(p);
      return err;
    }
    *q = '/';
  }
  free(p);
  return 0;
}

static void fill_info(const struct stat* st, pipe_store_info_t* info) {
  info->size = (uint64_t)st->st_size;
  snprintf(info->etag, sizeof(info->etag), "\"%llx-%llx\"",
           (unsigned long long)st->st_mtim.tv_sec * 1000000000ull +
               (unsigned long long)st->st_mtim.tv_nsec,
           (unsigned long long)st->st_size);
}

static int local_add_sink(pipe_store_t* st, pipe_pipeline_t* pl,
                          const char* key, pipe_stage_t** out) {
  local_store_t* ls = (local_store_t*)st;
  pipe_file_sink_config_t fc;
  char* path;
  int r = make_parents(ls, key);
  if (r < 0) return r;
  path = object_path(ls, key);
  if (path == NULL) return PIPE_ENOMEM;
  memset(&fc, 0, sizeof(fc));
  fc.path = path;
  fc.fsync = 1;
  /* Uploads are written once and read back rarely, if ever, soon: the
   * bytes skip the page cache (half the server's CPU otherwise goes to
   * copying them into it, see bench/RESULTS.md). */
  fc.direct_io = 1;
  r = pipe_file_sink_new(pl, &fc, out); /* copies the path */
  free(path);
  return r;
}

static int local_stat(pipe_store_t* st, const char* key,
                      pipe_store_info_t* info) {
  local_store_t* ls = (local_store_t*)st;
  struct stat sb;
  char* path = object_path(ls, key);
  int r;
  if (path == NULL) return PIPE_ENOMEM;
  r = stat(path, &sb);
  free(path);
  if (r != 0) return errno == ENOTDIR ? PIPE_ENOENT : -errno;
  if (!S_ISREG(sb.st_mode)) return PIPE_ENOENT;
  fill_info(&sb, info);
  return 0;
}

static int local_open_read(pipe_store_t* st, const char* key,
                           pipe_store_info_t* info) {
  local_store_t* ls = (local_store_t*)st;
  struct stat sb;
  char* path = object_path(ls, key);
  int fd;
  if (path == NULL) return PIPE_ENOMEM;
  fd = open(path, O_RDONLY | O_CLOEXEC | O_NONBLOCK);
  free(path);
  if (fd < 0) return errno == ENOTDIR ? PIPE_ENOENT : -errno;
  if (fstat(fd, &sb) != 0 || !S_ISREG(sb.st_mode)) {
    close(fd);
    return PIPE_ENOENT; /* a directory or a FIFO is no object */
  }
  fill_info(&sb, info);
  return fd;
}

static int local_remove(pipe_store_t* st, const char* key) {
  local_store_t* ls = (local_store_t*)st;
  char* path = object_path(ls, key);
  size_t root;
  char* q;
  int r = 0;
  if (path == NULL) return PIPE_ENOMEM;
  if (unlink(path) != 0 && errno != ENOENT) r = -errno;
  /* Directories the key made and nothing else uses any more. */
  root = strlen(ls->dir);
  while ((q = strrchr(path, '/')) != NULL && (size_t)(q - path) > root) {
    *q = '\0';
    if (rmdir(path) != 0) break;
  }
  free(path);
  return r;
}

static int local_ready(pipe_store_t* st) {
  local_store_t* ls = (local_store_t*)st;
  return access(ls->dir, W_OK | X_OK) == 0 ? 0 : -errno;
}

static void local_free(pipe_store_t* st) {
  local_store_t* ls = (local_store_t*)st;
  if (ls == NULL) return;
  free(ls->dir);
  free(ls);
}

static size_t local_sink_mem(pipe_store_t* st) {
  (void)st;
  return PIPE_FILE_SINK_DIRECT_MEM; /* the file sink's staging */
}

static const pipe_store_ops_t local_ops = {
    .name = "local",
    .add_sink = local_add_sink,
    .stat = local_stat,
    .open_read = local_open_read,
    .remove = local_remove,
    .ready = local_ready,
    .free = local_free,
    .sink_mem = local_sink_mem,
};

int pipe__store_local_new(const char* dir, pipe_store_t** out) {
  local_store_t* ls;
  struct stat sb;
  size_t n;
  *out = NULL;
  if (dir == NULL || dir[0] == '\0') return PIPE_EINVAL;
  if (mkdir(dir, 0777) != 0 && errno != EEXIST) return -errno;
  if (stat(dir, &sb) != 0) return -errno;
  if (!S_ISDIR(sb.st_mode)) return PIPE_ENOTDIR;
  ls = calloc(1, sizeof(*ls));
  if (ls == NULL) return PIPE_ENOMEM;
  ls->dir = strdup(dir);
  if (ls->dir == NULL) {
    free(ls);
    return PIPE_ENOMEM;
  }
  n = strlen(ls->dir);
  while (n > 1 && ls->dir[n - 1] == '/') ls->dir[--n] = '\0';
  ls->base.ops = &local_ops;
  *out = &ls->base;
  return 0;
}

/* ---- keys ------------------------------------------------------------------ */

int pipe__store_key_ok(const char* key, size_t len) {
  size_t i, seg = 0;
  if (len == 0 || len > 1024 || key[0] == '/') return 0;
  for (i = 0; i <= len; i++) {
    unsigned char c = i < len ? (unsigned char)key[i] : '/';
    if (c == '/') {
      if (i == seg) return 0;          /* empty segment */
      if (key[seg] == '.') return 0;   /* ".", "..", hidden names */
      seg = i + 1;
      continue;
    }
    if (c < 0x20 || c == 0x7f || c == '\\') return 0;
  }
  return 1;
}

void pipe__store_sanitize_name(const char* name, char* out, size_t cap) {
  const char* base = name;
  const char* p;
  size_t n = 0, max = cap - 1;
  if (max > 200) max = 200;
  for (p = name; *p != '\0'; p++)
    if (*p == '/' || *p == '\\') base = p + 1;
  while (*base == '.' || *base == ' ') base++;
  for (p = base; *p != '\0' && n < max; p++) {
    unsigned char c = (unsigned char)*p;
    if (c < 0x20 || c == 0x7f || strchr("<>:\"|?*%", c) != NULL) c = '_';
    out[n++] = (char)c;
  }
  /* Do not end inside a UTF-8 sequence: back up to a character start. */
  if (*p != '\0' && n > 0) {
    size_t k = n;
    while (k > 0 && ((unsigned char)out[k - 1] & 0xC0) == 0x80) k--;
    if (k > 0 && ((unsigned char)out[k - 1] & 0x80) != 0) n = k - 1;
  }
  while (n > 0 && (out[n - 1] == ' ' || out[n - 1] == '.')) n--;
  if (n == 0) {
    snprintf(out, cap, "file");
    return;
  }
  out[n] = '\0';
}
