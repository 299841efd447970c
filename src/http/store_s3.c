/* The S3 store (see store.h): `pipe serve --store s3://bucket/prefix`.
 *
 * An object KEY is s3://bucket/prefix/KEY. Writing is the library's S3
 * sink as the pipeline's last stage: one PutObject below the part size,
 * else a multipart upload, which the sink aborts (and waits for) whenever
 * the pipeline fails or is torn down (client gone, bad multipart body,
 * storage error), so no partial object is ever visible. The ETag in a
 * receipt is the one S3 returned.
 *
 * Everything else is asynchronous on the context's one S3 client:
 * removal (DeleteObject, for an object of a request that failed later),
 * reads (HeadObject for size and ETag, then one streaming ranged GET that
 * pauses while the client is slow), and readiness: /readyz answers from
 * the last HeadBucket, refreshed in the background when older than
 * READY_TTL_MS (a short retry budget, so an outage shows within seconds).
 *
 * The store owns its library context (pipe_ctx_t): the server creates its
 * pipelines in it, and close() closes the client when the server drained.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <uv.h>

#include "http/store.h"
#include "pipe/ctx.h"
#include "pipe/s3.h"
#include "s3/client.h"

#define READY_TTL_MS 2000
#define PROBE_ATTEMPTS 2
#define PROBE_TIMEOUT_S 3.0

typedef struct s3_store_s s3_store_t;

/* An asynchronous operation of the store (a removal or a read): linked in
 * the store so that close() can drop them (the client frees their
 * requests). */
typedef struct s3_op_s {
  s3_store_t* st;
  struct s3_op_s *prev, *next;
  pipe__s3_req_t* req;
  pipe_store_done_cb done;
  void* ud;
  int linked, is_read;
} s3_op_t;

struct pipe_store_read_s {
  s3_op_t op; /* first */
  const pipe_store_read_cbs_t* cbs;
  void* ud;
  char* key; /* the full S3 key */
  uint64_t size;
  int closed;
};

struct s3_store_s {
  pipe_store_t base; /* first */
  uv_loop_t* loop;
  pipe_ctx_t* ctx;
  char bucket[256];
  char* prefix; /* "" or ending in '/' */
  size_t part_size;
  unsigned concurrency;
  int closed;
  s3_op_t* ops;
  /* readiness */
  pipe__s3_req_t* probe;
  int ready_status; /* of the last probe; PIPE_EAGAIN before the first */
  uint64_t ready_ms;
};

static uint64_t now_ms(const s3_store_t* s) { return uv_now(s->loop); }

/* prefix + key, malloc'd. */
static char* full_key(const s3_store_t* s, const char* key) {
  size_t n = strlen(s->prefix) + strlen(key) + 1;
  char* p = malloc(n);
  if (p != NULL) snprintf(p, n, "%s%s", s->prefix, key);
  return p;
}

static void op_link(s3_store_t* s, s3_op_t* o) {
  o->st = s;
  o->linked = 1;
  o->prev = NULL;
  o->next = s->ops;
  if (s->ops != NULL) s->ops->prev = o;
  s->ops = o;
}

static void op_unlink(s3_op_t* o) {
  s3_store_t* s = o->st;
  if (!o->linked) return;
  o->linked = 0;
  if (o->prev != NULL) o->prev->next = o->next;
  else s->ops = o->next;
  if (o->next != NULL) o->next->prev = o->prev;
  o->prev = o->next = NULL;
}

static int client(s3_store_t* s, pipe_s3_client_t** c) {
  if (s->closed) return PIPE_ECANCELED;
  return pipe_ctx_s3(s->ctx, c, NULL);
}

/* ---- writing ------------------------------------------------------------- */

static int s3_add_sink(pipe_store_t* st, pipe_pipeline_t* pl, const char* key,
                       pipe_stage_t** out) {
  s3_store_t* s = (s3_store_t*)st;
  pipe_s3_sink_config_t kc;
  pipe_error_t err;
  size_t n = strlen(s->bucket) + strlen(s->prefix) + strlen(key) + 8;
  char* url = malloc(n);
  int r;
  if (url == NULL) return PIPE_ENOMEM;
  snprintf(url, n, "s3://%s/%s%s", s->bucket, s->prefix, key);
  memset(&kc, 0, sizeof(kc));
  memset(&err, 0, sizeof(err));
  kc.url = url;
  kc.part_size = s->part_size;
  kc.concurrency = s->concurrency;
  kc.size = -1;
  r = pipe_s3_sink_new(pl, &kc, out, &err); /* copies the URL */
  free(url);
  return r;
}

