/* S3 upload sink: PutObject for small objects, multipart upload otherwise.
 *
 * Buffers. Upstream bytes are copied into part buffers from a pool the
 * stage owns (pipe_stage_pool_new: part size x (concurrency + 1)), and the
 * upstream buffer is released at once. Holding upstream's chunks instead
 * would starve the stage above while a part fills (gzip's whole output
 * pool is about 1 MiB; a part is 8). While copying, the part's MD5 (its
 * Content-MD5, and its expected ETag) and the whole object's SHA-256 (the
 * receipt) are updated: every byte is hashed once per algorithm, and no
 * SHA-256 of the payload is needed for SigV4 (UNSIGNED-PAYLOAD).
 *
 * PutObject or multipart. A full part buffer is only sent once a byte
 * beyond it arrives: an object of at most one part, known at end(), goes
 * as one PutObject; the first byte of part 2 starts the multipart upload
 * (CreateMultipartUpload), and parts wait in `queue` until it has an id and
 * a slot is free (at most `conc` in flight).
 *
 * Flow. write() answers PIPE_FULL when every part buffer is taken (in
 * flight or queued) and the one being filled is full: the next byte would
 * have nowhere to go. A part finishing returns its buffer to the pool,
 * whose waiter schedules resume(), which drains upstream. An upstream
 * buffer bigger than what is free is kept (`leftover`, the only upstream
 * buffer ever held) until a part buffer comes back.
 *
 * Part sizes. With the size known in advance (a file) every part is
 * max(part_size, size / 10000) rounded up to a MiB. Otherwise part n has
 * part_size << ((n - 1) / 900): parts of 5 MiB and up reach 5 TiB within
 * 10,000 parts; the pool is replaced by one of bigger chunks at each step.
 *
 * Teardown. destroy() with an error (any stage's failure, an abort, a
 * signal) cancels the part uploads and sends AbortMultipartUpload at once,
 * retried within a short budget; the stage holds the pipeline open until
 * it is answered. If it fails, the receipt names the upload id. A Create
 * still in flight is waited for, so that its upload is aborted too.
 */
#include <errno.h>
#include <fcntl.h>
#include <openssl/evp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <unistd.h>

#include "codec/sigv4.h"
#include "pipe/pipeline.h"
#include "pipe/s3.h"
#include "s3/client.h"

#define MIB (1024u * 1024u)
#define ABORT_BUDGET_S 15.0

typedef struct s3_sink_s s3_sink_t;

/* A filled part: waiting in the queue, then in flight with req. */
typedef struct part_s {
  struct part_s* next;
  s3_sink_t* sink;
  pipe_buf_t* buf;   /* NULL in file mode */
  int64_t off;       /* file mode: where the part starts in the file */
  size_t len;        /* file mode: its length */
  unsigned num;
  pipe__s3_req_t* req;
} part_t;

struct s3_sink_s {
  pipe_stage_t stage; /* first */
  pipe_s3_client_t* c;
  char bucket[256];
  char key[1100];     /* S3 keys are at most 1024 bytes */
  size_t base_part;   /* configured part size */
  size_t chunk;       /* chunk size of `pool` */
  unsigned conc;
  int64_t size_hint;  /* -1 unknown */
  pipe_pool_t* pool;
  pipe_buf_t* cur;    /* part being filled, or NULL */
  size_t cur_target;  /* its size when full */
  pipe_buf_t* leftover;
  EVP_MD_CTX* md5;    /* of cur */
  EVP_MD_CTX* sha;    /* of everything */
  uint8_t (*md5s)[16]; /* per part number - 1 */
  size_t md5s_cap;
  unsigned nparts;    /* parts numbered so far */
  part_t* qhead;
  part_t* qtail;
  part_t* flight;     /* in flight, linked by next */
  unsigned inflight;
  int multipart, ended_in, finishing, completed, full, dead;
  pipe__s3_req_t* create_req;
  pipe__s3_req_t* complete_req;
  pipe__s3_req_t* put_req;
  pipe__s3_req_t* abort_req;
  char* complete_body;
  char expect_etag[80];
  char upload_id_copy[256]; /* the upload being aborted */
  char what[64];
  pipe_s3_receipt_t receipt;
  /* File mode (cfg->reread_path): parts are not copied but read from the
   * file when sent; `vlen` bytes hashed into the current part so far. */
  char* path;
  int fd;
  int vcur;          /* a current part exists (file mode) */
  size_t vlen;
  int64_t fpos;      /* bytes of the file seen */
};

