/* Test helpers for the gzip and gunzip stages: run a stage over bytes in
 * memory, run a system command over bytes, make test data.
 *
 * Each gzh_* run builds its own pipeline on th_loop() and finishes it with
 * th_finish(), so a test may call them any number of times.
 */
#ifndef TESTS_SUPPORT_GZ_HELPERS_H
#define TESTS_SUPPORT_GZ_HELPERS_H

#include <stddef.h>
#include <stdint.h>

#include "harness.h"

/** source(data, chunk) -> gzip(cfg) -> sink; asserts the run succeeds.
 *  Returns the compressed bytes (malloc'd; *out_len set). st may be NULL;
 *  else it gets the stage's statistics. chunk 0 means 64 KiB. */
uint8_t* gzh_compress(const void* data, size_t len,
                      const pipe_gzip_config_t* cfg, size_t chunk,
                      size_t* out_len, pipe_gzip_stats_t* st);

/** A source stage that pushes `total` bytes (any size: past 4 GiB) made of
 *  pattern[0, plen) repeated, without holding them in memory. Borrows
 *  pattern until the run ends. */
typedef struct gzh_repeat_s {
  pipe_stage_t stage; /* first */
  const uint8_t* pattern;
  size_t plen;
  uint64_t total, pos;
} gzh_repeat_t;

gzh_repeat_t* gzh_repeat_new(pipe_pipeline_t* pl, const uint8_t* pattern,
                             size_t plen, uint64_t total);

/** Result of a gunzip run. */
typedef struct gzh_result_s {
  int status;       /* the run's status */
  pipe_error_t err; /* copy of pipe_pipeline_error() */
  uint8_t* out;     /* bytes the sink got (malloc'd, may be NULL) */
  size_t out_len;
} gzh_result_t;

/** source(gz, chunk) -> gunzip -> sink. Does not assert on the status.
 *  chunk 0 means 64 KiB. Free r->out with free(). */
gzh_result_t gzh_gunzip(const void* gz, size_t len, size_t chunk);

/** Runs `sh -c cmd` with in[0, len) on stdin; returns its stdout
 *  (malloc'd, *out_len set) and asserts exit status 0. */
uint8_t* gzh_cmd(const char* cmd, const void* in, size_t len, size_t* out_len);

/** 1 if `prog` is found on PATH. */
int gzh_have(const char* prog);

/** n bytes of NDJSON-like text (compresses ~4:1), deterministic in seed.
 *  malloc'd. */
uint8_t* gzh_text(size_t n, uint32_t seed);

/** Asserts a == b (lengths and bytes), naming the first difference. */
void gzh_assert_same(const uint8_t* a, size_t alen, const uint8_t* b,
                     size_t blen, const char* what);

#endif /* TESTS_SUPPORT_GZ_HELPERS_H */
