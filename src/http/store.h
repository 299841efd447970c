/* Object storage behind the HTTP service (internal to libpipe).
 *
 * A store is a small vtable so that the server does not know where objects
 * live: the local directory store (store_local.c) now, S3 once the S3
 * client and the library context have landed. Writing is always a sink
 * stage added to a pipeline the server assembled (the store decides the
 * stage: a file sink with temp file + fsync + rename here, an S3 multipart
 * upload later), so backpressure and teardown are the pipeline's.
 * Reading, stat and removal are synchronous for the local store; an S3
 * store will need them asynchronous (that change is the server's too).
 *
 * Keys reaching a store are already validated (pipe__store_key_ok).
 * Loop thread only.
 */
#ifndef PIPE_HTTP_STORE_H
#define PIPE_HTTP_STORE_H

#include <stddef.h>
#include <stdint.h>

#include "pipe/stage.h"

typedef struct pipe_store_s pipe_store_t;

/** What a store knows of one stored object. */
typedef struct pipe_store_info_s {
  uint64_t size;
  char etag[48]; /* quoted, as sent in an ETag header */
} pipe_store_info_t;

typedef struct pipe_store_ops_s {
  const char* name;
  /** Adds the sink that stores key as pl's last stage (*out may be NULL).
   *  Nothing is visible under key until the pipeline succeeds. */
  int (*add_sink)(pipe_store_t* st, pipe_pipeline_t* pl, const char* key,
                  pipe_stage_t** out);
  /** Size and ETag of a stored object: 0, PIPE_ENOENT, or < 0. */
  int (*stat)(pipe_store_t* st, const char* key, pipe_store_info_t* info);
  /** Opens a stored object for reading: returns an fd (caller closes) and
   *  fills info from that same open file, or < 0 (PIPE_ENOENT). */
  int (*open_read)(pipe_store_t* st, const char* key, pipe_store_info_t* info);
  /** Removes a stored object (and directories it leaves empty inside the
   *  store): 0 or < 0. */
  int (*remove)(pipe_store_t* st, const char* key);
  /** 0 when the store can take writes, else < 0 (for /readyz). */
  int (*ready)(pipe_store_t* st);
  void (*free)(pipe_store_t* st);
} pipe_store_ops_t;

struct pipe_store_s {
  const pipe_store_ops_t* ops;
};

/** The local directory store rooted at dir (created if missing). Returns 0
 *  and *out, or < 0 (the directory cannot be created or is not one). */
int pipe__store_local_new(const char* dir, pipe_store_t** out);

/** 1 when key is acceptable to every store: 1..1024 bytes, no NUL or
 *  control byte (< 0x20, 0x7f), no backslash, no leading '/', no empty
 *  segment ("a//b", trailing '/'), no segment "." or "..", and no segment
 *  starting with '.' (the local store's temp files are hidden names). */
int pipe__store_key_ok(const char* key, size_t len);

/** Makes a client's file name safe as the last segment of a key: the part
 *  after the last '/' or '\\', control bytes and reserved characters
 *  replaced by '_', leading dots dropped, at most 200 bytes (cut at a UTF-8
 *  character boundary); "file" when nothing is left. Writes a NUL-terminated
 *  string into out (cap >= 8). */
void pipe__store_sanitize_name(const char* name, char* out, size_t cap);

#endif /* PIPE_HTTP_STORE_H */
