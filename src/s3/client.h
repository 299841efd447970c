/* Internal S3 request API of the client (src/s3/client.c), used by the
 * S3 stages and the listing and cleanup operations.
 *
 * A request is one S3 operation with its own retry loop: the client signs
 * each attempt afresh, sends it, classifies the outcome (success, a
 * transient failure retried after a backoff, or a final error) and calls
 * on_done once with r->result set. Loop thread only. */
#ifndef PIPE_S3_CLIENT_H
#define PIPE_S3_CLIENT_H

#include <stddef.h>
#include <stdint.h>
#include <uv.h>

#include "pipe/s3.h"

typedef struct pipe__s3_req_s pipe__s3_req_t;

/** The request finished: r->result is 0 or a PIPE_E* with r->err filled.
 *  The callback owns r from here (free it with pipe__s3_req_free, possibly
 *  later). */
typedef void (*pipe__s3_done_cb)(pipe__s3_req_t* r);

/** Body bytes of a 2xx GET. Returns 0 having consumed all n bytes,
 *  PIPE_FULL having consumed none (the transfer pauses until
 *  pipe__s3_req_resume), or < 0 to fail the request (not retried). */
typedef int (*pipe__s3_data_cb)(pipe__s3_req_t* r, const char* p, size_t n);

struct pipe__s3_req_s {
  /* Set by pipe__s3_req_new / the caller before start. */
  const char* method;          /* "GET", "PUT", "POST", "DELETE", "HEAD" */
  char* bucket;                /* owned */
  char* key;                   /* owned, raw (not encoded); "" for the bucket */
  char* query;                 /* owned, encoded, or NULL */
  const uint8_t* body;         /* borrowed until on_done */
  size_t body_len;
  int body_fd;                 /* >= 0: the body is body_len bytes of this file
                                  from body_fd_off (pread when sent); -1 */
  int64_t body_fd_off;
  char content_md5[32];        /* base64, "" for none */
  const char* content_type;    /* or NULL */
  const char* if_match;        /* an ETag (without quotes) the object must still
                                  have (If-Match), or NULL; borrowed */
  int64_t range_start;         /* -1: no Range */
  int64_t range_end;           /* inclusive; -1: to the end */
  pipe__s3_data_cb on_data;    /* NULL: the body is collected into resp */
  pipe__s3_done_cb on_done;
  void* data;                  /* the caller's */
  int body_error_check;        /* a 200 whose body is <Error> fails (Complete) */
  int max_attempts;            /* 0: the client's */
  double retry_timeout;        /* 0: the client's */
  const char* what;            /* "upload part 3", for messages; static or owned by caller */
  /* Outcome. */
  int result;
  pipe_error_t err;
  long status;                 /* HTTP status of the last attempt */
  char etag[128];              /* without quotes */
  int64_t content_length;      /* of the last response, -1 unknown */
  int64_t total_size;          /* from Content-Range ".../N", or Content-Length of a 200 */
  char request_id[64];
  int etag_not_md5;            /* x-amz-server-side-encryption: aws:kms (or
                                  SSE-C): the ETag is not the MD5 of the data */
  char* resp;                  /* collected body (NUL-terminated) */
  size_t resp_len, resp_cap;
  int64_t received;            /* body bytes given to on_data, over every attempt */
  int attempts;
  /* The client's. */
  pipe_s3_client_t* c;
  void* easy;
  struct curl_slist* hdrs;
  uv_timer_t timer;            /* backoff */
  size_t body_off;
  uint64_t started_ms;
  int64_t attempt_received;    /* received at the start of this attempt */
  int paused, in_multi, waiting, freed, pend;
  pipe__s3_req_t* pend_next;   /* the client's attempts waiting to start */
  pipe__s3_req_t* next;        /* the client's list of live requests */
  pipe__s3_req_t* prev;
};

/** A new request (bucket and key copied; query copied, may be NULL).
 *  Returns 0 and *out or PIPE_ENOMEM. */
int pipe__s3_req_new(pipe_s3_client_t* c, const char* method, const char* bucket,
                     const char* key, const char* query, pipe__s3_req_t** out);

/** Starts the first attempt. Returns 0 (on_done will run) or
 *  PIPE_ENOCREDS / PIPE_ECANCELED (client closing) with r->err filled. */
int pipe__s3_req_start(pipe__s3_req_t* r);

/** Continues a transfer paused by on_data's PIPE_FULL. */
void pipe__s3_req_resume(pipe__s3_req_t* r);

/** Cancels r if it is still running (on_done will not run) and frees it
 *  (its memory goes once its timer has closed). NULL is fine. */
void pipe__s3_req_free(pipe__s3_req_t* r);

/** The client's configuration. */
const pipe_s3_config_t* pipe__s3_client_config(const pipe_s3_client_t* c);

/** "s3://bucket/key" into out. */
void pipe__s3_url(const pipe__s3_req_t* r, char* out, size_t cap);

/** The client a stage uses: `given`, else that of pipe_pipeline_ctx(pl)
 *  (created on first use). Returns 0 or PIPE_EINVAL (neither) / the
 *  context's error, with err filled. */
int pipe__s3_stage_client(pipe_pipeline_t* pl, pipe_s3_client_t* given,
                          pipe_s3_client_t** out, pipe_error_t* err);

/** The size of part `num` (1-based) of an upload with parts of `base`:
 *  with the total size known (size_hint > 0) every part is
 *  max(base, size_hint / 10000 rounded up to a MiB); for a stream of
 *  unknown size (size_hint <= 0) base << ((num - 1) / 900), at most 5 GiB,
 *  so that 10,000 parts of 5 MiB and up hold more than 5 TiB. */
size_t pipe__s3_part_size(size_t base, int64_t size_hint, unsigned num);

/* ---- small helpers (src/s3/util.c) ---- */

/** Finds <tag>...</tag> in xml from *pos; copies the content, with XML
 *  entities decoded, into out (cap bytes, truncated) and moves *pos past
 *  it. Returns 1 when found, 0 when not. */
int pipe__s3_xml_get(const char* xml, size_t len, size_t* pos, const char* tag,
                     char* out, size_t cap);

/** The slice between <tag> and </tag> from *pos: *start and *end; moves
 *  *pos past it. Returns 1 or 0. */
int pipe__s3_xml_span(const char* xml, size_t len, size_t* pos, const char* tag,
                      size_t* start, size_t* end);

/** Escapes s for XML text into out. */
void pipe__s3_xml_escape(const char* s, char* out, size_t cap);

/** Base64 of p[0, n) into out (NUL-terminated). */
void pipe__s3_base64(const uint8_t* p, size_t n, char* out, size_t cap);

/** Lowercase hex. out has 2n+1 bytes. */
void pipe__s3_hex(const uint8_t* p, size_t n, char* out);

/** "2026-12-02T19:00:00.000Z" -> seconds since the epoch, -1 if bad. */
int64_t pipe__s3_parse_time(const char* iso);

#endif
