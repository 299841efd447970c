/* The gzip stage past 4 GiB of input: one member whose trailer has the
 * CRC-32 of every byte (the blocks' CRCs joined with crc32_combine) and
 * ISIZE = length modulo 2^32, checked by zlib's own inflate (which refuses a
 * wrong CRC or ISIZE) and against the trailer bytes, with the process's
 * peak RSS growing by the stage's bounded memory only. Kept fast by input
 * that compresses ~200:1 (a 4,099-byte text repeated, inside the 32 KiB
 * window; ~47 MB of output at -6, ~170 MB at -1, inflated as it comes),
 * so inflating runs at memcpy speed.
 * The CRC/ISIZE arithmetic itself is also tested at the codec level
 * (tests/codec/test_deflate_block.c, crc_combine_and_isize_hold_past_4_gib).
 */
#include <criterion/criterion.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <zlib.h>

#include "support/gz_helpers.h"

TestSuite(gzip_large, .init = th_loop_init, .fini = th_loop_fini,
          .timeout = 280);

#define PERIOD 4099

/* A sink that inflates what it gets as it comes, as ONE member, checks
 * every byte against the repeated pattern, and keeps only the last 8
 * bytes (the trailer): memory stays flat whatever the size. */
typedef struct zsink_s {
  pipe_stage_t stage; /* first */
  z_stream z;
  const uint8_t* pat;
  uint64_t out_total, in_total;
  uLong crc;
  uint8_t tail[8];
  int ended, bad;
  char msg[160];
} zsink_t;

static void zsink_feed(zsink_t* k, const uint8_t* p, size_t n) {
  static uint8_t out[1 << 20];
  int r = Z_OK;
  k->z.next_in = (Bytef*)p;
  k->z.avail_in = (uInt)n;
  while (!k->bad && k->z.avail_in > 0) {
    size_t got, i;
    if (k->ended) { /* bytes after the member's end */
      k->bad = 1;
      snprintf(k->msg, sizeof(k->msg), "%u bytes after the member",
               k->z.avail_in);
      return;
    }
    k->z.next_out = out;
    k->z.avail_out = sizeof(out);
    r = inflate(&k->z, Z_NO_FLUSH);
    if (r != Z_OK && r != Z_STREAM_END) {
      k->bad = 1;
      snprintf(k->msg, sizeof(k->msg), "inflate %d (%s) at output byte %llu",
               r, k->z.msg ? k->z.msg : "", (unsigned long long)k->out_total);
      return;
    }
    got = sizeof(out) - k->z.avail_out;
    for (i = 0; i < got;) { /* compare with the pattern, period by period */
      size_t at = (size_t)((k->out_total + i) % PERIOD), m = PERIOD - at;
      if (m > got - i) m = got - i;
      if (memcmp(out + i, k->pat + at, m) != 0) {
        k->bad = 1;
        snprintf(k->msg, sizeof(k->msg), "wrong byte near %llu",
                 (unsigned long long)(k->out_total + i));
        return;
      }
      i += m;
    }
    k->crc = crc32(k->crc, out, (uInt)got);
    k->out_total += got;
    if (r == Z_STREAM_END) k->ended = 1;
  }
}

static int zsink_write(pipe_stage_t* s, pipe_buf_t* b) {
  zsink_t* k = (zsink_t*)s;
  size_t n = b->len, i;
  for (i = 0; i < n; i++) /* the last 8 bytes seen: the trailer at the end */
    if (n - i <= 8) {
      memmove(k->tail, k->tail + 1, 7);
      k->tail[7] = pipe_buf_data(b)[i];
    }
  k->in_total += n;
  zsink_feed(k, pipe_buf_data(b), n);
  pipe_buf_unref(b);
  return PIPE_OK;
}

static int zsink_end(pipe_stage_t* s) {
  pipe_stage_end(s);
  return 0;
}

static void zsink_destroy(pipe_stage_t* s, int status) {
  (void)status;
  inflateEnd(&((zsink_t*)s)->z);
}

static const pipe_stage_ops_t zsink_ops = {
    .name = "zsink",
    .size = sizeof(zsink_t),
    .write = zsink_write,
    .end = zsink_end,
    .destroy = zsink_destroy,
};

static uint32_t le32(const uint8_t* p) {
  return p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 |
         (uint32_t)p[3] << 24;
}

static long max_rss_kib(void) {
  struct rusage ru;
  getrusage(RUSAGE_SELF, &ru);
  return ru.ru_maxrss;
}

static void run_past_4_gib(int level) {
  /* Past 4 GiB, and not on a block boundary. */
  uint64_t total = ((uint64_t)4 << 30) + (5u << 20) + 12345;
  uint8_t* pat = gzh_text(PERIOD, 31);
  pipe_pipeline_t* pl = th_pipeline(NULL);
  pipe_gzip_config_t cfg = {level, 2, 0};
  pipe_stage_t *gz, *ks;
  zsink_t* k;
  pipe_gzip_stats_t st;
  long rss0 = max_rss_kib(), rss1;
  gzh_repeat_new(pl, pat, PERIOD, total);
  cr_assert_eq(pipe_gzip_new(pl, &cfg, &gz), 0);
  cr_assert_eq(pipe_stage_new(pl, &zsink_ops, &ks), 0);
  k = (zsink_t*)ks;
  k->pat = pat;
  k->crc = crc32(0L, Z_NULL, 0);
  cr_assert_eq(inflateInit2(&k->z, 15 + 16), Z_OK);
  cr_assert_eq(th_run(pl), 0);
  rss1 = max_rss_kib();
  st = pipe_gzip_stats(gz);
  cr_log_info("-%d: %llu bytes in, %llu out, %llu pieces, max RSS %ld -> %ld "
              "KiB",
              level, (unsigned long long)total,
              (unsigned long long)k->in_total, (unsigned long long)st.blocks,
              rss0, rss1);
  cr_assert_not(k->bad, "%s", k->msg);
  cr_assert(k->ended, "the member did not end (%llu bytes out)",
            (unsigned long long)k->out_total);
  cr_assert_eq(k->out_total, total);
  cr_assert_eq(st.blocks, total / PIPE_GZIP_DEFAULT_BLOCK + 1);
  cr_assert_eq(le32(k->tail), (uint32_t)k->crc, "trailer CRC %08x, data's %08x",
               le32(k->tail), (uint32_t)k->crc);
  cr_assert_eq(le32(k->tail + 4), (uint32_t)(total & 0xffffffffu),
               "ISIZE %u, want %llu mod 2^32", le32(k->tail + 4),
               (unsigned long long)total);
#ifndef __SANITIZE_ADDRESS__ /* ASan's shadow and quarantine inflate RSS */
  /* 4 GiB through the stage, and the process grew by the stage's bounded
   * memory only: its slots and buffers, ~10 MiB with 2 threads. */
  cr_assert_lt(rss1 - rss0, 24 * 1024, "max RSS grew by %ld KiB",
               rss1 - rss0);
#endif
  th_finish(pl);
  free(pat);
}

Test(gzip_large, crc_and_isize_are_right_past_4_gib_at_level_1) {
  run_past_4_gib(1); /* ISA-L */
}

Test(gzip_large, crc_and_isize_are_right_past_4_gib_at_level_6) {
  run_past_4_gib(6); /* libdeflate + the walker */
}
