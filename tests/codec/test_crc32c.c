/* CRC-32C: the RFC 3720 vectors on every implementation this CPU has, the
 * paths agreeing with a bit-at-a-time reference on every length, offset
 * and split, and crc32c_combine. */
#include <criterion/criterion.h>
#include <stdlib.h>
#include <string.h>

#include "codec/crc32c.h"
#include "support/harness.h"

typedef uint32_t (*crc_fn)(uint32_t, const void*, size_t);

typedef struct path_s {
  const char* name;
  crc_fn fn;
  unsigned needs; /* PIPE__CRC32C_* flags */
} path_t;

static const path_t paths[] = {
    {"dispatch", pipe__crc32c, 0},
    {"sw", pipe__crc32c_sw, 0},
    {"hw", pipe__crc32c_hw, PIPE__CRC32C_SSE42},
    {"hw3", pipe__crc32c_hw3, PIPE__CRC32C_SSE42 | PIPE__CRC32C_PCLMUL},
};
#define NPATHS (sizeof(paths) / sizeof(*paths))

/* A hardware path on a CPU without the instructions falls back to the
 * table one: still correct, but not what is being tested. Say so. */
static int available(const path_t* p) {
  return (pipe__crc32c_cpu() & p->needs) == p->needs;
}

/* The definition, one bit at a time: the oracle for everything else. */
static uint32_t crc_bitwise(uint32_t crc, const uint8_t* p, size_t n) {
  crc = ~crc;
  while (n--) {
    int k;
    crc ^= *p++;
    for (k = 0; k < 8; k++) crc = crc & 1 ? (crc >> 1) ^ 0x82F63B78u : crc >> 1;
  }
  return ~crc;
}

static void check_vector(const void* data, size_t n, uint32_t want) {
  size_t i;
  for (i = 0; i < NPATHS; i++) {
    if (!available(&paths[i])) {
      cr_log_warn("crc32c %s: CPU lacks the instructions, not tested",
                  paths[i].name);
      continue;
    }
    cr_expect_eq(paths[i].fn(0, data, n), want, "%s: %08x, want %08x",
                 paths[i].name, paths[i].fn(0, data, n), want);
  }
}

TestSuite(crc32c);

Test(crc32c, rfc3720_32_zero_bytes) {
  uint8_t b[32];
  memset(b, 0, sizeof(b));
  check_vector(b, sizeof(b), 0x8A9136AAu);
}

Test(crc32c, rfc3720_32_ff_bytes) {
  uint8_t b[32];
  memset(b, 0xff, sizeof(b));
  check_vector(b, sizeof(b), 0x62A8AB43u);
}

Test(crc32c, rfc3720_incrementing_and_decrementing_bytes) {
  uint8_t up[32], down[32];
  int i;
  for (i = 0; i < 32; i++) {
    up[i] = (uint8_t)i;
    down[i] = (uint8_t)(31 - i);
  }
  check_vector(up, 32, 0x46DD794Eu);
  check_vector(down, 32, 0x113FDB5Cu);
}

Test(crc32c, check_value_of_123456789) {
  check_vector("123456789", 9, 0xE3069283u);
}

Test(crc32c, empty_input_returns_the_crc_unchanged) {
  size_t i;
  for (i = 0; i < NPATHS; i++) {
    cr_expect_eq(paths[i].fn(0, NULL, 0), 0u, "%s", paths[i].name);
    cr_expect_eq(paths[i].fn(0xE3069283u, "", 0), 0xE3069283u, "%s",
                 paths[i].name);
  }
}

/* Every length up to a few lanes, at every alignment: covers the
 * alignment prologue, the 8-byte loop, the tails, and both lane sizes of
 * the three-stream path (3 * 256 and 3 * 8192 bytes). */
Test(crc32c, every_path_matches_the_bitwise_reference) {
  size_t max = 3 * 8192 * 2 + 3 * 256 * 3 + 77;
  uint8_t* data = th_pattern(max + 8, 42);
  size_t lens[] = {0,    1,     7,     8,     9,     15,   63,   64,
                   255,  256,   767,   768,   769,   1000, 2303, 2304,
                   4096, 24575, 24576, 24577, 49152, max};
  size_t li, off, i;
  for (li = 0; li < sizeof(lens) / sizeof(*lens); li++) {
    for (off = 0; off < 8; off++) {
      uint32_t want = crc_bitwise(0, data + off, lens[li]);
      for (i = 0; i < NPATHS; i++) {
        uint32_t got = paths[i].fn(0, data + off, lens[li]);
        cr_assert_eq(got, want, "%s len %zu off %zu: %08x, want %08x",
                     paths[i].name, lens[li], off, got, want);
      }
    }
  }
  free(data);
}

Test(crc32c, every_path_matches_on_random_lengths) {
  size_t max = 200000;
  uint8_t* data = th_pattern(max, 7);
  uint32_t x = 12345;
  int round;
  size_t i;
  for (round = 0; round < 200; round++) {
    size_t off, len;
    uint32_t want;
    x ^= x << 13, x ^= x >> 17, x ^= x << 5;
    off = x % 64;
    len = (x >> 8) % (max - 64);
    want = pipe__crc32c_sw(0, data + off, len);
    for (i = 0; i < NPATHS; i++)
      cr_assert_eq(paths[i].fn(0, data + off, len), want, "%s len %zu off %zu",
                   paths[i].name, len, off);
  }
  free(data);
}

Test(crc32c, feeding_in_pieces_gives_the_same_crc) {
  size_t n = 100000;
  uint8_t* data = th_pattern(n, 3);
  uint32_t whole = crc_bitwise(0, data, n);
  size_t steps[] = {1, 3, 8, 100, 769, 8191, 24576, 65536};
  size_t si, i;
  for (i = 0; i < NPATHS; i++) {
    for (si = 0; si < sizeof(steps) / sizeof(*steps); si++) {
      uint32_t c = 0;
      size_t pos = 0;
      while (pos < n) {
        size_t k = n - pos < steps[si] ? n - pos : steps[si];
        c = paths[i].fn(c, data + pos, k);
        pos += k;
      }
      cr_assert_eq(c, whole, "%s in steps of %zu", paths[i].name, steps[si]);
    }
  }
  free(data);
}

Test(crc32c, combine_joins_two_crcs) {
  size_t n = 70000;
  uint8_t* data = th_pattern(n, 5);
  size_t cuts[] = {0, 1, 9, 4096, 33333, n - 1, n};
  size_t i;
  for (i = 0; i < sizeof(cuts) / sizeof(*cuts); i++) {
    size_t a = cuts[i];
    uint32_t ca = pipe__crc32c(0, data, a);
    uint32_t cb = pipe__crc32c(0, data + a, n - a);
    cr_assert_eq(pipe__crc32c_combine(ca, cb, n - a), crc_bitwise(0, data, n),
                 "cut at %zu", a);
  }
  free(data);
}

Test(crc32c, reports_the_cpu_features_it_found) {
  unsigned f = pipe__crc32c_cpu();
  cr_assert_eq(f & ~(unsigned)(PIPE__CRC32C_SSE42 | PIPE__CRC32C_PCLMUL), 0u);
#if defined(__x86_64__)
  cr_log_info("crc32c: sse4.2 %s, pclmul %s",
              f & PIPE__CRC32C_SSE42 ? "yes" : "no",
              f & PIPE__CRC32C_PCLMUL ? "yes" : "no");
#endif
}
