/* CRC-32C (Castagnoli, reflected polynomial 0x82F63B78): a pure, loop-free
 * codec. Internal to libpipe, not installed; the hash stage wraps it.
 *
 * The API is zlib's crc32() shape: start with crc = 0, feed the data in
 * pieces of any size, each call taking the previous result; the value is
 * the finished CRC after every call (pre- and post-inversion are done
 * inside). The result is the same whatever the split of the input:
 *
 *   pipe__crc32c(0, "123456789", 9) == 0xE3069283   (RFC 3720 B.4 check)
 *
 * pipe__crc32c() picks the fastest implementation the CPU has, at every
 * call (a cached function pointer would be global mutable state; the CPU
 * feature test is one load and a bit test):
 *   - x86-64 with SSE4.2 and PCLMULQDQ: the crc32 instruction on three
 *     independent streams at once (it has a latency of 3 cycles and a
 *     throughput of 1, so one stream leaves two thirds of the unit idle),
 *     the three partial CRCs joined with a carry-less multiply;
 *   - x86-64 with SSE4.2 only: the crc32 instruction on one stream;
 *   - anything else: slicing-by-8 tables (8 lookups per 8 bytes).
 * The other entry points exist so the tests can check every path on any
 * machine that has it; production code calls pipe__crc32c().
 *
 * Threads: every function is reentrant (no state outside the arguments).
 */
#ifndef PIPE_CODEC_CRC32C_H
#define PIPE_CODEC_CRC32C_H

#include <stddef.h>
#include <stdint.h>

/** CRC-32C of p[0,n) continuing from crc (0 to start). p may be NULL when
 *  n == 0. Borrows p for the call. */
uint32_t pipe__crc32c(uint32_t crc, const void* p, size_t n);

/** The portable slicing-by-8 implementation. Same contract. */
uint32_t pipe__crc32c_sw(uint32_t crc, const void* p, size_t n);

/** Hardware paths. Same contract; call only when pipe__crc32c_cpu() says
 *  the CPU has the features (PIPE__CRC32C_SSE42 for _hw, both flags for
 *  _hw3), else they fall back to pipe__crc32c_sw(). */
uint32_t pipe__crc32c_hw(uint32_t crc, const void* p, size_t n);
uint32_t pipe__crc32c_hw3(uint32_t crc, const void* p, size_t n);

enum {
  PIPE__CRC32C_SSE42 = 1, /* crc32 instruction */
  PIPE__CRC32C_PCLMUL = 2 /* carry-less multiply (pclmulqdq) */
};

/** The CPU features the hardware paths need, as PIPE__CRC32C_* flags; 0 on
 *  other architectures. */
unsigned pipe__crc32c_cpu(void);

/** CRC of A||B from crc1 = CRC(A), crc2 = CRC(B) and len2 = |B|, as zlib's
 *  crc32_combine(): lets blocks be hashed apart (on several threads) and
 *  joined in order. O(log len2). */
uint32_t pipe__crc32c_combine(uint32_t crc1, uint32_t crc2, uint64_t len2);

#endif /* PIPE_CODEC_CRC32C_H */
