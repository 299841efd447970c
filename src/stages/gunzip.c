/* The gunzip stage: streaming zlib inflate in a synchronous transform.
 *
 * Runs on the loop thread, for now: inflate decodes at several hundred
 * MB/s, and one convert() call works on at most one 64 KiB output buffer
 * (well under a millisecond), so the loop stays responsive. Should profiles
 * say otherwise, it can move to the thread pool like gzip.c.
 *
 * Members: windowBits 15 + 16 accepts gzip only (no zlib or raw streams).
 * After a member's trailer (Z_STREAM_END) the stream is at a boundary: if
 * more input follows it must start a new member (1f 8b) — we check those
 * two bytes ourselves, so that trailing garbage, zero padding included, is
 * reported as such ("trailing garbage at byte offset N") rather than as a
 * confusing header error, and inflate is reset for the next member. gzip -d
 * only warns about trailing garbage; we fail, because a pipeline that
 * silently drops bytes hides a damaged upload.
 *
 * Errors carry the byte offset in the compressed input (pipe_error_t):
 * - corrupt data: zlib's Z_DATA_ERROR (bad block, distance too far back,
 *   "incorrect data check" = CRC-32, "incorrect length check" = ISIZE),
 *   PIPE_EGZIP at the offset where zlib noticed; for the two trailer checks
 *   that is the start of the offending 4-byte field;
 * - input ending inside a member: PIPE_ETRUNC at the end of input;
 * - no input at all: PIPE_EGZIP, as gzip -d refuses empty input.
 */
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <zlib.h>

#include "pipe/gzip.h"
#include "pipe/pipeline.h"
#include "pipe/transform.h"

/* State: `z` is live from construction (inited) to destroy. `offset` is the
 * number of compressed bytes consumed before the current convert() call;
 * `member` the 1-based number of the member being decoded (or last
 * decoded); `member_pos` the bytes of it consumed so far (0 at a
 * boundary). */
typedef struct gunzip_s {
  pipe_xform_t base; /* first */
  z_stream z;
  int inited;
  uint64_t offset;
  uint64_t member;
  uint64_t member_pos;
  int mode; /* GZ_INFLATE, or for pipe_gunzip_auto_new GZ_UNDECIDED first */
} gunzip_t;

enum { GZ_INFLATE, GZ_UNDECIDED, GZ_PASS };

static const uint8_t gz_magic[2] = {0x1f, 0x8b};

/* Reports a located error (first error wins) and returns code. */
static int fail_at(gunzip_t* g, int code, uint64_t offset, const char* fmt, ...)
#if defined(__GNUC__)
    __attribute__((format(printf, 4, 5)))
#endif
    ;

static int fail_at(gunzip_t* g, int code, uint64_t offset, const char* fmt,
                   ...) {
  pipe_error_t e;
  va_list ap;
  memset(&e, 0, sizeof(e));
  e.code = code;
  va_start(ap, fmt);
  vsnprintf(e.msg, sizeof(e.msg), fmt, ap);
  va_end(ap);
  e.offset = offset;
  e.has_offset = 1;
  pipe_stage_fail_with(&g->base.stage, &e);
  return code;
}

/* Checks those bytes of in[0, len) that are the current member's first two
 * against the gzip magic. Moves no counter: inflate reads them again.
 * Returns 0 or the error (reported). */
static int check_magic(gunzip_t* g, const uint8_t* in, size_t len) {
  uint64_t pos = g->member_pos;
  size_t i;
  for (i = 0; pos < 2 && i < len; i++, pos++) {
    if (in[i] != gz_magic[pos]) {
      uint64_t start = g->offset - g->member_pos; /* the member's 1st byte */
      if (g->member > 1)
        return fail_at(g, PIPE_EGZIP, start,
                       "trailing garbage at byte offset %llu (after member "
                       "%llu, not a gzip member)",
                       (unsigned long long)start,
                       (unsigned long long)(g->member - 1));
      return fail_at(g, PIPE_EGZIP, start,
                     "not gzip data (bad magic at byte offset %llu)",
                     (unsigned long long)start);
    }
  }
  return 0;
}

/* Runs inflate on in[0, len) into out[0, cap), keeps the counters and maps
 * zlib's answers to ours. */
static int run_inflate(gunzip_t* g, const uint8_t* in, size_t len,
                       size_t* consumed, uint8_t* out, size_t cap,
                       size_t* produced) {
  z_stream* z = &g->z;
  size_t used;
  int zr;
  z->next_in = (Bytef*)in;
  z->avail_in = (uInt)len;
  z->next_out = out;
  z->avail_out = (uInt)cap;
  zr = inflate(z, Z_NO_FLUSH);
  used = len - z->avail_in;
  *consumed = used;
  *produced = cap - z->avail_out;
  g->offset += used;
  g->member_pos += used;
  switch (zr) {
    case Z_OK:
    case Z_BUF_ERROR: /* no progress possible: needs input or room */
      return 0;
    case Z_STREAM_END: /* member complete, CRC-32 and ISIZE verified */
      inflateReset(z);
      g->member_pos = 0;
      return 0;
    case Z_MEM_ERROR:
      pipe_stage_fail(&g->base.stage, PIPE_ENOMEM, "gunzip: out of memory");
      return PIPE_ENOMEM;
    default: { /* Z_DATA_ERROR, Z_NEED_DICT, Z_STREAM_ERROR */
      const char* msg = z->msg ? z->msg : "invalid data";
      uint64_t at = g->offset;
      /* The trailer checks fail once their 4-byte field has been read:
       * point at the field itself. */
      if ((strcmp(msg, "incorrect data check") == 0 ||
           strcmp(msg, "incorrect length check") == 0) &&
          at >= 4)
        at -= 4;
      return fail_at(g, PIPE_EGZIP, at,
                     "corrupt gzip data at byte offset %llu: %s",
                     (unsigned long long)at, msg);
    }
  }
}

