/* pipe — buffer pools with a hard limit.
 *
 * A pool hands out chunks of one size, at most `limit` at a time. When all
 * are out, pipe_pool_acquire() returns NULL — it never blocks and never
 * grows — and the caller either waits (pipe_pool_wait) or stops asking.
 * That NULL is backpressure in its most physical form: the peak memory of a
 * pipeline is the sum of its pools' limits, whatever the size of the input.
 *
 * Chunks are allocated lazily (a pool that never fills costs only what it
 * used) and kept for reuse until the pool is freed.
 *
 * Threads: loop thread only (CPU jobs carry buffers acquired on the loop).
 */
#ifndef PIPE_POOL_H
#define PIPE_POOL_H

#include "pipe/export.h"

#include <stddef.h>
#include <stdint.h>

#include "pipe/buf.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef struct pipe_pool_waiter_s pipe_pool_waiter_t;
typedef void (*pipe_pool_cb)(pipe_pool_waiter_t* w);

/** A one-shot wait for a free chunk. Embed it in your own struct; it must
 *  stay valid until its callback has run or pipe_pool_cancel(). */
struct pipe_pool_waiter_s {
  pipe_pool_cb cb;
  pipe_pool_waiter_t* next;
  int queued;
};

/** Statistics of one pool. */
typedef struct pipe_pool_stats_s {
  size_t size;       /* bytes per chunk */
  size_t limit;      /* most chunks ever out at once */
  size_t out;        /* chunks out now */
  size_t peak;       /* most chunks out at once so far */
  size_t allocated;  /* chunks allocated (out + cached) */
  uint64_t acquires; /* successful acquires */
  uint64_t misses;   /* acquires refused at the limit */
} pipe_pool_stats_t;

/** Creates a pool of chunks of `size` bytes, at most `limit` out at once.
 *  Returns 0 and *out, or PIPE_EINVAL (size or limit 0) / PIPE_ENOMEM. */
PIPE_EXTERN int pipe_pool_new(size_t size, size_t limit, pipe_pool_t** out);

/** Frees the pool and its cached chunks. Every chunk must have come back:
 *  if some are still out, the pool is marked for freeing and goes away when
 *  the last one returns (so a late unref never touches freed memory). */
PIPE_EXTERN void pipe_pool_free(pipe_pool_t* p);

/** A chunk with refs == 1, off == len == 0; the caller owns that reference
 *  (returns: caller owns). NULL when `limit` chunks are out or malloc
 *  failed (see pipe_pool_stats().misses). Never blocks. */
PIPE_EXTERN pipe_buf_t* pipe_pool_acquire(pipe_pool_t* p);

/** Queues a one-shot waiter: its callback runs once a chunk comes back to
 *  the pool, from inside the pipe_buf_unref() that returned it. The callback
 *  must not re-enter the code that dropped the buffer: schedule work (start
 *  an uv_fs_read, pipe_stage_defer...) rather than doing it there. Waiters
 *  are all woken, in FIFO order, when a chunk returns (each retries its
 *  acquire; the losers wait again). Returns 0, or PIPE_EBUSY
 *  if w is already queued. */
PIPE_EXTERN int pipe_pool_wait(pipe_pool_t* p, pipe_pool_waiter_t* w, pipe_pool_cb cb);

/** Removes w from the queue if it is there. Safe to call twice. */
PIPE_EXTERN void pipe_pool_cancel(pipe_pool_t* p, pipe_pool_waiter_t* w);

/** Current statistics. */
PIPE_EXTERN pipe_pool_stats_t pipe_pool_stats(const pipe_pool_t* p);

#ifdef __cplusplus
}
#endif
#endif /* PIPE_POOL_H */
