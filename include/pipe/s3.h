/* pipe — S3: a client on the loop, an upload sink and a download source.
 *
 *   pipe_ctx_t* ctx;  pipe_ctx_new(loop, &ctx);
 *   pipe_pipeline_new_in(ctx, NULL, &pl);
 *   pipe_file_source_new(pl, &(pipe_file_source_config_t){"big.csv"}, NULL);
 *   pipe_gzip_new(pl, NULL, NULL);
 *   pipe_s3_sink_config_t sc = {.url = "s3://bucket/big.csv.gz"};
 *   pipe_s3_sink_new(pl, &sc, &sink, &err);
 *   pipe_pipeline_run(pl, done);   ... uv_run ...
 *   pipe_s3_sink_receipt(sink)->sha256, ->etag
 *
 * The client drives libcurl's multi interface from libuv (one uv_poll_t per
 * socket, one uv_timer_t), so every request of every stage and pipeline on
 * the loop runs on the loop thread, many in flight, connections reused.
 * Requests are signed with SigV4; bodies carry Content-MD5 and are sent as
 * UNSIGNED-PAYLOAD. Transient failures (5xx, 429/503 SlowDown, timeouts,
 * resets, refused connections, a 200 whose body is an error) are retried
 * with exponential backoff and equal jitter, within the configuration's
 * max_attempts and retry_timeout. A stalled transfer (no byte for 20 s) is
 * a timeout. Errors name the operation, the s3:// URL, the S3 code and
 * message and the request id, and fill pipe_error_t.http_status,
 * remote_code and request_id; credentials never appear in them.
 *
 * Error codes: PIPE_ENOCREDS (no credentials configured), PIPE_ES3DENIED
 * (403: bad key, bad signature, access denied), PIPE_ES3NOTFOUND (no such
 * bucket, key or upload), PIPE_ENET (the server could not be reached or
 * kept failing at the network level), PIPE_EINTEGRITY (a stored ETag or
 * length differs from what was sent or announced), PIPE_ES3 (any other S3
 * error). Threads: loop thread only.
 */
#ifndef PIPE_S3_H
#define PIPE_S3_H

#include "pipe/export.h"

#include <stddef.h>
#include <stdint.h>

#include "pipe/ctx.h"
#include "pipe/error.h"
#include "pipe/s3_config.h"
#include "pipe/stage.h"

