/* The deflate block codec: the walker finds the final block where zlib's
 * inflate(Z_BLOCK) does, pieces join into one stream that zlib reads to the
 * end of one member, and the CRC/ISIZE arithmetic holds past 4 GiB. */
#include <criterion/criterion.h>
#include <libdeflate.h>
#include <stdlib.h>
#include <string.h>
#include <zlib.h>

#include "codec/deflate_block.h"
#include "pipe/error.h"
#include "support/gz_helpers.h"

/* Where zlib finds the final block's header and the stream's end (bit
 * offsets), walking with inflate(Z_BLOCK) as examples/gzjoin.c does. */
static void zlib_final_block(const uint8_t* p, size_t n, size_t out_cap,
                             uint64_t* final_bit, uint64_t* end_bit) {
  z_stream z;
  uint8_t* out = malloc(out_cap + 1);
  uint64_t at_boundary = 0;
  int r;
  cr_assert_not_null(out);
  memset(&z, 0, sizeof(z));
  cr_assert_eq(inflateInit2(&z, -15), Z_OK);
  z.next_in = (Bytef*)p;
  z.avail_in = (uInt)n;
  z.next_out = out;
  z.avail_out = (uInt)out_cap + 1;
  for (;;) {
    r = inflate(&z, Z_BLOCK);
    cr_assert(r == Z_OK || r == Z_STREAM_END, "inflate %d", r);
    if (r == Z_STREAM_END) break;
    /* 128: stopped before a block header; 64: inside the last block. */
    if ((z.data_type & 128) && !(z.data_type & 64))
      at_boundary = (uint64_t)z.total_in * 8 - (unsigned)(z.data_type & 7);
  }
  *final_bit = at_boundary;
  *end_bit = (uint64_t)z.total_in * 8 - (unsigned)(z.data_type & 7);
  inflateEnd(&z);
  free(out);
}

static void check_walk(const uint8_t* in, size_t len, int level) {
  struct libdeflate_compressor* c = libdeflate_alloc_compressor(level);
  size_t cap = libdeflate_deflate_compress_bound(c, len), n;
  uint8_t* z = malloc(cap);
  uint64_t fb, eb, zfb, zeb;
  cr_assert_not_null(z);
  n = libdeflate_deflate_compress(c, in, len, z, cap);
  cr_assert_gt(n, 0);
  cr_assert_eq(pipe__deflate_walk(z, n, &fb, &eb), 0, "%zu bytes level %d",
               len, level);
  zlib_final_block(z, n, len, &zfb, &zeb);
  cr_assert_eq(fb, zfb, "final header: walker %llu, zlib %llu (%zu, -%d)",
               (unsigned long long)fb, (unsigned long long)zfb, len, level);
  /* zlib skips to the byte boundary after the final block; the exact end
   * bit is checked by the joining test (a wrong one breaks the stream). */
  cr_assert_eq((eb + 7) / 8 * 8, zeb, "end: walker %llu, zlib %llu (%zu, -%d)",
               (unsigned long long)eb, (unsigned long long)zeb, len, level);
  cr_assert_eq((eb + 7) / 8, n);
  cr_assert(z[fb / 8] & (1u << (fb % 8)), "BFINAL is set there");
  free(z);
  libdeflate_free_compressor(c);
}

TestSuite(deflate_block);

Test(deflate_block, walker_finds_the_final_block_where_zlib_does) {
  static const size_t sizes[] = {1, 2, 3, 100, 4000, 65536, 300001, 1 << 20};
  static const int levels[] = {1, 3, 6, 9, 12};
  size_t max = (size_t)1 << 20, i, k;
  uint8_t* text = gzh_text(max, 1);
  uint8_t* rnd = th_pattern(max, 2);
  uint8_t* zeros = calloc(1, max);
  cr_assert_not_null(zeros);
  for (i = 0; i < sizeof(sizes) / sizeof(sizes[0]); i++)
    for (k = 0; k < sizeof(levels) / sizeof(levels[0]); k++) {
      check_walk(text, sizes[i], levels[k]);
      check_walk(rnd, sizes[i], levels[k]); /* stored blocks */
      check_walk(zeros, sizes[i], levels[k]);
    }
  /* Text with random bytes mixed in: long codes (> 10 bits) and the slow
   * decode path. */
  for (i = 0; i < max; i += 37) text[i] = rnd[i];
  check_walk(text, max, 6);
  free(text);
  free(rnd);
  free(zeros);
}

