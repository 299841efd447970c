/* The gzip stage past 4 GiB of input: one member whose trailer has the
 * CRC-32 of every byte (the blocks' CRCs joined with crc32_combine) and
 * ISIZE = length modulo 2^32, checked by zlib's own inflate (which refuses a
 * wrong CRC or ISIZE) and against the trailer bytes. Kept fast by input
 * that compresses ~200:1 (a 4,099-byte text repeated, inside the 32 KiB
 * window), so the output is ~25 MB and inflating it runs at memcpy speed.
 * The CRC/ISIZE arithmetic itself is also tested at the codec level
 * (tests/codec/test_deflate_block.c, crc_combine_and_isize_hold_past_4_gib).
 */
#include <criterion/criterion.h>
#include <stdlib.h>
#include <string.h>
#include <zlib.h>

#include "support/gz_helpers.h"

TestSuite(gzip_large, .init = th_loop_init, .fini = th_loop_fini,
          .timeout = 280);

#define PERIOD 4099

/* Inflates gz[0, n) as ONE member, streaming, and checks every byte against
 * the repeated pattern. Returns the byte count; *crc gets zlib's CRC-32 of
 * the output. */
static uint64_t inflate_check(const uint8_t* gz, size_t n, const uint8_t* pat,
                              uint32_t* crc) {
  static uint8_t out[1 << 20];
  z_stream z;
  uint64_t total = 0;
  uLong c = crc32(0L, Z_NULL, 0);
  int r;
  memset(&z, 0, sizeof(z));
  cr_assert_eq(inflateInit2(&z, 15 + 16), Z_OK);
  z.next_in = (Bytef*)gz;
  z.avail_in = (uInt)n;
  do {
    size_t got, i;
    z.next_out = out;
    z.avail_out = sizeof(out);
    r = inflate(&z, Z_NO_FLUSH);
    cr_assert(r == Z_OK || r == Z_STREAM_END, "inflate %d (%s) at byte %llu",
              r, z.msg ? z.msg : "", (unsigned long long)total);
    got = sizeof(out) - z.avail_out;
    for (i = 0; i < got;) { /* compare with the pattern, period by period */
      size_t at = (size_t)((total + i) % PERIOD), k = PERIOD - at;
      if (k > got - i) k = got - i;
      cr_assert(memcmp(out + i, pat + at, k) == 0, "wrong byte near %llu",
                (unsigned long long)(total + i));
      i += k;
    }
    c = crc32(c, out, (uInt)got);
    total += got;
  } while (r != Z_STREAM_END);
  cr_assert_eq(z.avail_in, 0, "%u bytes after the member", z.avail_in);
  inflateEnd(&z);
  *crc = (uint32_t)c;
  return total;
}

static uint32_t le32(const uint8_t* p) {
  return p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 |
         (uint32_t)p[3] << 24;
}

static void run_past_4_gib(int level) {
  /* Past 4 GiB, and not on a block boundary. */
  uint64_t total = ((uint64_t)4 << 30) + (5u << 20) + 12345;
  uint8_t* pat = gzh_text(PERIOD, 31);
  pipe_pipeline_t* pl = th_pipeline(NULL);
  pipe_gzip_config_t cfg = {level, 2, 0};
  pipe_stage_t* gz;
  th_sink_t* snk;
  pipe_gzip_stats_t st;
  uint8_t* out;
  size_t n;
  uint32_t crc;
  gzh_repeat_new(pl, pat, PERIOD, total);
  cr_assert_eq(pipe_gzip_new(pl, &cfg, &gz), 0);
  snk = th_sink_new(pl, 0, 0);
  cr_assert_eq(th_run(pl), 0);
  st = pipe_gzip_stats(gz);
  out = th_sink_take(snk, &n);
  th_finish(pl);
  cr_log_info("-%d: %llu bytes in, %zu out, %llu pieces", level,
              (unsigned long long)total, n, (unsigned long long)st.blocks);
  cr_assert_eq(st.blocks, total / PIPE_GZIP_DEFAULT_BLOCK + 1);
  cr_assert_eq(inflate_check(out, n, pat, &crc), total);
  cr_assert_eq(le32(out + n - 8), crc, "trailer CRC %08x, data's %08x",
               le32(out + n - 8), crc);
  cr_assert_eq(le32(out + n - 4), (uint32_t)(total & 0xffffffffu),
               "ISIZE %u, want %llu mod 2^32", le32(out + n - 4),
               (unsigned long long)total);
  free(out);
  free(pat);
}

Test(gzip_large, crc_and_isize_are_right_past_4_gib_at_level_1) {
  run_past_4_gib(1); /* ISA-L */
}

Test(gzip_large, crc_and_isize_are_right_past_4_gib_at_level_6) {
  run_past_4_gib(6); /* libdeflate + the walker */
}