static void s3_sink_resume(pipe_stage_t* s);

/* Copies a string, cut to cap (messages). */
static void scopy(char* dst, size_t cap, const char* src) {
  size_t n = strlen(src);
  if (n >= cap) n = cap - 1;
  memcpy(dst, src, n);
  dst[n] = '\0';
}

/* ---- errors ---------------------------------------------------------- */

static void fail_req(s3_sink_t* k, const pipe__s3_req_t* r) {
  pipe_stage_fail_with(&k->stage, &r->err);
}

static void fail_integrity(s3_sink_t* k, const char* fmt, const char* a,
                           const char* b) {
  char url[1400];
  snprintf(url, sizeof(url), "s3://%s/%s", k->bucket, k->key);
  pipe_stage_fail(&k->stage, PIPE_EINTEGRITY, "%s: %s %s %s", url, fmt, a, b);
}

/* ---- part sizes ------------------------------------------------------ */

size_t pipe__s3_part_size(size_t base, int64_t size_hint, unsigned num) {
  if (size_hint > 0) {
    uint64_t need = ((uint64_t)size_hint + PIPE_S3_MAX_PARTS - 1) / PIPE_S3_MAX_PARTS;
    need = (need + MIB - 1) / MIB * MIB;
    return need > base ? (size_t)need : base;
  } else {
    uint64_t p = (uint64_t)base << ((num - 1) / 900);
    if (p > PIPE_S3_MAX_PART_SIZE) p = PIPE_S3_MAX_PART_SIZE;
    return (size_t)p;
  }
}

static size_t part_size_for(const s3_sink_t* k, unsigned num) {
  return pipe__s3_part_size(k->base_part, k->size_hint, num);
}

/* Makes sure `pool` gives chunks of at least `size`. */
static int ensure_pool(s3_sink_t* k, size_t size) {
  pipe_pool_t* np;
  int r;
  if (k->pool != NULL && k->chunk >= size) return 0;
  r = pipe_stage_pool_new(&k->stage, size, k->conc + 1, &np);
  if (r < 0) return r;
  if (k->pool != NULL) pipe_stage_pool_free(&k->stage, k->pool);
  k->pool = np;
  k->chunk = size;
  return 0;
}

/* ---- requests -------------------------------------------------------- */

static int start_req(s3_sink_t* k, pipe__s3_req_t* r) {
  int rc = pipe__s3_req_start(r);
  if (rc < 0) {
    fail_req(k, r);
    pipe__s3_req_free(r);
  }
  return rc;
}

static void abort_done(pipe__s3_req_t* r) {
  s3_sink_t* k = r->data;
  if (r->result < 0 && r->result != PIPE_ES3NOTFOUND) {
    scopy(k->receipt.leftover_upload, sizeof(k->receipt.leftover_upload), k->upload_id_copy);
    scopy(k->receipt.abort_error, sizeof(k->receipt.abort_error), r->err.msg);
  }
  k->abort_req = NULL;
  pipe__s3_req_free(r);
  pipe_stage_release(&k->stage);
}

static void send_abort(s3_sink_t* k) {
  pipe__s3_req_t* r;
  char q[600], enc[512];
  const pipe_s3_config_t* cfg = pipe__s3_client_config(k->c);
  if (k->receipt.upload_id[0] == '\0' || k->abort_req != NULL) return;
  snprintf(k->upload_id_copy, sizeof(k->upload_id_copy), "%s", k->receipt.upload_id);
  pipe__sigv4_uri_encode(k->receipt.upload_id, strlen(k->receipt.upload_id), 1,
                         enc, sizeof(enc));
  snprintf(q, sizeof(q), "uploadId=%s", enc);
  if (pipe__s3_req_new(k->c, "DELETE", k->bucket, k->key, q, &r) < 0) {
    scopy(k->receipt.leftover_upload, sizeof(k->receipt.leftover_upload), k->receipt.upload_id);
    snprintf(k->receipt.abort_error, sizeof(k->receipt.abort_error), "out of memory");
    return;
  }
  r->what = "abort multipart upload";
  r->on_done = abort_done;
  r->data = k;
  r->retry_timeout = cfg->retry_timeout > 0 && cfg->retry_timeout < ABORT_BUDGET_S
                         ? cfg->retry_timeout
                         : ABORT_BUDGET_S;
  k->abort_req = r;
  pipe_stage_hold(&k->stage);
  if (pipe__s3_req_start(r) < 0) {
    scopy(k->receipt.leftover_upload, sizeof(k->receipt.leftover_upload), k->receipt.upload_id);
    scopy(k->receipt.abort_error, sizeof(k->receipt.abort_error), r->err.msg);
    k->abort_req = NULL;
    pipe__s3_req_free(r);
    pipe_stage_release(&k->stage);
  }
}