Test(deflate_block, walker_refuses_every_truncation_and_garbage) {
  size_t len = 20000, cap, n, cut;
  uint8_t* text = gzh_text(len, 3);
  struct libdeflate_compressor* c = libdeflate_alloc_compressor(6);
  uint8_t* z;
  uint64_t fb, eb;
  static const uint8_t bad_type[] = {0x07, 0, 0, 0}; /* BTYPE 11 */
  static const uint8_t bad_stored[] = {0x01, 0x05, 0x00, 0x00, 0x00};
  cap = libdeflate_deflate_compress_bound(c, len);
  z = malloc(cap);
  n = libdeflate_deflate_compress(c, text, len, z, cap);
  for (cut = 0; cut < n; cut++) {
    /* A copy of exactly `cut` bytes, so ASan sees any read past it. */
    uint8_t* t = malloc(cut ? cut : 1);
    int r;
    memcpy(t, z, cut);
    r = pipe__deflate_walk(t, cut, &fb, &eb);
    cr_assert(r == PIPE_ETRUNC || r == PIPE_EGZIP, "cut %zu: %d", cut, r);
    free(t);
  }
  cr_assert_eq(pipe__deflate_walk(bad_type, sizeof(bad_type), &fb, &eb),
               PIPE_EGZIP);
  cr_assert_eq(pipe__deflate_walk(bad_stored, sizeof(bad_stored), &fb, &eb),
               PIPE_EGZIP);
  free(z);
  free(text);
  libdeflate_free_compressor(c);
}

Test(deflate_block, walker_survives_random_corruption) {
  /* Flipped bits and random bytes: any answer but a crash or a read
   * outside the buffer (ASan) is fine; a stream it accepts ends inside. */
  size_t len = 30000, cap, n, i;
  uint8_t* text = gzh_text(len, 7);
  struct libdeflate_compressor* c = libdeflate_alloc_compressor(6);
  uint8_t *z, *t;
  uint32_t x = 12345;
  cap = libdeflate_deflate_compress_bound(c, len);
  z = malloc(cap);
  n = libdeflate_deflate_compress(c, text, len, z, cap);
  t = malloc(n);
  for (i = 0; i < 3000; i++) {
    uint64_t fb, eb;
    int k, r;
    memcpy(t, z, n);
    for (k = 0; k < 1 + (int)(i % 4); k++) {
      x ^= x << 13;
      x ^= x >> 17;
      x ^= x << 5;
      if (i % 5 == 4)
        t[x % n] = (uint8_t)(x >> 8); /* a random byte */
      else
        t[(x >> 3) % n] ^= (uint8_t)(1u << (x & 7)); /* a flipped bit */
    }
    r = pipe__deflate_walk(t, n, &fb, &eb);
    cr_assert(r == 0 || r == PIPE_EGZIP || r == PIPE_ETRUNC, "%d", r);
    if (r == 0) cr_assert(fb < eb && eb <= (uint64_t)n * 8);
  }
  free(t);
  free(z);
  free(text);
  libdeflate_free_compressor(c);
}

/* Joins pieces of data (cut at `bs`) into one member as the stage does. */
static uint8_t* join(const uint8_t* data, size_t len, size_t bs,
                     pipe_dfb_engine_t engine, int level, size_t* out_len) {
  pipe_dfb_t* c;
  size_t cap = pipe__dfb_bound(bs) * (len / bs + 2), n = 0, off;
  uint8_t* out = malloc(cap);
  uint32_t crc = 0;
  cr_assert_not_null(out);
  cr_assert_eq(pipe__dfb_new(engine, level, &c), 0);
  pipe__gz_header(out, level);
  n = PIPE_GZ_HEADER_LEN;
  off = 0;
  do {
    size_t k = len - off < bs ? len - off : bs, got;
    int last = off + k == len;
    cr_assert_eq(pipe__dfb_compress(c, data + off, k, last, out + n, cap - n,
                                    &got),
                 0);
    if (!last) {
      cr_assert_geq(got, 5);
      cr_assert_eq(memcmp(out + n + got - 4, "\x00\x00\xff\xff", 4), 0,
                   "a piece ends in the sync marker");
    }
    n += got;
    crc = pipe__crc32_combine(crc, pipe__crc32(0, data + off, k), k);
    off += k;
  } while (off < len);
  pipe__gz_trailer(out + n, crc, len);
  *out_len = n + PIPE_GZ_TRAILER_LEN;
  pipe__dfb_free(c);
  return out;
}

