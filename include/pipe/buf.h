/* pipe — reference-counted fixed-capacity buffers.
 *
 * A buffer is one chunk of a pool (pool.h). Its readable bytes are
 * base[off, off+len); the rest of base[0, cap) is free space a producer may
 * fill. Releasing the last reference gives the chunk back to its pool, not
 * to malloc: that is what makes a pipeline's memory a sum of pool limits.
 *
 * Threads: the reference count is not atomic. Only the loop thread takes and
 * drops references; a CPU job on the thread pool may read or write a
 * buffer's bytes that it was handed, but never refs, unrefs or acquires.
 */
#ifndef PIPE_BUF_H
#define PIPE_BUF_H

#include "pipe/export.h"

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

typedef struct pipe_pool_s pipe_pool_t;
typedef struct pipe_buf_s pipe_buf_t;

struct pipe_buf_s {
  uint8_t* base;      /* storage, owned by the pool */
  size_t cap;         /* bytes at base */
  size_t off;         /* first readable byte */
  size_t len;         /* readable bytes: base[off, off+len) */
  uint32_t refs;      /* > 1 means shared: treat as read-only */
  pipe_pool_t* pool;  /* where the last unref returns it */
  pipe_buf_t* next;   /* intrusive link, for the current owner only */
};

/** Readable bytes. */
static inline uint8_t* pipe_buf_data(const pipe_buf_t* b) { return b->base + b->off; }
/** Free space after the readable bytes. */
static inline uint8_t* pipe_buf_tail(const pipe_buf_t* b) {
  return b->base + b->off + b->len;
}
/** Bytes of free space after the readable bytes. */
static inline size_t pipe_buf_room(const pipe_buf_t* b) {
  return b->cap - b->off - b->len;
}

/** Takes one more reference; returns b. Loop thread only. */
PIPE_EXTERN pipe_buf_t* pipe_buf_ref(pipe_buf_t* b);

/** Drops one reference (the caller gives up its reference, whatever else it
 *  holds). The last one returns the chunk to its pool, which may wake one
 *  pool waiter. Loop thread only. NULL is accepted and ignored. */
PIPE_EXTERN void pipe_buf_unref(pipe_buf_t* b);

#ifdef __cplusplus
}
#endif
#endif /* PIPE_BUF_H */
