/* Test helpers for the CSV -> JSON codec (src/codec/csv2json.c).
 *
 * csvj_convert() drives the converter the way the stage does: input cut at
 * the given split points, output into a buffer of `outcap` bytes that is only
 * handed on once less than 256 bytes are left, finish() until it stops saying
 * PIPE_FULL. It checks the contract on the way (progress on every call, all
 * input consumed, no call after an error).
 *
 * csvj_expect*() run one input through every scanner level, whole and cut at
 * every byte position (short inputs) plus random multi-cuts with output caps
 * of 256..1024 and byte-at-a-time feeding, and assert every run gives the
 * same output (and the same error, line, column, offset). */
#ifndef PIPE_TESTS_CSVJ_RUN_H
#define PIPE_TESTS_CSVJ_RUN_H

#include <stddef.h>
#include <stdint.h>

#include "codec/csv2json.h"

typedef struct csvj_result_s {
  char* out;         /* produced bytes, NUL-terminated, malloc'd */
  size_t len;
  int rc;            /* 0 or the error code */
  pipe_error_t err;  /* copy of pipe__csvj_error() */
  uint64_t records;
} csvj_result_t;

/** Runs one conversion (see above); level < 0 = the default scanner. */
void csvj_convert(const pipe_csvj_opts_t* o, int level, const void* in,
                  size_t n, const size_t* splits, size_t nsplits,
                  size_t outcap, csvj_result_t* res);
void csvj_result_free(csvj_result_t* res);

/** Default options (',', header, NDJSON, strict). */
pipe_csvj_opts_t csvj_opts(void);

/** Asserts every split/cap/level gives `expected` and no error. */
void csvj_expect(const pipe_csvj_opts_t* o, const char* in,
                 const char* expected);
/** Same with an explicit input length (NUL bytes, binary). */
void csvj_expect_n(const pipe_csvj_opts_t* o, const void* in, size_t n,
                   const char* expected);
/** Asserts every run fails with `code` and identical position; fills *err
 *  (may be NULL) with the error of the whole-input run. */
void csvj_expect_error(const pipe_csvj_opts_t* o, const void* in, size_t n,
                       int code, pipe_error_t* err);

/** Deterministic PRNG (xorshift64*) for tests. */
uint64_t csvj_rand(uint64_t* state);

#endif