Test(deflate_block, pieces_join_into_one_member_that_zlib_reads_to_the_end) {
  static const size_t sizes[] = {0, 1, 4095, 4096, 4097, 3 * 4096 + 5,
                                 100000};
  static const struct {
    pipe_dfb_engine_t e;
    int level;
  } engines[] = {{PIPE_DFB_LIBDEFLATE, 1}, {PIPE_DFB_LIBDEFLATE, 6},
                 {PIPE_DFB_LIBDEFLATE, 9}, {PIPE_DFB_ISAL, 1},
                 {PIPE_DFB_ISAL, 2},       {PIPE_DFB_ISAL, 3}};
  size_t i, k;
  uint8_t* text = gzh_text(100000, 4);
  uint8_t* rnd = th_pattern(100000, 5);
  for (i = 0; i < sizeof(sizes) / sizeof(sizes[0]); i++)
    for (k = 0; k < sizeof(engines) / sizeof(engines[0]); k++) {
      int d;
      for (d = 0; d < 2; d++) {
        size_t n, len = sizes[i];
        const uint8_t* data = d ? rnd : text;
        uint8_t* gz = join(data, len, 4096, engines[k].e, engines[k].level, &n);
        uint8_t* back = malloc(len + 1);
        z_stream z;
        memset(&z, 0, sizeof(z));
        cr_assert_eq(inflateInit2(&z, 31), Z_OK);
        z.next_in = gz;
        z.avail_in = (uInt)n;
        z.next_out = back;
        z.avail_out = (uInt)len + 1;
        cr_assert_eq(inflate(&z, Z_FINISH), Z_STREAM_END, "%zu bytes", len);
        cr_assert_eq(z.avail_in, 0, "nothing after the one member");
        cr_assert_eq(z.total_out, len);
        cr_assert_eq(memcmp(back, data, len), 0);
        inflateEnd(&z);
        free(back);
        free(gz);
      }
    }
  free(text);
  free(rnd);
}

/* ISA-L's worst case is a little above libdeflate's bound, which sizes the
 * stage's buffers: a block that does not fit is redone with libdeflate. */
Test(deflate_block, isal_output_that_does_not_fit_is_redone_with_libdeflate) {
  size_t len = 1 << 20, n_ld, cap, got;
  uint8_t* rnd = th_pattern(len, 6);
  struct libdeflate_compressor* ld = libdeflate_alloc_compressor(1);
  uint8_t* out = malloc(pipe__dfb_bound(len));
  uint8_t* back = malloc(len);
  pipe_dfb_t* c;
  z_stream z;
  cr_assert_not_null(out);
  n_ld = libdeflate_deflate_compress(ld, rnd, len, out, pipe__dfb_bound(len));
  cr_assert_gt(n_ld, len, "random data is stored");
  cap = n_ld + 8 + 5; /* libdeflate's piece fits, ISA-L's (len + 106) not */
  cr_assert_lt(cap, len + 106, "premise: cap %zu is too small for ISA-L", cap);
  cr_assert_eq(pipe__dfb_new(PIPE_DFB_ISAL, 1, &c), 0);
  cr_assert_eq(pipe__dfb_compress(c, rnd, len, 0, out, cap, &got), 0);
  cr_assert_leq(got, cap);
  cr_assert_eq(memcmp(out + got - 4, "\x00\x00\xff\xff", 4), 0);
  /* A final empty block after it, and the piece inflates to the data. */
  out[got] = 0x03;
  out[got + 1] = 0x00;
  memset(&z, 0, sizeof(z));
  cr_assert_eq(inflateInit2(&z, -15), Z_OK);
  z.next_in = out;
  z.avail_in = (uInt)got + 2;
  z.next_out = back;
  z.avail_out = (uInt)len;
  cr_assert_eq(inflate(&z, Z_FINISH), Z_STREAM_END);
  cr_assert_eq(z.total_out, len);
  cr_assert_eq(memcmp(back, rnd, len), 0);
  inflateEnd(&z);
  pipe__dfb_free(c);
  libdeflate_free_compressor(ld);
  free(back);
  free(out);
  free(rnd);
}