static size_t s3_sink_mem(pipe_store_t* st) {
  s3_store_t* s = (s3_store_t*)st;
  size_t part = s->part_size ? s->part_size : PIPE_S3_DEFAULT_PART_SIZE;
  unsigned conc = s->concurrency ? s->concurrency : PIPE_S3_DEFAULT_CONCURRENCY;
  return part * (conc + 1);
}

static int s3_sink_info(pipe_store_t* st, pipe_stage_t* sink,
                        pipe_store_info_t* info) {
  const pipe_s3_receipt_t* rc = pipe_s3_sink_receipt(sink);
  (void)st;
  if (rc == NULL) return PIPE_EINVAL;
  info->size = rc->bytes;
  snprintf(info->etag, sizeof(info->etag), "\"%.*s\"",
           (int)sizeof(info->etag) - 3, rc->etag);
  return 0;
}

static int s3_sink_leftover(pipe_store_t* st, pipe_stage_t* sink, char* msg,
                            size_t cap) {
  const pipe_s3_receipt_t* rc = pipe_s3_sink_receipt(sink);
  (void)st;
  if (rc == NULL || rc->leftover_upload[0] == '\0') return 0;
  snprintf(msg, cap,
           "the multipart upload %s could not be aborted: remove it with "
           "'pipe s3 cleanup s3://%s/%s' (%s)",
           rc->leftover_upload, pipe_s3_sink_bucket(sink), pipe_s3_sink_key(sink),
           rc->abort_error);
  return 1;
}

/* ---- removal ------------------------------------------------------------- */

static void remove_done(pipe__s3_req_t* r) {
  s3_op_t* o = r->data;
  int status = r->result;
  if (status == PIPE_ES3NOTFOUND) status = 0; /* gone already */
  op_unlink(o);
  pipe__s3_req_free(r);
  if (o->done != NULL) o->done(o->ud, status);
  free(o);
}

static int s3_remove_async(pipe_store_t* st, const char* key,
                           pipe_store_done_cb cb, void* ud) {
  s3_store_t* s = (s3_store_t*)st;
  pipe_s3_client_t* c;
  s3_op_t* o;
  char* k;
  int r = client(s, &c);
  if (r < 0) return r;
  o = calloc(1, sizeof(*o));
  k = full_key(s, key);
  if (o == NULL || k == NULL) {
    free(o);
    free(k);
    return PIPE_ENOMEM;
  }
  r = pipe__s3_req_new(c, "DELETE", s->bucket, k, NULL, &o->req);
  free(k);
  if (r < 0) {
    free(o);
    return r;
  }
  o->req->what = "delete object";
  o->req->on_done = remove_done;
  o->req->data = o;
  o->done = cb;
  o->ud = ud;
  r = pipe__s3_req_start(o->req);
  if (r < 0) {
    pipe__s3_req_free(o->req);
    free(o);
    return r;
  }
  op_link(s, o);
  return 0;
}

/* The synchronous remove: started, not waited for (the server uses
 * remove_async; this is for callers that cannot wait). */
static int s3_remove(pipe_store_t* st, const char* key) {
  return s3_remove_async(st, key, NULL, NULL);
}

/* The synchronous stat cannot be answered without waiting: the server
 * uses read_open and sink_info instead. */
static int s3_stat(pipe_store_t* st, const char* key, pipe_store_info_t* info) {
  (void)st;
  (void)key;
  (void)info;
  return PIPE_ENOTSUP;
}

static int s3_open_read(pipe_store_t* st, const char* key,
                        pipe_store_info_t* info) {
  return s3_stat(st, key, info);
}

/* ---- reading ------------------------------------------------------------- */

static void read_head_done(pipe__s3_req_t* r) {
  pipe_store_read_t* rd = r->data;
  pipe_store_info_t info;
  int status = r->result;
  pipe_error_t err = r->err;
  memset(&info, 0, sizeof(info));
  if (status == 0) {
    info.size = r->content_length >= 0 ? (uint64_t)r->content_length : 0;
    snprintf(info.etag, sizeof(info.etag), "\"%.*s\"",
             (int)sizeof(info.etag) - 3, r->etag);
    rd->size = info.size;
  } else if (status == PIPE_ES3NOTFOUND) {
    status = PIPE_ENOENT;
  }
  rd->op.req = NULL;
  pipe__s3_req_free(r);
  rd->cbs->on_info(rd->ud, status, &info, status < 0 ? &err : NULL);
}

static int read_data(pipe__s3_req_t* r, const char* p, size_t n) {
  pipe_store_read_t* rd = r->data;
  if (rd->closed) return PIPE_ECANCELED;
  return rd->cbs->on_data(rd->ud, p, n);
}

