/* S3 download source: one streaming GET, or ranged GETs in parallel.
 *
 * The object's size and ETag come first (HeadObject). Up to one part, or
 * with concurrency 1, the object is one GET streamed into the stage's own
 * output pool: curl hands us up to 16 KiB at a time, we copy it into a
 * pooled buffer and push full buffers on. When downstream answers FULL, or
 * the pool is empty, the write callback returns CURL_WRITEFUNC_PAUSE
 * without consuming anything, and resume() continues the transfer
 * (curl_easy_pause): a slow sink slows the download, nothing piles up.
 *
 * A bigger object is fetched as ranges of part_size, `concurrency` at a
 * time, each into one chunk of a pool the stage owns (part size x
 * (concurrency + 1)); finished ranges are handed on strictly in order, as
 * one buffer each. A new range starts only when a chunk is free, so a
 * slow sink (holding chunks) also throttles the download.
 *
 * Retries belong to the client, which resumes a GET that failed midway from
 * the byte where it stopped (Range). At the end the byte count must equal
 * the size HeadObject announced, and when the ETag is a plain MD5 (not
 * multipart "-N", not SSE-KMS) the MD5 of the bytes handed on must match
 * it: PIPE_EINTEGRITY otherwise.
 */
#include <openssl/evp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "pipe/pipeline.h"
#include "pipe/s3.h"
#include "s3/client.h"

typedef struct s3_source_s s3_source_t;

typedef struct range_s {
  struct range_s* next;
  s3_source_t* src;
  pipe_buf_t* buf;
  int64_t start, end; /* inclusive */
  int done;
  pipe__s3_req_t* req;
} range_t;

struct s3_source_s {
  pipe_stage_t stage; /* first */
  pipe_s3_client_t* c;
  char bucket[256];
  char key[1100];
  size_t part;
  unsigned conc;
  int64_t size;
  char etag[128];
  int check_md5;
  EVP_MD_CTX* md5;
  uint64_t pushed;
  pipe__s3_req_t* head;
  pipe__s3_req_t* get;  /* single mode */
  pipe_buf_t* out;      /* single mode: buffer being filled */
  int ranged;
  pipe_pool_t* rpool;
  range_t* rhead;
  range_t* rtail;
  int64_t next_start;
  unsigned inflight;
  int blocked;          /* downstream answered FULL */
  int finished;
};

static void url_of(const s3_source_t* k, char* out, size_t cap) {
  snprintf(out, cap, "s3://%s/%s", k->bucket, k->key);
}

/* Pushes b (takes it) and notes a FULL. Returns < 0 when failing. */
static int push(s3_source_t* k, pipe_buf_t* b) {
  int rc;
  if (k->check_md5) EVP_DigestUpdate(k->md5, pipe_buf_data(b), b->len);
  k->pushed += b->len;
  rc = pipe_stage_push(&k->stage, b);
  if (rc == PIPE_FULL) k->blocked = 1;
  return rc < 0 ? rc : 0;
}

/* Every byte is out: check count and MD5, then end. */
static void finish(s3_source_t* k) {
  char url[1400];
  if (k->finished) return;
  k->finished = 1;
  url_of(k, url, sizeof(url));
  if ((int64_t)k->pushed != k->size) {
    pipe_stage_fail(&k->stage, PIPE_EINTEGRITY,
                    "%s: received %llu bytes, the object has %lld", url,
                    (unsigned long long)k->pushed, (long long)k->size);
    return;
  }
  if (k->check_md5) {
    uint8_t d[16];
    unsigned int dl = 16;
    char hex[33];
    EVP_DigestFinal_ex(k->md5, d, &dl);
    pipe__s3_hex(d, 16, hex);
    if (strcasecmp(hex, k->etag) != 0) {
      pipe_stage_fail(&k->stage, PIPE_EINTEGRITY,
                      "%s: the MD5 of the bytes received (%s) differs from "
                      "the object's ETag (%s)", url, hex, k->etag);
      return;
    }
  }
  pipe_stage_end(&k->stage);
}