/* ---- multipart ------------------------------------------------------- */

static void maybe_complete(s3_sink_t* k);
static void pump(s3_sink_t* k);

static void part_free(part_t* p) {
  pipe__s3_req_free(p->req);
  pipe_buf_unref(p->buf);
  free(p);
}

static void flight_remove(s3_sink_t* k, part_t* p) {
  part_t** pp;
  for (pp = &k->flight; *pp != NULL; pp = &(*pp)->next) {
    if (*pp == p) {
      *pp = p->next;
      k->inflight--;
      return;
    }
  }
}

static void part_done(pipe__s3_req_t* r) {
  part_t* p = r->data;
  s3_sink_t* k = p->sink;
  char hex[33];
  flight_remove(k, p);
  if (r->result < 0) {
    fail_req(k, r);
    part_free(p);
    return;
  }
  pipe__s3_hex(k->md5s[p->num - 1], 16, hex);
  /* With SSE-KMS the ETag is not an MD5: Content-MD5 was checked anyway. */
  if (!r->etag_not_md5 && strcasecmp(r->etag, hex) != 0) {
    char what[64], got[128];
    snprintf(what, sizeof(what), "part %u: ETag", p->num);
    snprintf(got, sizeof(got), "%s", r->etag[0] ? r->etag : "(none)");
    part_free(p);
    fail_integrity(k, what, got, "differs from the MD5 sent");
    return;
  }
  part_free(p); /* its buffer returns to the pool: resume() will drain */
  if (k->full && k->fd >= 0) pipe_stage_schedule(&k->stage);
  pump(k);
  maybe_complete(k);
}

static void pump(s3_sink_t* k) {
  char enc[512], q[700];
  if (k->dead || k->receipt.upload_id[0] == '\0') return;
  pipe__sigv4_uri_encode(k->receipt.upload_id, strlen(k->receipt.upload_id), 1, enc,
                         sizeof(enc));
  while (k->qhead != NULL && k->inflight < k->conc) {
    part_t* p = k->qhead;
    pipe__s3_req_t* r;
    k->qhead = p->next;
    if (k->qhead == NULL) k->qtail = NULL;
    snprintf(q, sizeof(q), "partNumber=%u&uploadId=%s", p->num, enc);
    if (pipe__s3_req_new(k->c, "PUT", k->bucket, k->key, q, &r) < 0) {
      part_free(p);
      pipe_stage_fail(&k->stage, PIPE_ENOMEM, NULL);
      return;
    }
    r->what = "upload part";
    if (p->buf != NULL) {
      r->body = pipe_buf_data(p->buf);
      r->body_len = p->buf->len;
    } else {
      r->body_fd = k->fd;
      r->body_fd_off = p->off;
      r->body_len = p->len;
    }
    pipe__s3_base64(k->md5s[p->num - 1], 16, r->content_md5, sizeof(r->content_md5));
    r->on_done = part_done;
    r->data = p;
    p->req = r;
    p->next = k->flight;
    k->flight = p;
    k->inflight++;
    if (start_req(k, r) < 0) {
      p->req = NULL;
      flight_remove(k, p);
      part_free(p);
      return;
    }
  }
}

static void create_done(pipe__s3_req_t* r) {
  s3_sink_t* k = r->data;
  size_t pos = 0;
  k->create_req = NULL;
  if (r->result < 0) {
    if (!k->dead) fail_req(k, r);
    else pipe_stage_release(&k->stage);
    pipe__s3_req_free(r);
    return;
  }
  if (!pipe__s3_xml_get(r->resp, r->resp_len, &pos, "UploadId", k->receipt.upload_id,
                        sizeof(k->receipt.upload_id)) ||
      k->receipt.upload_id[0] == '\0') {
    pipe__s3_req_free(r);
    if (!k->dead)
      pipe_stage_fail(&k->stage, PIPE_ES3, "s3://%s/%s: CreateMultipartUpload "
                      "answered without an UploadId", k->bucket, k->key);
    else
      pipe_stage_release(&k->stage);
    return;
  }
  pipe__s3_req_free(r);
  if (k->dead) { /* torn down meanwhile: abort what the server just made */
    send_abort(k);
    pipe_stage_release(&k->stage);
    return;
  }
  pump(k);
  maybe_complete(k);
}

