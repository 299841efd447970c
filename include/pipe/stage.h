/* pipe — the stage interface: sources, transforms and sinks.
 *
 * A stage is one step of a pipeline (pipeline.h). Data flows down as pooled
 * buffers through pipe_stage_push(); demand flows up as the return value of
 * push and, later, a resume() call — Node's `write() === false` / 'drain'
 * contract without an event emitter (nginx AGAIN, GStreamer flow returns).
 *
 * Rules every stage follows (and the core enforces where it can):
 * 1. Ownership: write() and pipe_stage_push() TAKE the buffer whatever they
 *    return. A stage that keeps a buffer and also forwards it takes a ref.
 * 2. Flow: write() returns PIPE_OK (keep going), PIPE_FULL (accepted, do not
 *    write again until resume()), or < 0 (error; the pipeline is failing).
 *    A stage that returned PIPE_FULL calls pipe_stage_drain() once it can
 *    take more; the core then resumes the stage above it.
 * 3. Memory: a stage's output comes from its own pool (s->pool, created by
 *    the pipeline with a hard limit); an empty pool means wait
 *    (pipe_stage_wait_pool), never malloc.
 * 4. Threads: every function here is loop thread only. CPU-heavy work goes
 *    to libuv's thread pool through pipe_stage_queue_work() (pipe/work.h),
 *    which shares the context's CPU budget with every other pipeline.
 * 5. Teardown: destroy() runs exactly once per stage, on success (status 0)
 *    and on failure (status < 0: sinks abort — remove temp files, abort
 *    uploads). Async work still in flight holds the pipeline open through
 *    pipe_stage_hold()/pipe_stage_release(); callbacks arriving after
 *    destroy() must only release what they carry.
 */
#ifndef PIPE_STAGE_H
#define PIPE_STAGE_H

#include "pipe/export.h"

#include <stddef.h>
#include <stdint.h>

#include "pipe/buf.h"
#include "pipe/error.h"
#include "pipe/pool.h"
#include "pipe/work.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef struct pipe_pipeline_s pipe_pipeline_t;
typedef struct pipe_stage_s pipe_stage_t;

/** One const table per stage kind (curl's Curl_cwtype), written with
 *  designated initializers (.name = ..., .write = ...) so that an op added
 *  here later shifts no table. Unused slots NULL. */
typedef struct pipe_stage_ops_s {
  const char* name; /* "csv2json": used in errors, logs and counters */
  size_t size;      /* sizeof the concrete stage; pipe_stage_t first member */
  /** Called once by pipe_pipeline_run(), sink first, source last. Sources
   *  begin producing here. < 0 fails the pipeline. */
  int (*start)(pipe_stage_t* s);
  /** Upstream hands over buf (takes it, in every outcome). Returns PIPE_OK,
   *  PIPE_FULL or < 0. NULL for sources. */
  int (*write)(pipe_stage_t* s, pipe_buf_t* buf);
  /** Upstream has finished. Flush (possibly asynchronously), then call
   *  pipe_stage_end(s). < 0 fails the pipeline. NULL for sources. */
  int (*end)(pipe_stage_t* s);
  /** Downstream has room again, or a buffer came back to the pool the stage
   *  waited on. Re-check state and continue. Always called from the
   *  pipeline's deferred queue, never from inside another stage's call. */
  void (*resume)(pipe_stage_t* s);
  /** Exactly once, at the end of the run. status < 0 means abort. */
  void (*destroy)(pipe_stage_t* s, int status);
} pipe_stage_ops_t;

/** Per-stage counters, readable at any time (pipe_pipeline_stage()). */
typedef struct pipe_stage_stats_s {
  uint64_t bytes_in, bytes_out;
  uint64_t bufs_in, bufs_out;
  uint64_t blocked_ns; /* time spent with downstream FULL */
  uint64_t waits;      /* times the stage waited on downstream or its pool */
} pipe_stage_stats_t;

/* Pools a stage may own besides its output pool (pipe_stage_pool_new). */
#define PIPE_STAGE_MAX_POOLS 4

struct pipe_stage_s {
  const pipe_stage_ops_t* ops;
  pipe_pipeline_t* pipeline;
  pipe_stage_t* prev;  /* upstream, NULL for the source */
  pipe_stage_t* next;  /* downstream, NULL for the sink */
  pipe_pool_t* pool;   /* this stage's output buffers */
  const char* name;    /* ops->name unless changed */
  pipe_stage_stats_t stats;
  /* Flush signal handler (pipe_stage_flush): set by the constructor of a
   * stage that holds data back for efficiency (pipe_xform_new sets it for
   * every transform). It hands on what it holds as soon as it can (a partly
   * filled output buffer), then calls pipe_stage_flush(s). NULL: the stage
   * holds nothing back; the signal skips it. (A member here rather than an
   * op, so that no ops table needs a new slot.) */
  void (*flush)(pipe_stage_t* s);
  /* The rest is the core's. */
  unsigned blocked : 1;     /* pushed and got PIPE_FULL: waiting for drain */
  unsigned end_pending : 1; /* pipe_stage_end() while blocked */
  unsigned ended : 1;       /* pipe_stage_end() called */
  unsigned destroyed : 1;
  unsigned defer_resume : 1, defer_drain : 1, defer_end : 1, queued : 1;
  uint64_t blocked_since;
  pipe_pool_waiter_t pool_waiter;
  unsigned holds;
  pipe_stage_t* defer_next;
  pipe_pool_t* own_pools[PIPE_STAGE_MAX_POOLS]; /* pipe_stage_pool_new() */
  unsigned nown_pools;
};

