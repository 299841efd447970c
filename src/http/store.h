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

#include "pipe/error.h"
#include "pipe/stage.h"

struct uv_loop_s;

typedef struct pipe_store_s pipe_store_t;
typedef struct pipe_store_read_s pipe_store_read_t;
struct pipe_ctx_s;
struct pipe_s3_options_s;

/** What a store knows of one stored object. */
typedef struct pipe_store_info_s {
  uint64_t size;
  char etag[48]; /* quoted, as sent in an ETag header */
} pipe_store_info_t;

/** An asynchronous removal finished: status 0 or < 0. */
typedef void (*pipe_store_done_cb)(void* ud, int status);

/** Callbacks of an asynchronous read (read_open / read_range below). */
typedef struct pipe_store_read_cbs_s {
  /** The object's size and ETag (status 0), or why not (< 0: PIPE_ENOENT,
   *  PIPE_ES3DENIED, PIPE_ENET...; err says more, may be NULL). */
  void (*on_info)(void* ud, int status, const pipe_store_info_t* info,
                  const pipe_error_t* err);
  /** Bytes of the range: 0 (all taken) or PIPE_FULL (none taken: the read
   *  pauses until read_resume, then offers them again). */
  int (*on_data)(void* ud, const char* p, size_t n);
  /** The range has been delivered (0) or failed (< 0, err may be NULL). */
  void (*on_end)(void* ud, int status, const pipe_error_t* err);
} pipe_store_read_cbs_t;

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
  /* Optional ops (NULL: the store does not need them; the local store
   * leaves them NULL and the server uses the synchronous ops above). */
  /** The library context pipelines must be created in (s3:// stages reach
   *  its client). */
  struct pipe_ctx_s* (*ctx)(pipe_store_t* st);
  /** Worst-case bytes of buffers one sink holds (upload admission). */
  size_t (*sink_mem)(pipe_store_t* st);
  /** What the sink of a pipeline that succeeded stored (instead of stat). */
  int (*sink_info)(pipe_store_t* st, pipe_stage_t* sink,
                   pipe_store_info_t* info);
  /** After a sink's pipeline failed: 1 and a sentence in msg when it left
   *  something behind that needs an operator (a multipart upload the abort
   *  could not remove), else 0. */
  int (*sink_leftover)(pipe_store_t* st, pipe_stage_t* sink, char* msg,
                       size_t cap);
  /** Removes an object asynchronously: 0 and cb(ud, status) later, or < 0
   *  (cb will not run). No callback after close(). */
  int (*remove_async)(pipe_store_t* st, const char* key, pipe_store_done_cb cb,
                      void* ud);
  /** Reads asynchronously: on_info with the object's size and ETag, then
   *  (after read_range) on_data... on_end. Returns 0 and *out, or < 0. */
  int (*read_open)(pipe_store_t* st, const char* key,
                   const pipe_store_read_cbs_t* cbs, void* ud,
                   pipe_store_read_t** out);
  /** Streams [from, from + len) of the object (len > 0), after on_info. */
  int (*read_range)(pipe_store_read_t* rd, uint64_t from, uint64_t len);
  /** Continues a read paused by on_data's PIPE_FULL. */
  void (*read_resume)(pipe_store_read_t* rd);
  /** Ends a read (cancelled if running: no callback after this). */
  void (*read_close)(pipe_store_read_t* rd);
  /** Closes what the store holds open on the loop (the server drained). */
  void (*close)(pipe_store_t* st);
} pipe_store_ops_t;

struct pipe_store_s {
  const pipe_store_ops_t* ops;
};

/** The local directory store rooted at dir (created if missing). Returns 0
 *  and *out, or < 0 (the directory cannot be created or is not one). */
int pipe__store_local_new(const char* dir, pipe_store_t** out);

/** The S3 store for url "s3://bucket[/prefix]" on loop: objects are
 *  prefix/KEY in the bucket, written by the S3 sink (multipart above
 *  part_size, concurrency parts in flight; 0: the defaults), the S3
 *  settings resolved as pipe_s3_config_load does from opt (may be NULL).
 *  The store owns its library context. Returns 0 and *out, or < 0 with
 *  err filled (PIPE_EUSAGE: bad URL or settings). */
int pipe__store_s3_new(struct uv_loop_s* loop, const char* url,
                       const struct pipe_s3_options_s* opt, size_t part_size,
                       unsigned concurrency, pipe_store_t** out,
                       pipe_error_t* err);

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
