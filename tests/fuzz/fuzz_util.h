/* Helpers shared by the fuzz targets: a growing byte buffer (traps on
 * OOM: a fuzz target has no one to report to) and a xorshift64 generator
 * for the piece sizes a target cuts its input into. */
#ifndef PIPE_FUZZ_UTIL_H
#define PIPE_FUZZ_UTIL_H

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

typedef struct {
  uint8_t* p;
  size_t len, cap;
} fz_buf_t;

static inline void fz_add(fz_buf_t* b, const void* p, size_t n) {
  if (b->len + n > b->cap) {
    size_t nc = b->cap ? b->cap : 4096;
    while (nc < b->len + n) nc *= 2;
    b->p = realloc(b->p, nc);
    if (b->p == NULL) __builtin_trap();
    b->cap = nc;
  }
  if (n) memcpy(b->p + b->len, p, n);
  b->len += n;
}

static inline uint64_t fz_rand(uint64_t* s) {
  *s ^= *s << 13;
  *s ^= *s >> 7;
  *s ^= *s << 17;
  return *s;
}

#endif /* PIPE_FUZZ_UTIL_H */
