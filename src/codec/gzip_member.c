/* One block -> one gzip member (see gzip_member.h).
 *
 * The engine is libdeflate: whole-buffer, about twice as fast as zlib's
 * deflate at the same level and a little smaller (measurements in
 * src/stages/gzip.c). It has no streaming API and no preset dictionary,
 * which is why the stage writes independent members rather than pigz's
 * single member with dictionaries; at 1 MiB per block the cost of the lost
 * dictionary is well under 1% of output size.
 *
 * libdeflate_gzip_compress() would write the wrapper too, but with OS=255
 * ("unknown"); we write header and trailer ourselves so the bytes match
 * what gzip itself writes for stdin (MTIME 0, OS 3).
 */
#include "codec/gzip_member.h"

#include <libdeflate.h>
#include <stdlib.h>
#include <string.h>

#include "pipe/error.h"

struct pipe_gzm_s {
  struct libdeflate_compressor* c;
  uint8_t xfl; /* 2: best compression, 4: fastest, 0: otherwise (RFC 1952) */
};

int pipe__gzm_new(int level, pipe_gzm_t** out) {
  pipe_gzm_t* g;
  *out = NULL;
  if (level < 1 || level > 12) return PIPE_EINVAL;
  g = calloc(1, sizeof(*g));
  if (g == NULL) return PIPE_ENOMEM;
  g->c = libdeflate_alloc_compressor(level);
  if (g->c == NULL) {
    free(g);
    return PIPE_ENOMEM;
  }
  g->xfl = level >= 9 ? 2 : level == 1 ? 4 : 0;
  *out = g;
  return 0;
}

void pipe__gzm_free(pipe_gzm_t* g) {
  if (g == NULL) return;
  libdeflate_free_compressor(g->c);
  free(g);
}

size_t pipe__gzm_bound(size_t len) {
  /* NULL: the bound across every compressor of this libdeflate build, so
   * one figure serves all levels. */
  return PIPE_GZM_OVERHEAD + libdeflate_deflate_compress_bound(NULL, len);
}

static void put_le32(uint8_t* p, uint32_t v) {
  p[0] = (uint8_t)v;
  p[1] = (uint8_t)(v >> 8);
  p[2] = (uint8_t)(v >> 16);
  p[3] = (uint8_t)(v >> 24);
}

size_t pipe__gzm_compress(pipe_gzm_t* g, const uint8_t* in, size_t len,
                          uint8_t* out, size_t cap) {
  size_t n;
  if (cap < PIPE_GZM_OVERHEAD + 2) return 0;
  out[0] = 0x1f; /* ID1, ID2 */
  out[1] = 0x8b;
  out[2] = 8;           /* CM = deflate */
  out[3] = 0;           /* FLG: no name, comment, extra, header CRC */
  put_le32(out + 4, 0); /* MTIME: none (reproducible output) */
  out[8] = g->xfl;
  out[9] = 3; /* OS = Unix */
  if (len == 0) {
    /* One final fixed-Huffman block holding only end-of-block: the bytes
     * gzip writes for empty input, so `pipe gzip < /dev/null` matches
     * `gzip < /dev/null` (20 bytes). */
    out[10] = 0x03;
    out[11] = 0x00;
    n = 2;
  } else {
    n = libdeflate_deflate_compress(g->c, in, len, out + 10,
                                    cap - PIPE_GZM_OVERHEAD);
    if (n == 0) return 0; /* did not fit: cap below the bound */
  }
  put_le32(out + 10 + n, len ? libdeflate_crc32(0, in, len) : 0);
  /* ISIZE is the input length mod 2^32 (RFC 1952 2.3.1): blocks are far
   * smaller than 4 GiB, so it is exact here. */
  put_le32(out + 14 + n, (uint32_t)len);
  return n + PIPE_GZM_OVERHEAD;
}