/* ---- single streaming GET --------------------------------------------- */

static int single_data(pipe__s3_req_t* r, const char* p, size_t n) {
  s3_source_t* k = r->data;
  size_t room;
  if (pipe_stage_stopping(&k->stage)) return PIPE_ECANCELED;
  if (k->blocked) return PIPE_FULL;
  room = k->out ? pipe_buf_room(k->out) : 0;
  if (room < n) {
    pipe_pool_stats_t st = pipe_pool_stats(k->stage.pool);
    if (st.out >= st.limit) { /* nowhere for the rest: consume nothing */
      pipe_stage_wait_pool(&k->stage, k->stage.pool);
      return PIPE_FULL;
    }
  }
  while (n > 0) {
    size_t m;
    if (k->out == NULL) {
      k->out = pipe_pool_acquire(k->stage.pool);
      if (k->out == NULL) return PIPE_ENOMEM; /* checked above: cannot happen */
    }
    m = pipe_buf_room(k->out);
    if (m > n) m = n;
    memcpy(pipe_buf_tail(k->out), p, m);
    k->out->len += m;
    p += m;
    n -= m;
    if (pipe_buf_room(k->out) == 0) {
      pipe_buf_t* b = k->out;
      k->out = NULL;
      if (push(k, b) < 0) return PIPE_ECANCELED;
    }
  }
  return 0;
}

static void single_done(pipe__s3_req_t* r) {
  s3_source_t* k = r->data;
  k->get = NULL;
  if (r->result < 0) {
    pipe_stage_fail_with(&k->stage, &r->err);
    pipe__s3_req_free(r);
    return;
  }
  if (k->size < 0) k->size = r->total_size >= 0 ? r->total_size : r->received;
  pipe__s3_req_free(r);
  if (k->out != NULL) {
    pipe_buf_t* b = k->out;
    k->out = NULL;
    if (b->len > 0) {
      if (push(k, b) < 0) return;
    } else {
      pipe_buf_unref(b);
    }
  }
  finish(k);
}

static int start_single(s3_source_t* k) {
  pipe__s3_req_t* r;
  int rc = pipe__s3_req_new(k->c, "GET", k->bucket, k->key, NULL, &r);
  if (rc < 0) return rc;
  r->what = "get object";
  r->if_match = k->etag; /* "" before HEAD answered (its 404 path) */
  r->on_data = single_data;
  r->on_done = single_done;
  r->data = k;
  k->get = r;
  if (pipe__s3_req_start(r) < 0) {
    k->get = NULL;
    rc = r->result;
    pipe_stage_fail_with(&k->stage, &r->err);
    pipe__s3_req_free(r);
    return rc;
  }
  return 0;
}

/* ---- ranged GETs --------------------------------------------------------- */

static void fill(s3_source_t* k);

static int range_data(pipe__s3_req_t* r, const char* p, size_t n) {
  range_t* g = r->data;
  if ((int64_t)(g->buf->len + n) > g->end - g->start + 1 || pipe_buf_room(g->buf) < n)
    return PIPE_EINTEGRITY; /* more than asked for */
  memcpy(pipe_buf_tail(g->buf), p, n);
  g->buf->len += n;
  return 0;
}

static void push_ready(s3_source_t* k) {
  while (!k->blocked && k->rhead != NULL && k->rhead->done) {
    range_t* g = k->rhead;
    pipe_buf_t* b = g->buf;
    k->rhead = g->next;
    if (k->rhead == NULL) k->rtail = NULL;
    free(g);
    if (push(k, b) < 0) return;
  }
  if (pipe_stage_stopping(&k->stage)) return;
  fill(k);
  if (k->rhead == NULL && k->next_start >= k->size) finish(k);
}

