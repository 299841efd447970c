/* CSV block scanner, in four flavours with identical output (see csv_scan.h).
 *
 * The vector paths live in this one file behind target attributes, so the
 * library builds with the compiler's default flags (x86-64 baseline = SSE2)
 * and picks AVX2 / AVX-512 at run time with __builtin_cpu_supports. */
#include "codec/csv_scan.h"

#include <string.h>

#if defined(__x86_64__) && (defined(__GNUC__) || defined(__clang__))
#define PIPE_SCAN_X86 1
#include <immintrin.h>
#endif

/* Inclusive prefix XOR: bit k of the result is the parity of bits 0..k. */
static inline uint64_t prefix_xor_scalar(uint64_t x) {
  x ^= x << 1;
  x ^= x << 2;
  x ^= x << 4;
  x ^= x << 8;
  x ^= x << 16;
  x ^= x << 32;
  return x;
}

/* Combines the raw masks of one block into the outputs and advances the quote
 * carry. Shared by every level so they cannot disagree. */
/* A CR is structural unless an LF follows it in the same block: CRLF then
 * ends the record at its LF, as before. A CR in bit 63 is always marked;
 * the converter looks at the next byte itself. *crs collects the CR bits
 * put in S, so that a batch without any (LF and CRLF files) can take a loop
 * that never tests for CR. */
#define SCAN_FINISH(pxor, q, d, lf, cr, e, h)           \
  do {                                                  \
    uint64_t inq_ = (pxor) ^ *carry;                    \
    uint64_t crs_ = (cr) & ~((lf) >> 1) & ~inq_;        \
    *carry = (uint64_t)((int64_t)inq_ >> 63);           \
    *crs |= crs_;                                       \
    S[i] = (((d) | (lf)) & ~inq_) | crs_;               \
    E[i] = (e);                                         \
    H[i] = (h);                                         \
  } while (0)

static void scan_scalar(const uint8_t* p, size_t nblk, uint8_t delim,
                        uint64_t* carry, uint64_t* S, uint64_t* E,
                        uint64_t* H, uint64_t* crs) {
  size_t i;
  int k;
  for (i = 0; i < nblk; i++, p += 64) {
    uint64_t q = 0, d = 0, lf = 0, cr = 0, e = 0, h = 0;
    for (k = 0; k < 64; k++) {
      uint8_t c = p[k];
      uint64_t b = (uint64_t)1 << k;
      if (c == '"') q |= b;
      if (c == delim) d |= b;
      if (c == '\n') lf |= b;
      if (c == '\r') cr |= b;
      if (c < 0x20 || c == '"' || c == '\\') e |= b;
      if (c >= 0x80) h |= b;
    }
    SCAN_FINISH(prefix_xor_scalar(q), q, d, lf, cr, e, h);
  }
}

#ifdef PIPE_SCAN_X86
static inline uint64_t mm_mask(__m128i a, __m128i b, __m128i c, __m128i d) {
  return (uint64_t)(uint16_t)_mm_movemask_epi8(a) |
         ((uint64_t)(uint16_t)_mm_movemask_epi8(b) << 16) |
         ((uint64_t)(uint16_t)_mm_movemask_epi8(c) << 32) |
         ((uint64_t)(uint16_t)_mm_movemask_epi8(d) << 48);
}

