/* gzip_blocks: what joining libdeflate blocks into one deflate stream costs.
 *
 *   build/bench/gzip_blocks_bench FILE [LEVEL [BLOCK_BYTES]]
 *
 * Cuts FILE into blocks (default 1 MiB) and, on one thread, measures thread
 * CPU time of: libdeflate compression of every block at LEVEL (default 6);
 * our walker finding each block's final header (pipe__deflate_walk); zlib's
 * inflate(Z_BLOCK) doing the same, as examples/gzjoin.c would; and the
 * CRC-32 of the input; then whole non-final pieces as the stage makes them
 * (pipe__dfb_compress: libdeflate at LEVEL plus the walk, and ISA-L at
 * levels 1-3). Prints one TSV line per measurement: name, input
 * bytes, seconds, MB/s of input, and the output bytes for compression.
 */
#include <libdeflate.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <zlib.h>

#include "codec/deflate_block.h"

static double cpu_now(void) {
  struct timespec ts;
  clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts);
  return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static uint8_t* read_all(const char* path, size_t* n) {
  FILE* f = fopen(path, "rb");
  uint8_t* p = NULL;
  size_t cap = 0, len = 0, got;
  if (f == NULL) return NULL;
  do {
    if (cap - len < (1u << 20)) {
      cap = cap ? cap * 2 : (64u << 20);
      p = realloc(p, cap);
      if (p == NULL) return NULL;
    }
    got = fread(p + len, 1, cap - len, f);
    len += got;
  } while (got > 0);
  fclose(f);
  *n = len;
  return p;
}

/* zlib's way: inflate every block with Z_BLOCK, note the last boundary. */
static uint64_t zlib_walk(z_stream* z, const uint8_t* p, size_t n,
                          uint8_t* out, size_t out_cap) {
  uint64_t at = 0;
  inflateReset(z);
  z->next_in = (Bytef*)p;
  z->avail_in = (uInt)n;
  z->next_out = out;
  z->avail_out = (uInt)out_cap;
  for (;;) {
    int r = inflate(z, Z_BLOCK);
    if (r == Z_STREAM_END) break;
    if (r != Z_OK) {
      fprintf(stderr, "inflate: %d\n", r);
      exit(1);
    }
    if ((z->data_type & 128) && !(z->data_type & 64))
      at = (uint64_t)z->total_in * 8 - (unsigned)(z->data_type & 7);
  }
  return at;
}