/* The transform calls this with len > 0 only. */
static int gunzip_convert(pipe_xform_t* x, const uint8_t* in, size_t len,
                          size_t* consumed, uint8_t* out, size_t cap,
                          size_t* produced) {
  gunzip_t* g = (gunzip_t*)x;
  int r;
  *consumed = *produced = 0;
  if (g->member_pos == 0) g->member++; /* a new member starts here */
  r = check_magic(g, in, len);
  if (r < 0) return r;
  return run_inflate(g, in, len, consumed, out, cap, produced);
}

static int gunzip_finish(pipe_xform_t* x, uint8_t* out, size_t cap,
                         size_t* produced) {
  gunzip_t* g = (gunzip_t*)x;
  size_t consumed = 0;
  int r;
  *produced = 0;
  if (g->member == 0)
    return fail_at(g, PIPE_EGZIP, 0, "empty input is not gzip data");
  if (g->member_pos == 0) return 0; /* at a boundary: complete */
  /* Input is used up, but inflate may still hold output (a long match
   * stopped by a full buffer): let it go on with no more input. */
  r = run_inflate(g, NULL, 0, &consumed, out, cap, produced);
  if (r < 0) return r;
  if (g->member_pos == 0) return 0;       /* that completed the member */
  if (*produced == cap) return PIPE_FULL; /* more to come: call again */
  return fail_at(g, PIPE_ETRUNC, g->offset,
                 "truncated gzip input: ended at byte offset %llu inside "
                 "member %llu",
                 (unsigned long long)g->offset, (unsigned long long)g->member);
}

static void gunzip_destroy(pipe_xform_t* x, int status) {
  gunzip_t* g = (gunzip_t*)x;
  (void)status;
  if (g->inited) inflateEnd(&g->z);
  g->inited = 0;
}

static const pipe_xform_ops_t gunzip_ops = {
    .stage = PIPE_XFORM_STAGE_OPS("gunzip", sizeof(gunzip_t)),
    .convert = gunzip_convert,
    .finish = gunzip_finish,
    .destroy = gunzip_destroy,
    .min_room = 1, /* inflate writes into any room at all */
};

int pipe_gzip_magic(const void* p, size_t n) {
  const uint8_t* b = p;
  return n >= 1 && b[0] == gz_magic[0] && (n == 1 || b[1] == gz_magic[1]);
}

/* pipe_gunzip_auto_new: the same transform behind stage ops that decide on
 * the first non-empty buffer. Input that is not gzip goes through as it
 * is: the same buffers pushed on (no copy, so plain CSV costs nothing), the
 * flow answers and the drain passed straight through, end and flush too. */
static int auto_write(pipe_stage_t* s, pipe_buf_t* buf) {
  gunzip_t* g = (gunzip_t*)s;
  if (g->mode == GZ_UNDECIDED && buf->len > 0)
    g->mode = pipe_gzip_magic(pipe_buf_data(buf), buf->len) ? GZ_INFLATE
                                                             : GZ_PASS;
  if (g->mode == GZ_PASS) return pipe_stage_push(s, buf);
  return pipe_xform_write(s, buf);
}

static int auto_end(pipe_stage_t* s) {
  gunzip_t* g = (gunzip_t*)s;
  if (g->mode == GZ_INFLATE) return pipe_xform_end(s);
  pipe_stage_end(s); /* passed through (or empty: nothing to decompress) */
  return 0;
}

static void auto_resume(pipe_stage_t* s) {
  gunzip_t* g = (gunzip_t*)s;
  if (g->mode == GZ_INFLATE)
    pipe_xform_resume(s);
  else
    pipe_stage_drain(s); /* downstream has room: so has upstream */
}

static void auto_flush(pipe_stage_t* s) {
  gunzip_t* g = (gunzip_t*)s;
  if (g->mode == GZ_INFLATE)
    pipe_xform_flush(s);
  else
    pipe_stage_flush(s);
}

static const pipe_xform_ops_t gunzip_auto_ops = {
    .stage = {.name = "gunzip", .size = sizeof(gunzip_t), .write = auto_write,
              .end = auto_end, .resume = auto_resume,
              .destroy = pipe_xform_destroy},
    .convert = gunzip_convert,
    .finish = gunzip_finish,
    .destroy = gunzip_destroy,
    .min_room = 1,
};

static int gunzip_make(pipe_pipeline_t* pl, const pipe_xform_ops_t* ops,
                       pipe_stage_t** out) {
  pipe_xform_t* x;
  gunzip_t* g;
  int r;
  if (out != NULL) *out = NULL;
  r = pipe_xform_new(pl, ops, &x);
  if (r < 0) return r;
  g = (gunzip_t*)x;
  memset(&g->z, 0, sizeof(g->z));
  if (inflateInit2(&g->z, 15 + 16) != Z_OK) return PIPE_ENOMEM;
  g->inited = 1;
  if (ops == &gunzip_auto_ops) {
    g->mode = GZ_UNDECIDED;
    x->stage.flush = auto_flush;
  }
  if (out != NULL) *out = &x->stage;
  return 0;
}

int pipe_gunzip_new(pipe_pipeline_t* pl, pipe_stage_t** out) {
  return gunzip_make(pl, &gunzip_ops, out);
}

int pipe_gunzip_auto_new(pipe_pipeline_t* pl, pipe_stage_t** out) {
  return gunzip_make(pl, &gunzip_auto_ops, out);
}
