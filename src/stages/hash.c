/* hash stage: a pass-through that digests every byte flowing through it.
 *
 * Why a pass-through and not a transform: the data is not changed, so
 * downstream receives the very buffer upstream gave us (no copy, no pool
 * of our own in use), and the flow answer is downstream's answer. We hash
 * a buffer *before* pushing it, because after pipe_stage_push() it is no
 * longer ours to read (the sink may already have recycled it).
 *
 * Flow: write() returns what push returned, so a PIPE_FULL from below
 * reaches upstream unchanged and upstream stops. When downstream drains,
 * the core calls our resume(); we drain in turn, which resumes upstream.
 *
 * Digests: SHA-256 and MD5 through OpenSSL's EVP interface (hardware SHA
 * extensions where the CPU has them), CRC-32C through codec/crc32c.c. The
 * digest is finalized at end(), turned into lower-case hex and kept in the
 * stage, which lives until pipe_pipeline_free(): it can be read in and
 * after the completion callback, after destroy() has freed the context.
 */
#include <openssl/evp.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>

#include "codec/crc32c.h"
#include "pipe/hash.h"
#include "pipe/pipeline.h"

/* State: `md` is the OpenSSL context (NULL for CRC-32C and after destroy);
 * `crc` the running CRC-32C; `hex` is empty until end() finalized it. */
typedef struct hash_s {
  pipe_stage_t stage; /* first */
  pipe_hash_algo_t algo;
  EVP_MD_CTX* md;
  uint32_t crc;
  int finished;
  char hex[2 * EVP_MAX_MD_SIZE + 1];
} hash_t;

static const char* const algo_names[] = {NULL, "sha256", "md5", "crc32c"};

int pipe_hash_algo_parse(const char* name, pipe_hash_algo_t* out) {
  int i;
  if (name == NULL) return PIPE_EINVAL;
  for (i = PIPE_HASH_SHA256; i <= PIPE_HASH_CRC32C; i++) {
    if (strcasecmp(name, algo_names[i]) == 0) {
      if (out != NULL) *out = (pipe_hash_algo_t)i;
      return 0;
    }
  }
  return PIPE_EINVAL;
}

const char* pipe_hash_algo_name(pipe_hash_algo_t algo) {
  if (algo < PIPE_HASH_SHA256 || algo > PIPE_HASH_CRC32C) return NULL;
  return algo_names[algo];
}

static void to_hex(const uint8_t* d, size_t n, char* out) {
  static const char digits[] = "0123456789abcdef";
  size_t i;
  for (i = 0; i < n; i++) {
    out[2 * i] = digits[d[i] >> 4];
    out[2 * i + 1] = digits[d[i] & 15];
  }
  out[2 * n] = '\0';
}

/* Takes buf: hashes its readable bytes, then hands it on unchanged. */
static int hash_write(pipe_stage_t* s, pipe_buf_t* buf) {
  hash_t* h = (hash_t*)s;
  if (buf->len > 0) {
    if (h->md != NULL) {
      if (EVP_DigestUpdate(h->md, pipe_buf_data(buf), buf->len) != 1) {
        pipe_buf_unref(buf);
        pipe_stage_fail(s, PIPE_EIO, "hash: %s update failed",
                        pipe_hash_algo_name(h->algo));
        return PIPE_EIO;
      }
    } else {
      h->crc = pipe__crc32c(h->crc, pipe_buf_data(buf), buf->len);
    }
  }
  return pipe_stage_push(s, buf); /* PIPE_FULL passes straight up */
}

static int hash_end(pipe_stage_t* s) {
  hash_t* h = (hash_t*)s;
  if (h->md != NULL) {
    uint8_t d[EVP_MAX_MD_SIZE];
    unsigned n = 0;
    if (EVP_DigestFinal_ex(h->md, d, &n) != 1) {
      pipe_stage_fail(s, PIPE_EIO, "hash: %s finalization failed",
                      pipe_hash_algo_name(h->algo));
      return PIPE_EIO;
    }
    to_hex(d, n, h->hex);
  } else {
    /* Big-endian bytes of the value, as gsutil and the GCS/S3 checksum
     * headers write it: the hex reads like the number. */
    snprintf(h->hex, sizeof(h->hex), "%08x", (unsigned)h->crc);
  }
  h->finished = 1;
  pipe_stage_end(s);
  return 0;
}

/* Downstream drained: we answered PIPE_FULL whenever it did, so the stage
 * above is waiting on us; pass the drain up. */
static void hash_resume(pipe_stage_t* s) {
  pipe_stage_drain(s);
}

static void hash_destroy(pipe_stage_t* s, int status) {
  hash_t* h = (hash_t*)s;
  (void)status;
  EVP_MD_CTX_free(h->md); /* NULL is fine */
  h->md = NULL;
}

static const pipe_stage_ops_t hash_ops = {
    .name = "hash",
    .size = sizeof(hash_t),
    .write = hash_write,
    .end = hash_end,
    .resume = hash_resume,
    .destroy = hash_destroy,
};

int pipe_hash_new(pipe_pipeline_t* pl, pipe_hash_algo_t algo,
                  pipe_stage_t** out) {
  const EVP_MD* md = NULL;
  pipe_stage_t* s;
  hash_t* h;
  int r;
  if (out != NULL) *out = NULL;
  switch (algo) {
    case PIPE_HASH_SHA256:
      md = EVP_sha256();
      break;
    case PIPE_HASH_MD5:
      md = EVP_md5();
      break;
    case PIPE_HASH_CRC32C:
      break;
    default:
      return PIPE_EINVAL;
  }
  r = pipe_stage_new(pl, &hash_ops, &s);
  if (r < 0) return r;
  h = (hash_t*)s;
  h->algo = algo;
  if (md != NULL) {
    /* On failure the stage stays linked and is destroyed and freed with
     * the pipeline, like every stage whose constructor failed late. */
    h->md = EVP_MD_CTX_new();
    if (h->md == NULL) return PIPE_ENOMEM;
    /* Fails when the OpenSSL configuration forbids the digest (MD5 under
     * a FIPS-only provider). */
    if (EVP_DigestInit_ex(h->md, md, NULL) != 1) return PIPE_EINVAL;
  }
  if (out != NULL) *out = s;
  return 0;
}

const char* pipe_hash_hex(const pipe_stage_t* s) {
  const hash_t* h = (const hash_t*)s;
  if (s == NULL || s->ops != &hash_ops || !h->finished) return NULL;
  return h->hex;
}

pipe_hash_algo_t pipe_hash_algo(const pipe_stage_t* s) {
  if (s == NULL || s->ops != &hash_ops) return (pipe_hash_algo_t)0;
  return ((const hash_t*)s)->algo;
}