static void range_done(pipe__s3_req_t* r) {
  range_t* g = r->data;
  s3_source_t* k = g->src;
  g->req = NULL;
  k->inflight--;
  if (r->result < 0) {
    pipe_stage_fail_with(&k->stage, &r->err);
    pipe__s3_req_free(r);
    return;
  }
  pipe__s3_req_free(r);
  if ((int64_t)g->buf->len != g->end - g->start + 1) {
    char url[1400];
    url_of(k, url, sizeof(url));
    pipe_stage_fail(&k->stage, PIPE_EINTEGRITY, "%s: bytes %lld-%lld came back "
                    "with %zu bytes", url, (long long)g->start, (long long)g->end,
                    g->buf->len);
    return;
  }
  g->done = 1;
  push_ready(k);
}

static void fill(s3_source_t* k) {
  while (k->inflight < k->conc && k->next_start < k->size) {
    range_t* g;
    pipe__s3_req_t* r;
    pipe_buf_t* b = pipe_pool_acquire(k->rpool);
    if (b == NULL) {
      pipe_stage_wait_pool(&k->stage, k->rpool);
      return;
    }
    g = calloc(1, sizeof(*g));
    if (g == NULL || pipe__s3_req_new(k->c, "GET", k->bucket, k->key, NULL, &r) < 0) {
      free(g);
      pipe_buf_unref(b);
      pipe_stage_fail(&k->stage, PIPE_ENOMEM, NULL);
      return;
    }
    g->src = k;
    g->buf = b;
    g->start = k->next_start;
    g->end = g->start + (int64_t)k->part - 1;
    if (g->end >= k->size) g->end = k->size - 1;
    k->next_start = g->end + 1;
    if (k->rtail != NULL) k->rtail->next = g;
    else k->rhead = g;
    k->rtail = g;
    r->what = "get object range";
    /* Every range from the same version: a changed object fails (412)
     * instead of mixing two versions. */
    r->if_match = k->etag;
    r->range_start = g->start;
    r->range_end = g->end;
    r->on_data = range_data;
    r->on_done = range_done;
    r->data = g;
    g->req = r;
    k->inflight++;
    if (pipe__s3_req_start(r) < 0) {
      g->req = NULL;
      k->inflight--;
      pipe_stage_fail_with(&k->stage, &r->err);
      pipe__s3_req_free(r);
      return;
    }
  }
}

/* ---- stage --------------------------------------------------------------- */

static void head_done(pipe__s3_req_t* r) {
  s3_source_t* k = r->data;
  int rc;
  k->head = NULL;
  if (r->result < 0) {
    /* A HEAD answer has no body, so no S3 code: ask with a GET, whose
     * error says NoSuchBucket or NoSuchKey. */
    if (r->status == 404 || r->status == 403) {
      pipe__s3_req_free(r);
      rc = start_single(k);
      if (rc < 0 && !pipe_stage_stopping(&k->stage)) pipe_stage_fail(&k->stage, rc, NULL);
      return;
    }
    pipe_stage_fail_with(&k->stage, &r->err);
    pipe__s3_req_free(r);
    return;
  }
  k->size = r->content_length;
  snprintf(k->etag, sizeof(k->etag), "%s", r->etag);
  k->check_md5 = !r->etag_not_md5 && strlen(k->etag) == 32 &&
                 strspn(k->etag, "0123456789abcdefABCDEF") == 32;
  pipe__s3_req_free(r);
  if (k->check_md5) EVP_DigestInit_ex(k->md5, EVP_md5(), NULL);
  if (k->size < 0 || k->size <= (int64_t)k->part || k->conc <= 1) {
    rc = start_single(k);
    if (rc < 0 && !pipe_stage_stopping(&k->stage)) pipe_stage_fail(&k->stage, rc, NULL);
    return;
  }
  k->ranged = 1;
  rc = pipe_stage_pool_new(&k->stage, k->part, k->conc + 1, &k->rpool);
  if (rc < 0) {
    pipe_stage_fail(&k->stage, rc, NULL);
    return;
  }
  fill(k);
}