static void read_get_done(pipe__s3_req_t* r) {
  pipe_store_read_t* rd = r->data;
  int status = r->result;
  pipe_error_t err = r->err;
  rd->op.req = NULL;
  pipe__s3_req_free(r);
  rd->cbs->on_end(rd->ud, status, status < 0 ? &err : NULL);
}

static int s3_read_open(pipe_store_t* st, const char* key,
                        const pipe_store_read_cbs_t* cbs, void* ud,
                        pipe_store_read_t** out) {
  s3_store_t* s = (s3_store_t*)st;
  pipe_s3_client_t* c;
  pipe_store_read_t* rd;
  int r = client(s, &c);
  *out = NULL;
  if (r < 0) return r;
  rd = calloc(1, sizeof(*rd));
  if (rd == NULL) return PIPE_ENOMEM;
  rd->op.is_read = 1;
  rd->cbs = cbs;
  rd->ud = ud;
  rd->key = full_key(s, key);
  if (rd->key == NULL) {
    free(rd);
    return PIPE_ENOMEM;
  }
  r = pipe__s3_req_new(c, "HEAD", s->bucket, rd->key, NULL, &rd->op.req);
  if (r < 0) goto fail;
  rd->op.req->what = "head object";
  rd->op.req->on_done = read_head_done;
  rd->op.req->data = rd;
  r = pipe__s3_req_start(rd->op.req);
  if (r < 0) goto fail;
  op_link(s, &rd->op);
  *out = rd;
  return 0;
fail:
  pipe__s3_req_free(rd->op.req);
  free(rd->key);
  free(rd);
  return r;
}

static int s3_read_range(pipe_store_read_t* rd, uint64_t from, uint64_t len) {
  s3_store_t* s = rd->op.st;
  pipe_s3_client_t* c;
  int r = client(s, &c);
  if (r < 0) return r;
  if (rd->op.req != NULL || len == 0) return PIPE_EINVAL;
  r = pipe__s3_req_new(c, "GET", s->bucket, rd->key, NULL, &rd->op.req);
  if (r < 0) return r;
  rd->op.req->what = "get object";
  rd->op.req->range_start = (int64_t)from;
  rd->op.req->range_end = (int64_t)(from + len - 1);
  rd->op.req->on_data = read_data;
  rd->op.req->on_done = read_get_done;
  rd->op.req->data = rd;
  r = pipe__s3_req_start(rd->op.req);
  if (r < 0) {
    pipe__s3_req_free(rd->op.req);
    rd->op.req = NULL;
  }
  return r;
}

static void s3_read_resume(pipe_store_read_t* rd) {
  if (rd->op.req != NULL && !rd->op.st->closed) pipe__s3_req_resume(rd->op.req);
}

static void s3_read_close(pipe_store_read_t* rd) {
  if (rd == NULL) return;
  if (!rd->op.st->closed) pipe__s3_req_free(rd->op.req);
  op_unlink(&rd->op);
  free(rd->key);
  free(rd);
}

/* ---- readiness ----------------------------------------------------------- */

static void probe_done(pipe__s3_req_t* r) {
  s3_store_t* s = r->data;
  s->ready_status = r->result;
  s->ready_ms = now_ms(s);
  s->probe = NULL;
  pipe__s3_req_free(r);
}

static void probe_start(s3_store_t* s) {
  pipe_s3_client_t* c;
  pipe__s3_req_t* r;
  if (s->probe != NULL || client(s, &c) < 0) return;
  if (pipe__s3_req_new(c, "HEAD", s->bucket, "", NULL, &r) < 0) return;
  r->what = "head bucket";
  r->max_attempts = PROBE_ATTEMPTS;
  r->retry_timeout = PROBE_TIMEOUT_S;
  r->on_done = probe_done;
  r->data = s;
  if (pipe__s3_req_start(r) < 0) {
    s->ready_status = r->result < 0 ? r->result : PIPE_ENOCREDS;
    s->ready_ms = now_ms(s);
    pipe__s3_req_free(r);
    return;
  }
  s->probe = r;
}

/* The last probe's answer (PIPE_EAGAIN before the first has come back);
 * starts a new probe when it is older than READY_TTL_MS. */
static int s3_ready(pipe_store_t* st) {
  s3_store_t* s = (s3_store_t*)st;
  if (s->closed) return PIPE_ECANCELED;
  if (s->ready_ms == 0 || now_ms(s) - s->ready_ms >= READY_TTL_MS) probe_start(s);
  return s->ready_status;
}

