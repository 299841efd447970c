/* Buffer pools: fixed-size chunks, a hard limit, a FIFO of waiters.
 *
 * Contract: `out` chunks are held by users; `free` is a stack of returned
 * chunks kept for reuse (each chunk is one malloc: header + bytes, so a
 * buffer never outlives its storage). out + |free| == allocated <= limit.
 * A pool asked to die while chunks are out lingers (`dying`) until the last
 * one returns: the pipeline can tear down in any order.
 */
#include <stdlib.h>

#include "pipe/error.h"
#include "pipe/pool.h"

struct pipe_pool_s {
  size_t size;
  size_t limit;
  size_t out;
  size_t peak;
  size_t allocated;
  uint64_t acquires;
  uint64_t misses;
  pipe_buf_t* free;            /* cached chunks, linked by ->next */
  pipe_pool_waiter_t* wait_head;
  pipe_pool_waiter_t* wait_tail;
  int dying;
};

int pipe_pool_new(size_t size, size_t limit, pipe_pool_t** out) {
  pipe_pool_t* p;
  *out = NULL;
  if (size == 0 || limit == 0) return PIPE_EINVAL;
  p = calloc(1, sizeof(*p));
  if (p == NULL) return PIPE_ENOMEM;
  p->size = size;
  p->limit = limit;
  *out = p;
  return 0;
}

static void pool_release_cache(pipe_pool_t* p) {
  while (p->free != NULL) {
    pipe_buf_t* b = p->free;
    p->free = b->next;
    p->allocated--;
    free(b);
  }
}

void pipe_pool_free(pipe_pool_t* p) {
  pipe_pool_waiter_t* w;
  if (p == NULL) return;
  pool_release_cache(p);
  for (w = p->wait_head; w != NULL; w = w->next) w->queued = 0;
  p->wait_head = p->wait_tail = NULL;
  if (p->out > 0) {
    p->dying = 1; /* the last pipe_buf_unref() frees it */
    return;
  }
  free(p);
}

pipe_buf_t* pipe_pool_acquire(pipe_pool_t* p) {
  pipe_buf_t* b;
  if (p->dying) return NULL;
  if (p->free != NULL) {
    b = p->free;
    p->free = b->next;
  } else {
    if (p->allocated >= p->limit) {
      p->misses++;
      return NULL;
    }
    /* One allocation per chunk, 64-byte aligned data for the SIMD scanners. */
    size_t hdr = (sizeof(pipe_buf_t) + 63) & ~(size_t)63;
    void* mem = NULL;
    if (posix_memalign(&mem, 64, hdr + p->size) != 0) {
      p->misses++;
      return NULL;
    }
    b = mem;
    b->base = (uint8_t*)mem + hdr;
    b->cap = p->size;
    b->pool = p;
    p->allocated++;
  }
  b->off = 0;
  b->len = 0;
  b->refs = 1;
  b->next = NULL;
  p->out++;
  p->acquires++;
  if (p->out > p->peak) p->peak = p->out;
  return b;
}

int pipe_pool_wait(pipe_pool_t* p, pipe_pool_waiter_t* w, pipe_pool_cb cb) {
  if (w->queued) return PIPE_EBUSY;
  w->cb = cb;
  w->next = NULL;
  w->queued = 1;
  if (p->wait_tail != NULL)
    p->wait_tail->next = w;
  else
    p->wait_head = w;
  p->wait_tail = w;
  return 0;
}

void pipe_pool_cancel(pipe_pool_t* p, pipe_pool_waiter_t* w) {
  pipe_pool_waiter_t** pp;
  pipe_pool_waiter_t* prev = NULL;
  if (!w->queued) return;
  /* Only a waiter found in *this* pool's queue is unlinked and marked idle:
   * a waiter queued on another pool must stay linked there (clearing its
   * flag here would leave it in that list with next == NULL, cutting off
   * the waiters behind it and leaving wait_tail dangling). */
  for (pp = &p->wait_head; *pp != NULL; prev = *pp, pp = &(*pp)->next) {
    if (*pp == w) {
      *pp = w->next;
      if (p->wait_tail == w) p->wait_tail = prev;
      w->queued = 0;
      w->next = NULL;
      return;
    }
  }
}

pipe_pool_stats_t pipe_pool_stats(const pipe_pool_t* p) {
  pipe_pool_stats_t s;
  s.size = p->size;
  s.limit = p->limit;
  s.out = p->out;
  s.peak = p->peak;
  s.allocated = p->allocated;
  s.acquires = p->acquires;
  s.misses = p->misses;
  return s;
}

pipe_buf_t* pipe_buf_ref(pipe_buf_t* b) {
  b->refs++;
  return b;
}

void pipe_buf_unref(pipe_buf_t* b) {
  pipe_pool_t* p;
  pipe_pool_waiter_t* w;
  if (b == NULL) return;
  if (--b->refs > 0) return;
  p = b->pool;
  p->out--;
  if (p->dying) {
    p->allocated--;
    free(b);
    if (p->out == 0) free(p);
    return;
  }
  b->next = p->free;
  p->free = b;
  /* Wake every waiter: each one only schedules a retry, and one that no
   * longer wants a chunk must not strand the others (waking just one would
   * lose the wake-up if that one does not acquire). Pools have a handful of
   * waiters at most, so the herd is small. The queue is detached first: a
   * callback may queue its waiter again. */
  w = p->wait_head;
  p->wait_head = p->wait_tail = NULL;
  while (w != NULL) {
    pipe_pool_waiter_t* next = w->next;
    w->queued = 0;
    w->next = NULL;
    w->cb(w);
    w = next;
  }
}