static int start_multipart(s3_sink_t* k) {
  pipe__s3_req_t* r;
  int rc = pipe__s3_req_new(k->c, "POST", k->bucket, k->key, "uploads", &r);
  if (rc < 0) return rc;
  r->what = "create multipart upload";
  r->on_done = create_done;
  r->data = k;
  k->multipart = 1;
  k->create_req = r;
  if (pipe__s3_req_start(r) < 0) {
    k->create_req = NULL;
    fail_req(k, r);
    pipe__s3_req_free(r);
    return PIPE_ES3;
  }
  return 0;
}

/* cur is complete: number it, finish its MD5, queue it. */
static int submit_part(s3_sink_t* k) {
  part_t* p;
  unsigned int mdlen = 16;
  pipe_buf_t* buf = k->cur;
  size_t vlen = k->vlen;
  k->cur = NULL;
  k->vcur = 0;
  k->vlen = 0;
  if (k->nparts >= PIPE_S3_MAX_PARTS) {
    pipe_buf_unref(buf);
    pipe_stage_fail(&k->stage, PIPE_ELIMIT, "s3://%s/%s: more than %d parts "
                    "(use a bigger --part-size)", k->bucket, k->key, PIPE_S3_MAX_PARTS);
    return PIPE_ELIMIT;
  }
  if (k->nparts >= k->md5s_cap) {
    size_t cap = k->md5s_cap ? k->md5s_cap * 2 : 64;
    void* n = realloc(k->md5s, cap * 16);
    if (n == NULL) {
      pipe_buf_unref(buf);
      return PIPE_ENOMEM;
    }
    k->md5s = n;
    k->md5s_cap = cap;
  }
  p = calloc(1, sizeof(*p));
  if (p == NULL) {
    pipe_buf_unref(buf);
    return PIPE_ENOMEM;
  }
  p->sink = k;
  p->buf = buf;
  p->off = k->fpos - (int64_t)vlen;
  p->len = vlen;
  p->num = ++k->nparts;
  EVP_DigestFinal_ex(k->md5, k->md5s[p->num - 1], &mdlen);
  if (k->qtail != NULL) k->qtail->next = p;
  else k->qhead = p;
  k->qtail = p;
  if (!k->multipart) {
    int rc = start_multipart(k);
    if (rc < 0) return rc;
  }
  pump(k);
  return 0;
}

static void complete_done(pipe__s3_req_t* r) {
  s3_sink_t* k = r->data;
  size_t pos = 0;
  char etag[128] = "";
  k->complete_req = NULL;
  if (r->result < 0) {
    fail_req(k, r);
    pipe__s3_req_free(r);
    return;
  }
  pipe__s3_xml_get(r->resp, r->resp_len, &pos, "ETag", etag, sizeof(etag));
  pipe__s3_req_free(r);
  {
    /* Strip the quotes the XML carries ("&quot;...&quot;" decoded). */
    size_t n = strlen(etag);
    if (n >= 2 && etag[0] == '"' && etag[n - 1] == '"') {
      memmove(etag, etag + 1, n - 2);
      etag[n - 2] = '\0';
    }
  }
  if (strcasecmp(etag, k->expect_etag) != 0) {
    fail_integrity(k, "multipart ETag", etag[0] ? etag : "(none)",
                   "differs from the one computed from the parts sent");
    return;
  }
  scopy(k->receipt.etag, sizeof(k->receipt.etag), k->expect_etag);
  k->receipt.parts = k->nparts;
  k->completed = 1;
  pipe_stage_end(&k->stage);
}