static int s3_source_start(pipe_stage_t* s) {
  s3_source_t* k = (s3_source_t*)s;
  pipe__s3_req_t* r;
  int rc = pipe__s3_req_new(k->c, "HEAD", k->bucket, k->key, NULL, &r);
  if (rc < 0) return rc;
  r->what = "head object";
  r->on_done = head_done;
  r->data = k;
  k->head = r;
  if (pipe__s3_req_start(r) < 0) {
    k->head = NULL;
    pipe_stage_fail_with(s, &r->err);
    rc = r->result;
    pipe__s3_req_free(r);
    return rc;
  }
  return 0;
}

static void s3_source_resume(pipe_stage_t* s) {
  s3_source_t* k = (s3_source_t*)s;
  k->blocked = 0;
  if (k->ranged) {
    push_ready(k);
    return;
  }
  if (k->get != NULL) pipe__s3_req_resume(k->get);
}

static void s3_source_destroy(pipe_stage_t* s, int status) {
  s3_source_t* k = (s3_source_t*)s;
  (void)status;
  pipe__s3_req_free(k->head);
  k->head = NULL;
  pipe__s3_req_free(k->get);
  k->get = NULL;
  pipe_buf_unref(k->out);
  k->out = NULL;
  while (k->rhead != NULL) {
    range_t* g = k->rhead;
    k->rhead = g->next;
    pipe__s3_req_free(g->req);
    pipe_buf_unref(g->buf);
    free(g);
  }
  k->rtail = NULL;
  EVP_MD_CTX_free(k->md5);
  k->md5 = NULL;
}

static const pipe_stage_ops_t s3_source_ops = {
    .name = "s3_source",
    .size = sizeof(s3_source_t),
    .start = s3_source_start,
    .resume = s3_source_resume,
    .destroy = s3_source_destroy,
};

int pipe_s3_source_new(pipe_pipeline_t* pl, const pipe_s3_source_config_t* cfg,
                       pipe_stage_t** out, pipe_error_t* err) {
  pipe_stage_t* s;
  s3_source_t* k;
  pipe_s3_client_t* c;
  const char* key;
  char bucket[256];
  int r;
  if (out != NULL) *out = NULL;
  if (cfg == NULL || pipe_s3_url_parse(cfg->url, bucket, sizeof(bucket), &key, 0) < 0) {
    if (err) pipe_error_set(err, PIPE_EUSAGE, "an S3 source must look like "
                            "s3://bucket/key, got '%s'", cfg && cfg->url ? cfg->url : "");
    return PIPE_EUSAGE;
  }
  if (strlen(key) > 1024) {
    if (err) pipe_error_set(err, PIPE_EUSAGE, "S3 keys are at most 1024 bytes");
    return PIPE_EUSAGE;
  }
  if (cfg->part_size != 0 && cfg->part_size < 64 * 1024) {
    if (err) pipe_error_set(err, PIPE_EUSAGE, "range size must be at least 64 KiB");
    return PIPE_EUSAGE;
  }
  r = pipe__s3_stage_client(pl, cfg->client, &c, err);
  if (r < 0) return r;
  r = pipe_stage_new(pl, &s3_source_ops, &s);
  if (r < 0) return r;
  k = (s3_source_t*)s;
  k->c = c;
  snprintf(k->bucket, sizeof(k->bucket), "%s", bucket);
  snprintf(k->key, sizeof(k->key), "%s", key);
  k->part = cfg->part_size ? cfg->part_size : PIPE_S3_DEFAULT_PART_SIZE;
  k->conc = cfg->concurrency ? cfg->concurrency : PIPE_S3_DEFAULT_CONCURRENCY;
  k->size = -1;
  k->md5 = EVP_MD_CTX_new();
  if (k->md5 == NULL) return PIPE_ENOMEM;
  if (out != NULL) *out = s;
  return 0;
}

int64_t pipe_s3_source_size(const pipe_stage_t* s) {
  if (s == NULL || s->ops != &s3_source_ops) return -1;
  return ((const s3_source_t*)s)->size;
}