static void scan_sse2(const uint8_t* p, size_t nblk, uint8_t delim,
                      uint64_t* carry, uint64_t* S, uint64_t* E, uint64_t* H,
                      uint64_t* crs) {
  const __m128i vq = _mm_set1_epi8('"'), vd = _mm_set1_epi8((char)delim);
  const __m128i vl = _mm_set1_epi8('\n'), vb = _mm_set1_epi8('\\');
  const __m128i vc = _mm_set1_epi8('\r');
  const __m128i v1f = _mm_set1_epi8(0x1f);
  size_t i;
  for (i = 0; i < nblk; i++, p += 64) {
    __m128i x[4];
    __m128i mq[4], md[4], ml[4], mc[4], me[4];
    int k;
    for (k = 0; k < 4; k++) {
      x[k] = _mm_loadu_si128((const __m128i*)(p + 16 * k));
      mq[k] = _mm_cmpeq_epi8(x[k], vq);
      md[k] = _mm_cmpeq_epi8(x[k], vd);
      ml[k] = _mm_cmpeq_epi8(x[k], vl);
      mc[k] = _mm_cmpeq_epi8(x[k], vc);
      /* x < 0x20 (unsigned) <=> min(x, 0x1f) == x */
      me[k] = _mm_or_si128(
          _mm_or_si128(mq[k], _mm_cmpeq_epi8(x[k], vb)),
          _mm_cmpeq_epi8(_mm_min_epu8(x[k], v1f), x[k]));
    }
    {
      uint64_t q = mm_mask(mq[0], mq[1], mq[2], mq[3]);
      uint64_t d = mm_mask(md[0], md[1], md[2], md[3]);
      uint64_t lf = mm_mask(ml[0], ml[1], ml[2], ml[3]);
      uint64_t cr = mm_mask(mc[0], mc[1], mc[2], mc[3]);
      uint64_t e = mm_mask(me[0], me[1], me[2], me[3]);
      uint64_t h = mm_mask(x[0], x[1], x[2], x[3]);
      SCAN_FINISH(prefix_xor_scalar(q), q, d, lf, cr, e, h);
    }
  }
}

__attribute__((target("avx2,pclmul"))) static inline uint64_t clmul_pxor(
    uint64_t q) {
  return (uint64_t)_mm_cvtsi128_si64(_mm_clmulepi64_si128(
      _mm_set_epi64x(0, (long long)q), _mm_set1_epi8((char)0xff), 0));
}

__attribute__((target("avx2,pclmul"))) static inline uint64_t m256(
    __m256i a, __m256i b) {
  return (uint64_t)(uint32_t)_mm256_movemask_epi8(a) |
         ((uint64_t)(uint32_t)_mm256_movemask_epi8(b) << 32);
}

__attribute__((target("avx2,pclmul"))) static void scan_avx2(
    const uint8_t* p, size_t nblk, uint8_t delim, uint64_t* carry, uint64_t* S,
    uint64_t* E, uint64_t* H, uint64_t* crs) {
  const __m256i vq = _mm256_set1_epi8('"'), vd = _mm256_set1_epi8((char)delim);
  const __m256i vl = _mm256_set1_epi8('\n'), vb = _mm256_set1_epi8('\\');
  const __m256i vc = _mm256_set1_epi8('\r');
  const __m256i v1f = _mm256_set1_epi8(0x1f);
  size_t i;
  for (i = 0; i < nblk; i++, p += 64) {
    __m256i a = _mm256_loadu_si256((const __m256i*)p);
    __m256i b = _mm256_loadu_si256((const __m256i*)(p + 32));
    __m256i qa = _mm256_cmpeq_epi8(a, vq), qb = _mm256_cmpeq_epi8(b, vq);
    __m256i ea = _mm256_or_si256(
        _mm256_or_si256(qa, _mm256_cmpeq_epi8(a, vb)),
        _mm256_cmpeq_epi8(_mm256_min_epu8(a, v1f), a));
    __m256i eb = _mm256_or_si256(
        _mm256_or_si256(qb, _mm256_cmpeq_epi8(b, vb)),
        _mm256_cmpeq_epi8(_mm256_min_epu8(b, v1f), b));
    uint64_t q = m256(qa, qb);
    uint64_t d = m256(_mm256_cmpeq_epi8(a, vd), _mm256_cmpeq_epi8(b, vd));
    uint64_t lf = m256(_mm256_cmpeq_epi8(a, vl), _mm256_cmpeq_epi8(b, vl));
    uint64_t cr = m256(_mm256_cmpeq_epi8(a, vc), _mm256_cmpeq_epi8(b, vc));
    uint64_t e = m256(ea, eb);
    uint64_t h = m256(a, b);
    SCAN_FINISH(clmul_pxor(q), q, d, lf, cr, e, h);
  }
}