static void maybe_complete(s3_sink_t* k) {
  char* body;
  size_t cap, n = 0;
  unsigned i;
  pipe__s3_req_t* r;
  char enc[512], q[600];
  EVP_MD_CTX* m;
  uint8_t d[16];
  unsigned int dl = 16;
  char hex[33];
  if (k->dead || !k->finishing || k->cur != NULL || k->leftover != NULL ||
      k->qhead != NULL || k->inflight > 0 || k->receipt.upload_id[0] == '\0' ||
      k->complete_req != NULL || k->completed)
    return;
  /* The ETag S3 gives a multipart object: MD5 of the parts' MD5s, -N. */
  m = EVP_MD_CTX_new();
  if (m == NULL) {
    pipe_stage_fail(&k->stage, PIPE_ENOMEM, NULL);
    return;
  }
  EVP_DigestInit_ex(m, EVP_md5(), NULL);
  EVP_DigestUpdate(m, k->md5s, (size_t)k->nparts * 16);
  EVP_DigestFinal_ex(m, d, &dl);
  EVP_MD_CTX_free(m);
  pipe__s3_hex(d, 16, hex);
  snprintf(k->expect_etag, sizeof(k->expect_etag), "%s-%u", hex, k->nparts);

  cap = 128 + (size_t)k->nparts * 96;
  body = malloc(cap);
  if (body == NULL) {
    pipe_stage_fail(&k->stage, PIPE_ENOMEM, NULL);
    return;
  }
  n += (size_t)snprintf(body + n, cap - n, "<CompleteMultipartUpload>");
  for (i = 0; i < k->nparts; i++) {
    pipe__s3_hex(k->md5s[i], 16, hex);
    n += (size_t)snprintf(body + n, cap - n,
                          "<Part><PartNumber>%u</PartNumber><ETag>\"%s\"</ETag></Part>",
                          i + 1, hex);
  }
  n += (size_t)snprintf(body + n, cap - n, "</CompleteMultipartUpload>");
  pipe__sigv4_uri_encode(k->receipt.upload_id, strlen(k->receipt.upload_id), 1, enc,
                         sizeof(enc));
  snprintf(q, sizeof(q), "uploadId=%s", enc);
  if (pipe__s3_req_new(k->c, "POST", k->bucket, k->key, q, &r) < 0) {
    free(body);
    pipe_stage_fail(&k->stage, PIPE_ENOMEM, NULL);
    return;
  }
  k->complete_body = body;
  r->what = "complete multipart upload";
  r->body = (const uint8_t*)body;
  r->body_len = n;
  r->content_type = "application/xml";
  r->body_error_check = 1;
  {
    EVP_MD_CTX* mm = EVP_MD_CTX_new();
    uint8_t bd[16];
    unsigned int bl = 16;
    if (mm != NULL) {
      EVP_DigestInit_ex(mm, EVP_md5(), NULL);
      EVP_DigestUpdate(mm, body, n);
      EVP_DigestFinal_ex(mm, bd, &bl);
      EVP_MD_CTX_free(mm);
      pipe__s3_base64(bd, 16, r->content_md5, sizeof(r->content_md5));
    }
  }
  r->on_done = complete_done;
  r->data = k;
  k->complete_req = r;
  if (start_req(k, r) < 0) k->complete_req = NULL;
}

/* ---- single PutObject ------------------------------------------------ */

static void put_done(pipe__s3_req_t* r) {
  s3_sink_t* k = r->data;
  k->put_req = NULL;
  if (r->result < 0) {
    fail_req(k, r);
    pipe__s3_req_free(r);
    return;
  }
  if (r->etag_not_md5) {
    scopy(k->expect_etag, sizeof(k->expect_etag), r->etag);
  } else if (strcasecmp(r->etag, k->expect_etag) != 0) {
    char got[128];
    snprintf(got, sizeof(got), "%s", r->etag[0] ? r->etag : "(none)");
    pipe__s3_req_free(r);
    fail_integrity(k, "ETag", got, "differs from the MD5 sent");
    return;
  }
  pipe__s3_req_free(r);
  scopy(k->receipt.etag, sizeof(k->receipt.etag), k->expect_etag);
  k->completed = 1;
  if (k->cur != NULL) {
    pipe_buf_unref(k->cur);
    k->cur = NULL;
  }
  pipe_stage_end(&k->stage);
}

static int put_object(s3_sink_t* k) {
  pipe__s3_req_t* r;
  uint8_t d[16];
  unsigned int dl = 16;
  int rc = pipe__s3_req_new(k->c, "PUT", k->bucket, k->key, NULL, &r);
  if (rc < 0) return rc;
  EVP_DigestFinal_ex(k->md5, d, &dl);
  pipe__s3_hex(d, 16, k->expect_etag);
  pipe__s3_base64(d, 16, r->content_md5, sizeof(r->content_md5));
  r->what = "put object";
  if (k->fd >= 0) {
    r->body_fd = k->fd;
    r->body_fd_off = 0;
    r->body_len = k->vlen;
  } else {
    r->body = k->cur ? pipe_buf_data(k->cur) : NULL;
    r->body_len = k->cur ? k->cur->len : 0;
  }
  r->on_done = put_done;
  r->data = k;
  k->put_req = r;
  if (start_req(k, r) < 0) {
    k->put_req = NULL;
    return PIPE_ES3;
  }
  return 0;
}