/** Allocates ops->size zeroed bytes, links the stage at the end of pl and
 *  gives it an output pool sized by the pipeline's config. Returns 0 and
 *  *out, PIPE_EINVAL after pipe_pipeline_run(), or PIPE_ENOMEM. */
PIPE_EXTERN int pipe_stage_new(pipe_pipeline_t* pl, const pipe_stage_ops_t* ops,
                   pipe_stage_t** out);

/** Hands buf (takes it) to s->next. Returns PIPE_OK, PIPE_FULL (accepted:
 *  produce nothing more until s->ops->resume), or < 0 (the pipeline is
 *  failing or torn down; buf was released). */
PIPE_EXTERN int pipe_stage_push(pipe_stage_t* s, pipe_buf_t* buf);

/** s has produced all it will: tells s->next (deferred, after any pending
 *  drain). From the sink, it means the run succeeded. Call once.
 *  A sink may call it before upstream has finished to stop the run early
 *  with success (stdout's reader went away: EPIPE): every stage, upstream
 *  ones included, then gets destroy(s, 0); from then on pushes release
 *  their buffer and return PIPE_ECANCELED, errors are ignored and
 *  pipe_stage_stopping() is 1. */
PIPE_EXTERN void pipe_stage_end(pipe_stage_t* s);

/** Flush signal: s has no more data for now (a pipe or terminal source
 *  whose read came back short of a full buffer: the writer has nothing more
 *  queued, as with `tail -f`). Asks the first stage below s with a flush
 *  handler (s->flush above) to pass on what it holds, so live data flows through instead
 *  of waiting for a buffer to fill; that stage flushes further down when
 *  it has. Only a hint: it is not data, needs no answer, and a bulk stream
 *  loses nothing but slightly smaller buffers. Does nothing once the
 *  pipeline is stopping. Loop thread only. */
PIPE_EXTERN void pipe_stage_flush(pipe_stage_t* s);

/** s, having answered PIPE_FULL, can take more: resumes s->prev (deferred).
 *  Harmless when nobody is waiting. */
PIPE_EXTERN void pipe_stage_drain(pipe_stage_t* s);

/** Waits for a chunk to come back to pool p; then s->ops->resume runs. */
PIPE_EXTERN void pipe_stage_wait_pool(pipe_stage_t* s, pipe_pool_t* p);

/** Schedules s->ops->resume on the deferred queue (at most once queued). */
PIPE_EXTERN void pipe_stage_schedule(pipe_stage_t* s);

/** Fails the pipeline: the first error wins (later calls are ignored, and so
 *  are calls after the sink has ended: the run has succeeded); every
 *  stage is then destroyed once and the completion callback gets `err`.
 *  fmt may be NULL (the message is pipe_strerror(err)). */
PIPE_EXTERN void pipe_stage_fail(pipe_stage_t* s, int err, const char* fmt, ...)
#if defined(__GNUC__)
    __attribute__((format(printf, 3, 4)))
#endif
    ;

/** Same, with a full error context (line, column, offset...) copied from e. */
PIPE_EXTERN void pipe_stage_fail_with(pipe_stage_t* s, const pipe_error_t* e);

/** 1 once the pipeline is failing or finished: stop starting new work. */
PIPE_EXTERN int pipe_stage_stopping(const pipe_stage_t* s);

/** Async work in flight (an fs request, a handle to close, a CPU job) keeps
 *  the run open: hold before starting it, release in its callback. */
PIPE_EXTERN void pipe_stage_hold(pipe_stage_t* s);
PIPE_EXTERN void pipe_stage_release(pipe_stage_t* s);

/** Creates a pool owned by stage s, besides its output pool s->pool: for
 *  a stage that gathers many upstream buffers into bigger ones (the S3
 *  sink's part buffers) or hands on buffers of another size (the S3
 *  source's ranges). Such a stage copies into its own chunks and so never
 *  holds its upstream's, which would starve the stage above. The pool
 *  counts in the pipeline's memory bound and in pipe_stage_pool_at(); it
 *  is freed with the pipeline (lingering until its last chunk comes back),
 *  or earlier by pipe_stage_pool_free(). Returns 0 and *out, PIPE_ELIMIT
 *  when s owns PIPE_STAGE_MAX_POOLS already, or pipe_pool_new()'s error.
 *  Loop thread only. */
PIPE_EXTERN int pipe_stage_pool_new(pipe_stage_t* s, size_t size, size_t limit,
                                    pipe_pool_t** out);

/** Frees a pool from pipe_stage_pool_new() before the pipeline goes (a
 *  stage replacing it by one of bigger chunks); chunks still out return to
 *  it and then it goes. Any waiter of s on it is cancelled. Loop thread
 *  only. */
PIPE_EXTERN void pipe_stage_pool_free(pipe_stage_t* s, pipe_pool_t* p);

/** The i-th pool owned by s: 0 is its output pool s->pool, then those of
 *  pipe_stage_pool_new() in creation order. NULL past the last (borrowed;
 *  read its numbers with pipe_pool_stats()). */
PIPE_EXTERN pipe_pool_t* pipe_stage_pool_at(const pipe_stage_t* s, size_t i);

/** The loop the stage runs on. */
PIPE_EXTERN struct uv_loop_s* pipe_stage_loop(const pipe_stage_t* s);

#ifdef __cplusplus
}
#endif
#endif /* PIPE_STAGE_H */