__attribute__((target("avx512bw,pclmul"))) static inline uint64_t clmul_pxor5(
    uint64_t q) {
  return (uint64_t)_mm_cvtsi128_si64(_mm_clmulepi64_si128(
      _mm_set_epi64x(0, (long long)q), _mm_set1_epi8((char)0xff), 0));
}

__attribute__((target("avx512bw,pclmul"))) static void scan_avx512(
    const uint8_t* p, size_t nblk, uint8_t delim, uint64_t* carry, uint64_t* S,
    uint64_t* E, uint64_t* H, uint64_t* crs) {
  const __m512i vq = _mm512_set1_epi8('"'), vd = _mm512_set1_epi8((char)delim);
  const __m512i vl = _mm512_set1_epi8('\n'), vb = _mm512_set1_epi8('\\');
  const __m512i vc = _mm512_set1_epi8('\r');
  const __m512i v20 = _mm512_set1_epi8(0x20);
  size_t i;
  for (i = 0; i < nblk; i++, p += 64) {
    __m512i a = _mm512_loadu_si512((const void*)p);
    uint64_t q = _mm512_cmpeq_epi8_mask(a, vq);
    uint64_t d = _mm512_cmpeq_epi8_mask(a, vd);
    uint64_t lf = _mm512_cmpeq_epi8_mask(a, vl);
    uint64_t cr = _mm512_cmpeq_epi8_mask(a, vc);
    uint64_t e = q | _mm512_cmpeq_epi8_mask(a, vb) |
                 _mm512_cmplt_epu8_mask(a, v20);
    uint64_t h = _mm512_movepi8_mask(a);
    SCAN_FINISH(clmul_pxor5(q), q, d, lf, cr, e, h);
  }
}
#endif /* PIPE_SCAN_X86 */

pipe_csv_scan_fn pipe__csv_scan_get(int level) {
  switch (level) {
    case PIPE_CSV_SCAN_SCALAR: return scan_scalar;
#ifdef PIPE_SCAN_X86
    case PIPE_CSV_SCAN_SSE2: return scan_sse2;
    case PIPE_CSV_SCAN_AVX2:
      __builtin_cpu_init();
      if (__builtin_cpu_supports("avx2") && __builtin_cpu_supports("pclmul"))
        return scan_avx2;
      return NULL;
    case PIPE_CSV_SCAN_AVX512:
      __builtin_cpu_init();
      if (__builtin_cpu_supports("avx512bw") &&
          __builtin_cpu_supports("pclmul"))
        return scan_avx512;
      return NULL;
#endif
    default: return NULL;
  }
}

/* AVX2 is the default even where AVX-512 runs: the scan is under a tenth of
 * the converter's time, both measure the same end to end, and 512-bit code
 * can lower the clock of the whole core on some CPUs (Skylake-SP). AVX-512
 * stays selectable with pipe__csvj_set_scan_level(). */
int pipe__csv_scan_best(void) {
  if (pipe__csv_scan_get(PIPE_CSV_SCAN_AVX2) != NULL) return PIPE_CSV_SCAN_AVX2;
#ifdef PIPE_SCAN_X86
  return PIPE_CSV_SCAN_SSE2;
#else
  return PIPE_CSV_SCAN_SCALAR;
#endif
}

const char* pipe__csv_scan_name(int level) {
  static const char* const names[] = {"scalar", "sse2", "avx2", "avx512"};
  if (level < 0 || level >= PIPE_CSV_SCAN_NLEVELS) return "?";
  return names[level];
}