/* ---- stage ops ------------------------------------------------------- */

/* Copies what it can of buf into part buffers. Returns 0 when buf was
 * used up (and released), PIPE_FULL when the rest of it waits in
 * `leftover` for a part buffer, or < 0. */
/* File mode: hash and count, then let the buffer go at once. */
static int consume_file(s3_sink_t* k, pipe_buf_t* buf) {
  while (buf->len > 0) {
    size_t n;
    if (k->vcur && k->vlen == k->cur_target) {
      int rc = submit_part(k);
      if (rc < 0) {
        pipe_buf_unref(buf);
        return rc;
      }
    }
    if (!k->vcur) {
      k->vcur = 1;
      k->vlen = 0;
      k->cur_target = part_size_for(k, k->nparts + 1);
      EVP_DigestInit_ex(k->md5, EVP_md5(), NULL);
    }
    n = k->cur_target - k->vlen;
    if (n > buf->len) n = buf->len;
    EVP_DigestUpdate(k->md5, pipe_buf_data(buf), n);
    EVP_DigestUpdate(k->sha, pipe_buf_data(buf), n);
    k->vlen += n;
    k->fpos += (int64_t)n;
    buf->off += n;
    buf->len -= n;
    k->receipt.bytes += n;
  }
  pipe_buf_unref(buf);
  return 0;
}

static int consume(s3_sink_t* k, pipe_buf_t* buf) {
  if (k->fd >= 0) return consume_file(k, buf);
  while (buf->len > 0) {
    size_t n;
    if (k->cur != NULL && k->cur->len == k->cur_target) {
      int rc = submit_part(k); /* a byte beyond it: it is a part */
      if (rc < 0) {
        pipe_buf_unref(buf);
        return rc;
      }
    }
    if (k->cur == NULL) {
      size_t want = part_size_for(k, k->nparts + 1);
      int rc = ensure_pool(k, want);
      if (rc < 0) {
        pipe_buf_unref(buf);
        return rc;
      }
      k->cur = pipe_pool_acquire(k->pool);
      if (k->cur == NULL) {
        k->leftover = buf;
        pipe_stage_wait_pool(&k->stage, k->pool);
        return PIPE_FULL;
      }
      k->cur_target = want;
      EVP_DigestInit_ex(k->md5, EVP_md5(), NULL);
    }
    n = k->cur_target - k->cur->len;
    if (n > buf->len) n = buf->len;
    memcpy(pipe_buf_tail(k->cur), pipe_buf_data(buf), n);
    EVP_DigestUpdate(k->md5, pipe_buf_data(buf), n);
    EVP_DigestUpdate(k->sha, pipe_buf_data(buf), n);
    k->cur->len += n;
    buf->off += n;
    buf->len -= n;
    k->receipt.bytes += n;
  }
  pipe_buf_unref(buf);
  return 0;
}

/* 1 when the next byte would find no part buffer. */
static int is_full(s3_sink_t* k) {
  pipe_pool_stats_t st;
  if (k->leftover != NULL) return 1;
  if (k->fd >= 0) { /* parts hashed but not yet sent wait in the queue */
    unsigned queued = 0;
    part_t* p;
    for (p = k->qhead; p != NULL; p = p->next) queued++;
    return k->inflight + queued >= k->conc + 1;
  }
  if (k->cur != NULL && k->cur->len < k->cur_target) return 0;
  if (k->pool == NULL) return 0;
  st = pipe_pool_stats(k->pool);
  return st.out >= st.limit;
}

static int s3_sink_write(pipe_stage_t* s, pipe_buf_t* buf) {
  s3_sink_t* k = (s3_sink_t*)s;
  int rc;
  if (k->leftover != NULL) { /* written while FULL: keep order */
    pipe_buf_unref(buf);
    return PIPE_EINVAL;
  }
  rc = consume(k, buf);
  if (rc < 0) return rc;
  if (rc == PIPE_FULL || is_full(k)) {
    k->full = 1;
    if (rc != PIPE_FULL && k->fd < 0) pipe_stage_wait_pool(s, k->pool);
    return PIPE_FULL;
  }
  return PIPE_OK;
}

