/* CSV block scanner: classifies 64-byte blocks of input into bitmasks.
 *
 * Internal to libpipe (not installed). Pure functions, no state besides the
 * caller's quote carry, safe on any thread.
 *
 * For block i (bytes p[64*i, 64*i+64)), bit k of each mask describes byte
 * p[64*i + k]:
 *   S[i]  structural: the delimiter, LF, or a CR not followed by an LF in
 *         the same block (so a CR in bit 63 always), *outside* double
 *         quotes, where "inside" is the prefix XOR of all quote bytes seen
 *         since the scan started (like simdjson / simdcsv). That is exact
 *         for RFC 4180 input; the converter validates every field it takes
 *         from S and falls back to its byte-level state machine where the
 *         input is not RFC-shaped (a literal quote inside an unquoted field,
 *         junk after a closing quote).
 *   E[i]  bytes a JSON string must escape, and quotes: < 0x20, '"', '\\'.
 *   H[i]  bytes >= 0x80 (UTF-8 to validate).
 * *carry is all-ones when the scan is inside quotes after the last block (in:
 * the state before the first block). Every level gives identical masks.
 */
#ifndef PIPE_CODEC_CSV_SCAN_H
#define PIPE_CODEC_CSV_SCAN_H

#include <stddef.h>
#include <stdint.h>

enum {
  PIPE_CSV_SCAN_SCALAR = 0, /* portable C, any CPU */
  PIPE_CSV_SCAN_SSE2 = 1,   /* x86-64 baseline */
  PIPE_CSV_SCAN_AVX2 = 2,   /* AVX2 + PCLMUL, chosen at run time */
  PIPE_CSV_SCAN_AVX512 = 3, /* AVX-512BW + PCLMUL, chosen at run time */
  PIPE_CSV_SCAN_NLEVELS = 4
};

/** Scans nblk full 64-byte blocks at p (all readable). ORs into *crs the
 *  CR bits it put in S (of every block: positions are lost, it says whether
 *  there are any, and bit 63 whether one sat in a block's last byte). */
typedef void (*pipe_csv_scan_fn)(const uint8_t* p, size_t nblk, uint8_t delim,
                                 uint64_t* carry, uint64_t* S, uint64_t* E,
                                 uint64_t* H, uint64_t* crs);

/** Default level for this build and CPU: AVX2 where it runs, else SSE2
 *  (x86-64), else scalar. */
int pipe__csv_scan_best(void);
/** The scanner for a level, or NULL when this build/CPU cannot run it. Used by
 *  tests to force each path (the converter keeps the choice per instance, so
 *  there is no global switch). */
pipe_csv_scan_fn pipe__csv_scan_get(int level);
/** "scalar", "sse2", "avx2", "avx512". */
const char* pipe__csv_scan_name(int level);

#endif /* PIPE_CODEC_CSV_SCAN_H */