/* ---- life ---------------------------------------------------------------- */

static pipe_ctx_t* s3_ctx(pipe_store_t* st) { return ((s3_store_t*)st)->ctx; }

static void s3_close(pipe_store_t* st) {
  s3_store_t* s = (s3_store_t*)st;
  if (s->closed) return;
  s->closed = 1;
  /* The client cancels and frees every request still live (the probe,
   * removals, reads): forget them. */
  s->probe = NULL;
  while (s->ops != NULL) {
    s3_op_t* o = s->ops;
    op_unlink(o);
    o->req = NULL;
    /* Removals are ours to free; a read belongs to its reader, which still
     * calls read_close (then unlinked: a no-op). */
    if (!o->is_read) free(o);
  }
  pipe_ctx_close(s->ctx, NULL, NULL);
}

/* After close() and the loop has run (the client's handles closed), or on
 * a store that never made a request. */
static void s3_free(pipe_store_t* st) {
  s3_store_t* s = (s3_store_t*)st;
  if (s == NULL) return;
  pipe_ctx_free(s->ctx);
  free(s->prefix);
  free(s);
}

static const pipe_store_ops_t s3_ops = {
    .name = "s3",
    .add_sink = s3_add_sink,
    .stat = s3_stat,
    .open_read = s3_open_read,
    .remove = s3_remove,
    .ready = s3_ready,
    .free = s3_free,
    .ctx = s3_ctx,
    .sink_mem = s3_sink_mem,
    .sink_info = s3_sink_info,
    .sink_leftover = s3_sink_leftover,
    .remove_async = s3_remove_async,
    .read_open = s3_read_open,
    .read_range = s3_read_range,
    .read_resume = s3_read_resume,
    .read_close = s3_read_close,
    .close = s3_close,
};

int pipe__store_s3_new(uv_loop_t* loop, const char* url,
                       const pipe_s3_options_t* opt, size_t part_size,
                       unsigned concurrency, pipe_store_t** out,
                       pipe_error_t* err) {
  s3_store_t* s;
  pipe_s3_config_t cfg;
  pipe_error_t e;
  const char* prefix;
  size_t n;
  int r;
  *out = NULL;
  memset(&e, 0, sizeof(e));
  memset(&cfg, 0, sizeof(cfg));
  s = calloc(1, sizeof(*s));
  if (s == NULL) return PIPE_ENOMEM;
  s->base.ops = &s3_ops;
  s->loop = loop;
  s->part_size = part_size;
  s->concurrency = concurrency;
  s->ready_status = PIPE_EAGAIN;
  r = pipe_s3_url_parse(url, s->bucket, sizeof(s->bucket), &prefix, 1);
  if (r < 0) {
    e.code = r;
    snprintf(e.msg, sizeof(e.msg), "--store wants s3://bucket[/prefix], got %s", url);
    goto fail;
  }
  while (*prefix == '/') prefix++;
  n = strlen(prefix);
  s->prefix = malloc(n + 2);
  if (s->prefix == NULL) {
    r = PIPE_ENOMEM;
    goto fail;
  }
  memcpy(s->prefix, prefix, n + 1);
  while (n > 0 && s->prefix[n - 1] == '/') s->prefix[--n] = '\0';
  if (n > 0) memcpy(s->prefix + n, "/", 2);
  r = pipe_ctx_new(loop, &s->ctx);
  if (r < 0) goto fail;
  r = pipe_s3_config_load(&cfg, opt, NULL, NULL, &e);
  if (r < 0) goto fail;
  r = pipe_ctx_set_s3_config(s->ctx, &cfg);
  pipe_s3_config_free(&cfg);
  if (r < 0) goto fail;
  pipe_ctx_set_s3_transfer(s->ctx, part_size, concurrency);
  /* The client now: a bad endpoint is an error at start, not per request. */
  r = pipe_ctx_s3(s->ctx, &(pipe_s3_client_t*){NULL}, &e);
  if (r < 0) goto fail;
  *out = &s->base;
  return 0;
fail:
  if (err != NULL) {
    *err = e;
    err->code = r;
    if (err->msg[0] == '\0') snprintf(err->msg, sizeof(err->msg), "%s", pipe_strerror(r));
  }
  s->closed = 1;
  if (s->ctx != NULL) pipe_ctx_close(s->ctx, NULL, NULL);
  free(s->prefix);
  s->prefix = NULL;
  /* The context's handles close on the loop: the caller runs it once more
   * before freeing (as for a failed bind); free what is ours now. */
  *out = &s->base;
  return r;
}