static void finish(s3_sink_t* k) {
  uint8_t d[32];
  unsigned int dl = 32;
  int rc;
  k->finishing = 1;
  EVP_DigestFinal_ex(k->sha, d, &dl);
  pipe__s3_hex(d, 32, k->receipt.sha256);
  if (!k->multipart) {
    if (k->cur == NULL && !k->vcur) EVP_DigestInit_ex(k->md5, EVP_md5(), NULL); /* empty */
    rc = put_object(k);
    if (rc < 0) pipe_stage_fail(&k->stage, rc, NULL);
    return;
  }
  if (k->vcur && k->vlen > 0) {
    rc = submit_part(k);
    if (rc < 0) {
      pipe_stage_fail(&k->stage, rc, NULL);
      return;
    }
  }
  if (k->cur != NULL) {
    if (k->cur->len > 0) {
      rc = submit_part(k);
      if (rc < 0) {
        pipe_stage_fail(&k->stage, rc, NULL);
        return;
      }
    } else {
      pipe_buf_unref(k->cur);
      k->cur = NULL;
    }
  }
  maybe_complete(k);
}

static int s3_sink_end(pipe_stage_t* s) {
  s3_sink_t* k = (s3_sink_t*)s;
  k->ended_in = 1;
  if (k->leftover == NULL) finish(k);
  return 0;
}

static void s3_sink_resume(pipe_stage_t* s) {
  s3_sink_t* k = (s3_sink_t*)s;
  if (k->leftover != NULL) {
    pipe_buf_t* b = k->leftover;
    int rc;
    k->leftover = NULL;
    rc = consume(k, b);
    if (rc < 0) {
      pipe_stage_fail(s, rc, NULL);
      return;
    }
    if (rc == PIPE_FULL) return; /* waiting on the pool again */
    if (k->ended_in) {
      finish(k);
      return;
    }
  }
  if (k->full) {
    if (is_full(k)) {
      if (k->fd < 0) pipe_stage_wait_pool(s, k->pool);
      return;
    }
    k->full = 0;
    pipe_stage_drain(s);
  }
}

/* File mode: open the file the bytes come from, to read parts when sent. */
static int s3_sink_start(pipe_stage_t* s) {
  s3_sink_t* k = (s3_sink_t*)s;
  if (k->path == NULL) return 0;
  k->fd = open(k->path, O_RDONLY | O_CLOEXEC);
  if (k->fd < 0) {
    int e = -errno;
    pipe_stage_fail(s, e, "cannot open %s: %s", k->path, pipe_strerror(e));
    return e;
  }
  return 0;
}

static void s3_sink_destroy(pipe_stage_t* s, int status) {
  s3_sink_t* k = (s3_sink_t*)s;
  k->dead = 1;
  while (k->flight != NULL) {
    part_t* p = k->flight;
    k->flight = p->next;
    part_free(p);
  }
  k->inflight = 0;
  while (k->qhead != NULL) {
    part_t* p = k->qhead;
    k->qhead = p->next;
    part_free(p);
  }
  k->qtail = NULL;
  pipe__s3_req_free(k->complete_req);
  k->complete_req = NULL;
  pipe__s3_req_free(k->put_req);
  k->put_req = NULL;
  pipe_buf_unref(k->cur);
  k->cur = NULL;
  pipe_buf_unref(k->leftover);
  k->leftover = NULL;
  if (!k->completed) {
    if (k->create_req != NULL) pipe_stage_hold(s); /* create_done aborts */
    else send_abort(k);
  }
  free(k->complete_body);
  k->complete_body = NULL;
  EVP_MD_CTX_free(k->md5);
  EVP_MD_CTX_free(k->sha);
  k->md5 = k->sha = NULL;
  free(k->md5s);
  k->md5s = NULL;
  /* An AbortMultipartUpload has no body: the file can go now. */
  if (k->fd >= 0) close(k->fd);
  k->fd = -1;
  free(k->path);
  k->path = NULL;
  (void)status;
}

static const pipe_stage_ops_t s3_sink_ops = {
    .name = "s3_sink",
    .size = sizeof(s3_sink_t),
    .start = s3_sink_start,
    .write = s3_sink_write,
    .end = s3_sink_end,
    .resume = s3_sink_resume,
    .destroy = s3_sink_destroy,
};

int pipe_s3_url_parse(const char* url, char* bucket, size_t cap, const char** key,
                      int allow_empty_key) {
  const char* b;
  const char* slash;
  size_t n;
  if (url == NULL || strncmp(url, "s3://", 5) != 0) return PIPE_EUSAGE;
  b = url + 5;
  slash = strchr(b, '/');
  n = slash ? (size_t)(slash - b) : strlen(b);
  if (n == 0 || n >= cap) return PIPE_EUSAGE;
  memcpy(bucket, b, n);
  bucket[n] = '\0';
  *key = slash ? slash + 1 : b + n;
  if (!allow_empty_key && (*key)[0] == '\0') return PIPE_EUSAGE;
  return 0;
}