int main(int argc, char** argv) {
  size_t n, bs = (size_t)1 << 20, nblocks, i, cap, total_out = 0;
  int level = 6;
  uint8_t *in, *scratch;
  uint8_t** comp;
  size_t* comp_len;
  struct libdeflate_compressor* c;
  double t0, t_comp, t_walk, t_zlib, t_crc;
  uint64_t check = 0;
  uint32_t crc = 0;
  z_stream z;
  if (argc < 2) {
    fprintf(stderr, "usage: %s FILE [LEVEL [BLOCK_BYTES]]\n", argv[0]);
    return 2;
  }
  if (argc > 2) level = (int)strtol(argv[2], NULL, 10);
  if (argc > 3) bs = (size_t)strtoull(argv[3], NULL, 10);
  in = read_all(argv[1], &n);
  if (in == NULL || n == 0) {
    fprintf(stderr, "cannot read %s\n", argv[1]);
    return 1;
  }
  nblocks = (n + bs - 1) / bs;
  c = libdeflate_alloc_compressor(level);
  cap = libdeflate_deflate_compress_bound(c, bs);
  comp = calloc(nblocks, sizeof(*comp));
  comp_len = calloc(nblocks, sizeof(*comp_len));
  scratch = malloc(bs + 1);
  if (c == NULL || comp == NULL || comp_len == NULL || scratch == NULL)
    return 1;
  for (i = 0; i < nblocks; i++) {
    comp[i] = malloc(cap);
    if (comp[i] == NULL) return 1;
    memset(comp[i], 0, cap);
  }
  memset(scratch, 0, bs + 1);

  t0 = cpu_now();
  for (i = 0; i < nblocks; i++) {
    size_t k = i + 1 < nblocks ? bs : n - i * bs;
    comp_len[i] = libdeflate_deflate_compress(c, in + i * bs, k, comp[i], cap);
    total_out += comp_len[i];
  }
  t_comp = cpu_now() - t0;

  t0 = cpu_now();
  for (i = 0; i < nblocks; i++) {
    uint64_t fb, eb;
    if (pipe__deflate_walk(comp[i], comp_len[i], &fb, &eb) != 0) return 1;
    check += fb;
  }
  t_walk = cpu_now() - t0;

  memset(&z, 0, sizeof(z));
  if (inflateInit2(&z, -15) != Z_OK) return 1;
  t0 = cpu_now();
  for (i = 0; i < nblocks; i++)
    check -= zlib_walk(&z, comp[i], comp_len[i], scratch, bs + 1);
  t_zlib = cpu_now() - t0;
  inflateEnd(&z);
  if (check != 0) {
    fprintf(stderr, "walker and zlib disagree\n");
    return 1;
  }

  t0 = cpu_now();
  for (i = 0; i < nblocks; i++) {
    size_t k = i + 1 < nblocks ? bs : n - i * bs;
    crc = pipe__crc32_combine(crc, pipe__crc32(0, in + i * bs, k), k);
  }
  t_crc = cpu_now() - t0;

  /* Whole pieces as the stage makes them (non-final: walked or flushed). */
  {
    static const struct {
      pipe_dfb_engine_t e;
      int level;
      const char* name;
    } eng[] = {{PIPE_DFB_LIBDEFLATE, 0, "piece-libdeflate"},
               {PIPE_DFB_ISAL, 1, "piece-isal"},
               {PIPE_DFB_ISAL, 2, "piece-isal"},
               {PIPE_DFB_ISAL, 3, "piece-isal"}};
    size_t e;
    uint8_t* piece = malloc(pipe__dfb_bound(bs));
    for (e = 0; e < sizeof(eng) / sizeof(eng[0]); e++) {
      pipe_dfb_t* d;
      int lv = eng[e].level ? eng[e].level : level;
      size_t out_total = 0, got;
      double t;
      if (piece == NULL || pipe__dfb_new(eng[e].e, lv, &d) != 0) return 1;
      t0 = cpu_now();
      for (i = 0; i < nblocks; i++) {
        size_t k = i + 1 < nblocks ? bs : n - i * bs;
        if (pipe__dfb_compress(d, in + i * bs, k, 0, piece,
                               pipe__dfb_bound(bs), &got) != 0)
          return 1;
        out_total += got;
      }
      t = cpu_now() - t0;
      printf("%s-%d\t%zu\t%.3f\t%.1f\t%zu\n", eng[e].name, lv, n, t,
             n / 1e6 / t, out_total);
      pipe__dfb_free(d);
    }
    free(piece);
  }
  printf("libdeflate-%d\t%zu\t%.3f\t%.1f\t%zu\n", level, n, t_comp,
         n / 1e6 / t_comp, total_out);
  printf("walk\t%zu\t%.3f\t%.1f\t%.1f%% of compress\n", n, t_walk,
         n / 1e6 / t_walk, 100 * t_walk / t_comp);
  printf("zlib-Z_BLOCK\t%zu\t%.3f\t%.1f\t%.1f%% of compress\n", n, t_zlib,
         n / 1e6 / t_zlib, 100 * t_zlib / t_comp);
  printf("crc+combine\t%zu\t%.3f\t%.1f\t%08x\n", n, t_crc, n / 1e6 / t_crc,
         crc);
  for (i = 0; i < nblocks; i++) free(comp[i]);
  free(comp);
  free(comp_len);
  free(scratch);
  free(in);
  libdeflate_free_compressor(c);
  return 0;
}