#ifdef __cplusplus
extern "C" {
#endif

struct uv_loop_s;
typedef void (*pipe_s3_client_close_cb)(pipe_s3_client_t* c, void* data);

#define PIPE_S3_DEFAULT_PART_SIZE (8u * 1024 * 1024)
#define PIPE_S3_MIN_PART_SIZE (5u * 1024 * 1024)
#define PIPE_S3_MAX_PART_SIZE (5ull * 1024 * 1024 * 1024)
#define PIPE_S3_MAX_PARTS 10000
#define PIPE_S3_DEFAULT_CONCURRENCY 4

/** Creates a client on loop. cfg is borrowed and must outlive the client
 *  (pipe_ctx_t keeps it). Returns 0 and *out, PIPE_EUSAGE for an
 *  endpoint_url that is not http(s)://host[:port], or PIPE_ENOMEM; err
 *  (may be NULL) says why. Most programs use pipe_ctx_s3() instead. */
PIPE_EXTERN int pipe_s3_client_new(struct uv_loop_s* loop, const pipe_s3_config_t* cfg,
                                   pipe_s3_client_t** out, pipe_error_t* err);

/** Cancels the client's requests in flight (their callbacks do not run),
 *  closes its sockets and timer; cb(c, data) runs once they have closed,
 *  after which the client is freed. */
PIPE_EXTERN void pipe_s3_client_close(pipe_s3_client_t* c, pipe_s3_client_close_cb cb,
                                      void* data);

/** Splits "s3://bucket/key" (key may be empty when allow_empty_key: a
 *  prefix for listing). bucket gets the bucket name (NUL-terminated, cap
 *  bytes), *key points into url. Returns 0 or PIPE_EUSAGE. */
PIPE_EXTERN int pipe_s3_url_parse(const char* url, char* bucket, size_t cap,
                                  const char** key, int allow_empty_key);

/* ---- upload sink --------------------------------------------------------- */

typedef struct pipe_s3_sink_config_s {
  const char* url;         /* s3://bucket/key (copied) */
  size_t part_size;        /* 0: 8 MiB; at least 5 MiB */
  unsigned concurrency;    /* parts in flight; 0: 4 */
  int64_t size;            /* total bytes when known in advance (a file), else -1;
                              0 is an empty object (treated as unknown: use -1) */
  pipe_s3_client_t* client; /* NULL: the client of pipe_pipeline_ctx(pl) */
  const char* reread_path; /* NULL, or the regular file whose bytes reach the
                              sink unchanged (pipe cp FILE s3://...): the sink
                              then hashes the bytes as they pass and reads each
                              part from the file when it is sent, instead of
                              copying it into a part buffer (memory no longer
                              grows with part size x concurrency). Copied. */
} pipe_s3_sink_config_t;

/** What the sink stored: available once the run succeeded (bytes and
 *  sha256 also during the run, growing; leftover_upload also after a
 *  failure). */
typedef struct pipe_s3_receipt_s {
  uint64_t bytes;          /* bytes stored */
  char sha256[65];         /* SHA-256 of those bytes, lowercase hex */
  char etag[80];           /* the object's ETag, without quotes: md5 hex, or md5-N */
  unsigned parts;          /* 0 for a single PutObject */
  char upload_id[256];     /* the multipart upload, "" for PutObject */
  char leftover_upload[256]; /* after a failure: the upload id the abort could
                                not remove ("" when nothing was left) */
  char abort_error[512];   /* why that abort failed */
} pipe_s3_receipt_t;

/** Adds an S3 upload sink: bytes below the part size go as one PutObject,
 *  more as a multipart upload with `concurrency` parts in flight. The sink
 *  copies upstream bytes into part buffers from a pool it owns (part size
 *  x (concurrency + 1), pipe_stage_pool_new), computing each part's MD5
 *  (its Content-MD5) and the whole object's SHA-256 as it copies, so it
 *  never holds upstream buffers while parts are in flight; write() answers
 *  PIPE_FULL while every part buffer is taken. For a stream of unknown
 *  size the part size doubles every 900 parts, so 10,000 parts reach
 *  5 TiB. The final ETag (MD5 of the parts' MD5s, -N) is checked against
 *  the server's (PIPE_EINTEGRITY). On failure, abort or signal the
 *  multipart upload is aborted (retried; if that fails too the receipt
 *  names the upload id). Returns 0 and *out (may be NULL), PIPE_EUSAGE
 *  (bad URL or part size, err says which), PIPE_EINVAL (no client and no
 *  context), or the client's creation error. Loop thread only. */
PIPE_EXTERN int pipe_s3_sink_new(pipe_pipeline_t* pl, const pipe_s3_sink_config_t* cfg,
                                 pipe_stage_t** out, pipe_error_t* err);

/** The receipt of an S3 sink (borrowed, valid until pipe_pipeline_free), or
 *  NULL when s is not one. */
PIPE_EXTERN const pipe_s3_receipt_t* pipe_s3_sink_receipt(const pipe_stage_t* s);

/** The bucket and key an S3 sink writes (borrowed), or NULL. */
PIPE_EXTERN const char* pipe_s3_sink_bucket(const pipe_stage_t* s);
PIPE_EXTERN const char* pipe_s3_sink_key(const pipe_stage_t* s);

/* ---- download source ----------------------------------------------------- */

typedef struct pipe_s3_source_config_s {
  const char* url;          /* s3://bucket/key (copied) */
  size_t part_size;         /* range size for parallel GETs; 0: 8 MiB */
  unsigned concurrency;     /* ranges in flight; 0: 4; 1: one streaming GET */
  pipe_s3_client_t* client; /* NULL: the client of pipe_pipeline_ctx(pl) */
} pipe_s3_source_config_t;

/** Adds an S3 download source. An object up to one part (or concurrency
 *  1) is one streaming GET whose transfer pauses while downstream is full
 *  (CURL_WRITEFUNC_PAUSE); a bigger one is fetched as `concurrency` ranged
 *  GETs into range buffers of a pool the stage owns, handed on in order. A
 *  transfer that fails midway is retried from the byte where it stopped.
 *  The byte count is checked against the object's length, and against its
 *  ETag when that is a plain MD5 (PIPE_EINTEGRITY). Returns as
 *  pipe_s3_sink_new. Loop thread only. */
PIPE_EXTERN int pipe_s3_source_new(pipe_pipeline_t* pl, const pipe_s3_source_config_t* cfg,
                                   pipe_stage_t** out, pipe_error_t* err);

/** The object's size once known (after its HEAD), else -1. */
PIPE_EXTERN int64_t pipe_s3_source_size(const pipe_stage_t* s);

/* ---- listing and cleanup ------------------------------------------------- */

/** One listed object or multipart upload (borrowed for the callback). */
typedef struct pipe_s3_entry_s {
  const char* key;
  uint64_t size;            /* objects */
  const char* last_modified; /* objects: "2026-12-02T19:00:00.000Z" */
  const char* etag;         /* objects, without quotes */
  const char* upload_id;    /* uploads */
  const char* initiated;    /* uploads */
  int aborted;              /* cleanup: 1 aborted, 0 kept (too young) */
} pipe_s3_entry_t;

typedef void (*pipe_s3_entry_cb)(void* data, const pipe_s3_entry_t* e);
/** status 0 or < 0 with err filled (borrowed for the callback). */
typedef void (*pipe_s3_done_cb)(void* data, int status, const pipe_error_t* err);

/** Lists s3://bucket/prefix (ListObjectsV2, every page): entry_cb per
 *  object, then done_cb once. Returns 0 (done_cb will run) or < 0. */
PIPE_EXTERN int pipe_s3_list(pipe_s3_client_t* c, const char* bucket, const char* prefix,
                             pipe_s3_entry_cb entry_cb, pipe_s3_done_cb done_cb,
                             void* data);

/** Lists the multipart uploads under s3://bucket/prefix and aborts those
 *  initiated more than older_than seconds ago (0: all): entry_cb per upload
 *  (aborted says which), then done_cb once (the first abort error, if
 *  any). Returns 0 (done_cb will run) or < 0. */
PIPE_EXTERN int pipe_s3_cleanup(pipe_s3_client_t* c, const char* bucket, const char* prefix,
                                double older_than, pipe_s3_entry_cb entry_cb,
                                pipe_s3_done_cb done_cb, void* data);

#ifdef __cplusplus
}
#endif
#endif /* PIPE_S3_H */