/* Shared by the sink and the source: the client from cfg or the context. */
int pipe__s3_stage_client(pipe_pipeline_t* pl, pipe_s3_client_t* given,
                          pipe_s3_client_t** out, pipe_error_t* err) {
  pipe_ctx_t* ctx;
  *out = given;
  if (given != NULL) return 0;
  ctx = pipe_pipeline_ctx(pl);
  if (ctx == NULL) {
    if (err) pipe_error_set(err, PIPE_EINVAL, "s3:// needs a pipeline made in a "
                            "context (pipe_pipeline_new_in) or a client");
    return PIPE_EINVAL;
  }
  return pipe_ctx_s3(ctx, out, err);
}

int pipe_s3_sink_new(pipe_pipeline_t* pl, const pipe_s3_sink_config_t* cfg,
                     pipe_stage_t** out, pipe_error_t* err) {
  pipe_stage_t* s;
  s3_sink_t* k;
  pipe_s3_client_t* c;
  const char* key;
  char bucket[256];
  int r;
  if (out != NULL) *out = NULL;
  if (cfg == NULL || pipe_s3_url_parse(cfg->url, bucket, sizeof(bucket), &key, 0) < 0) {
    if (err) pipe_error_set(err, PIPE_EUSAGE, "an S3 destination must look like "
                            "s3://bucket/key, got '%s'", cfg && cfg->url ? cfg->url : "");
    return PIPE_EUSAGE;
  }
  if (cfg->part_size != 0 &&
      (cfg->part_size < PIPE_S3_MIN_PART_SIZE || cfg->part_size > PIPE_S3_MAX_PART_SIZE)) {
    if (err) pipe_error_set(err, PIPE_EUSAGE, "part size must be 5 MiB .. 5 GiB, got %zu",
                            cfg->part_size);
    return PIPE_EUSAGE;
  }
  if (cfg->concurrency > 64) {
    if (err) pipe_error_set(err, PIPE_EUSAGE, "concurrency must be 1..64, got %u",
                            cfg->concurrency);
    return PIPE_EUSAGE;
  }
  r = pipe__s3_stage_client(pl, cfg->client, &c, err);
  if (r < 0) return r;
  r = pipe_stage_new(pl, &s3_sink_ops, &s);
  if (r < 0) return r;
  k = (s3_sink_t*)s;
  k->c = c;
  snprintf(k->bucket, sizeof(k->bucket), "%s", bucket);
  if (strlen(key) > 1024) {
    if (err) pipe_error_set(err, PIPE_EUSAGE, "S3 keys are at most 1024 bytes");
    return PIPE_EUSAGE;
  }
  snprintf(k->key, sizeof(k->key), "%s", key);
  k->base_part = cfg->part_size ? cfg->part_size : PIPE_S3_DEFAULT_PART_SIZE;
  k->conc = cfg->concurrency ? cfg->concurrency : PIPE_S3_DEFAULT_CONCURRENCY;
  k->size_hint = cfg->size > 0 ? cfg->size : -1;
  k->fd = -1;
  if (cfg->reread_path != NULL && (k->path = strdup(cfg->reread_path)) == NULL)
    return PIPE_ENOMEM;
  k->md5 = EVP_MD_CTX_new();
  k->sha = EVP_MD_CTX_new();
  if (k->md5 == NULL || k->sha == NULL) return PIPE_ENOMEM;
  EVP_DigestInit_ex(k->md5, EVP_md5(), NULL);
  EVP_DigestInit_ex(k->sha, EVP_sha256(), NULL);
  if (out != NULL) *out = s;
  return 0;
}

const pipe_s3_receipt_t* pipe_s3_sink_receipt(const pipe_stage_t* s) {
  if (s == NULL || s->ops != &s3_sink_ops) return NULL;
  return &((const s3_sink_t*)s)->receipt;
}

const char* pipe_s3_sink_bucket(const pipe_stage_t* s) {
  if (s == NULL || s->ops != &s3_sink_ops) return NULL;
  return ((const s3_sink_t*)s)->bucket;
}

const char* pipe_s3_sink_key(const pipe_stage_t* s) {
  if (s == NULL || s->ops != &s3_sink_ops) return NULL;
  return ((const s3_sink_t*)s)->key;
}