Test(deflate_block, bad_engine_or_level_is_refused) {
  pipe_dfb_t* c = (pipe_dfb_t*)1;
  cr_assert_eq(pipe__dfb_new(PIPE_DFB_ISAL, 4, &c), PIPE_EINVAL);
  cr_assert_null(c);
  cr_assert_eq(pipe__dfb_new(PIPE_DFB_ISAL, 0, &c), PIPE_EINVAL);
  cr_assert_eq(pipe__dfb_new(PIPE_DFB_LIBDEFLATE, 13, &c), PIPE_EINVAL);
  cr_assert_eq(pipe__dfb_new((pipe_dfb_engine_t)7, 1, &c), PIPE_EINVAL);
}

Test(deflate_block, empty_last_piece_is_the_two_byte_final_block) {
  pipe_dfb_t* c;
  uint8_t out[16];
  size_t n = 99;
  cr_assert_eq(pipe__dfb_new(PIPE_DFB_LIBDEFLATE, 6, &c), 0);
  cr_assert_eq(pipe__dfb_compress(c, NULL, 0, 1, out, sizeof(out), &n), 0);
  cr_assert_eq(n, 2);
  cr_assert_eq(out[0], 0x03);
  cr_assert_eq(out[1], 0x00);
  cr_assert_eq(pipe__dfb_compress(c, NULL, 0, 0, out, sizeof(out), &n), 0);
  cr_assert_eq(n, 0);
  pipe__dfb_free(c);
}

/* CRC-32 of len zero bytes, computed directly in 1 MiB steps. */
static uint32_t crc_of_zeros(uint64_t len) {
  static uint8_t z[1 << 20];
  uint32_t crc = 0;
  while (len > 0) {
    size_t k = len < sizeof(z) ? (size_t)len : sizeof(z);
    crc = pipe__crc32(crc, z, k);
    len -= k;
  }
  return crc;
}

Test(deflate_block, crc_combine_and_isize_hold_past_4_gib) {
  /* 4 GiB + 3 MiB + 5 bytes of zeros: the CRC computed in one pass equals
   * the CRCs of 1 MiB pieces joined, and of one 4 GiB piece joined to the
   * rest; ISIZE is the length modulo 2^32. */
  uint64_t len = ((uint64_t)4 << 30) + (3u << 20) + 5, off;
  uint32_t direct = crc_of_zeros(len), joined = 0, piece = crc_of_zeros(1 << 20);
  uint32_t big = crc_of_zeros((uint64_t)4 << 30);
  uint32_t tail = crc_of_zeros(len - ((uint64_t)4 << 30));
  uint8_t tr[8];
  for (off = 0; off + (1 << 20) <= len; off += 1 << 20)
    joined = pipe__crc32_combine(joined, piece, 1 << 20);
  joined = pipe__crc32_combine(joined, crc_of_zeros(len - off), len - off);
  cr_assert_eq(joined, direct, "joined %08x direct %08x", joined, direct);
  cr_assert_eq(pipe__crc32_combine(big, tail, len - ((uint64_t)4 << 30)),
               direct);
  /* And the one-pass value is zlib's crc32 too (an independent engine). */
  {
    static uint8_t z[1 << 20];
    uLong zc = crc32(0L, Z_NULL, 0);
    uint64_t left = len;
    while (left > 0) {
      uInt k = left < sizeof(z) ? (uInt)left : (uInt)sizeof(z);
      zc = crc32(zc, z, k);
      left -= k;
    }
    cr_assert_eq((uint32_t)zc, direct);
  }
  pipe__gz_trailer(tr, direct, len);
  cr_assert_eq(tr[0] | tr[1] << 8 | tr[2] << 16 | (uint32_t)tr[3] << 24,
               direct);
  cr_assert_eq(tr[4] | tr[5] << 8 | tr[6] << 16 | (uint32_t)tr[7] << 24,
               (uint32_t)((3u << 20) + 5), "ISIZE = len mod 2^32");
}
