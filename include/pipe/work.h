/* pipe — CPU jobs of stages on libuv's thread pool, under one budget.
 *
 *   typedef struct { pipe_work_t w; ...inputs, outputs... } my_job_t;
 *   pipe_stage_hold(s);                       // the job keeps the run open
 *   j->w.data = j;
 *   r = pipe_stage_queue_work(s, &j->w, compress_cb, done_cb);
 *   if (r < 0) pipe_stage_release(s);         // done_cb will not run
 *   ...
 *   static void done_cb(pipe_work_t* w, int status) {   // loop thread
 *     my_job_t* j = w->data;  ... status 0 or UV_ECANCELED ...
 *     pipe_stage_release(s);
 *   }
 *
 * libuv's thread pool is the process's (UV_THREADPOOL_SIZE threads, 4 by
 * default, fixed at its first use) and serves file I/O (uv_fs_*) too: a
 * read or write queues behind every CPU job already queued. A stage that
 * puts its CPU work straight on the pool (uv_queue_work) with N pipelines
 * running can therefore keep every thread busy and starve the pipelines'
 * own file sinks and sources. pipe_stage_queue_work() takes a token of
 * the pipeline's context (pipe_ctx_set_cpu_jobs, ctx.h) instead: at most
 * that many CPU jobs of all the context's pipelines are on the pool at
 * once, by default min(CPUs, pool threads - 1), so a file request always
 * finds a free thread; the others wait in the context's FIFO queue,
 * first queued first run, whatever pipeline they come from.
 *
 * A pipeline made without a context (pipe_pipeline_new) has no budget: its
 * jobs go to uv_queue_work at once, as before; such a stage keeps its own
 * jobs in flight below the pool size (gzip's `threads`).
 *
 * Threads: pipe_stage_queue_work and pipe_work_cancel, and the after
 * callback, are loop thread only; the work callback runs on a pool thread
 * and must touch only what its job carries (no stage, pool or buffer refs:
 * CONVENTIONS rule 4).
 */
#ifndef PIPE_WORK_H
#define PIPE_WORK_H

#include "pipe/export.h"

#include <uv.h>

#ifdef __cplusplus
extern "C" {
#endif

typedef struct pipe_stage_s pipe_stage_t;
typedef struct pipe_work_s pipe_work_t;

/** The job itself: runs on a thread-pool thread. */
typedef void (*pipe_work_cb)(pipe_work_t* w);

/** The job is over: runs on the loop thread with status 0 (work ran) or
 *  UV_ECANCELED (it was cancelled before it started: work did not run).
 *  The pipe_work_t is the caller's again (it may be freed or reused). */
typedef void (*pipe_after_work_cb)(pipe_work_t* w, int status);

/** One CPU job; the caller owns the memory (embed it in the job's struct)
 *  and keeps it alive from pipe_stage_queue_work() until after() has run.
 *  Only `data` is the caller's; the rest is private. */
struct pipe_work_s {
  void* data; /* the caller's */
  /* Private. */
  uv_work_t req;
  pipe_work_t* prev; /* the context's queue or running list */
  pipe_work_t* next;
  pipe_work_cb work;
  pipe_after_work_cb after;
  struct pipe_ctx_s* ctx; /* NULL: straight on the pool, no budget */
  uv_loop_t* loop;
  unsigned state;
};

/** Runs work(w) on libuv's thread pool, then after(w, status) on the loop.
 *  In a pipeline made with pipe_pipeline_new_in(ctx, ...) the job takes
 *  one of ctx's CPU tokens while it is on the pool (pipe_ctx_cpu_jobs);
 *  when all are out it waits in ctx's FIFO queue and goes when a running
 *  job (of any of ctx's pipelines) finishes and hands its token on.
 *  Without a context it goes to uv_queue_work directly. after() never
 *  runs from inside this call. The caller holds its stage
 *  (pipe_stage_hold) as for any async work. w is borrowed until after().
 *  Returns 0, or < 0 and after() will not run: PIPE_EINVAL (NULL work or
 *  after, or w already queued), PIPE_ECANCELED (ctx closed), or
 *  uv_queue_work's error. Loop thread only. */
PIPE_EXTERN int pipe_stage_queue_work(pipe_stage_t* s, pipe_work_t* w,
                                      pipe_work_cb work,
                                      pipe_after_work_cb after);

/** Cancels a job that has not started, as uv_cancel does: after(w,
 *  UV_ECANCELED) then runs later, from the loop (never from inside this
 *  call), and work(w) never runs. Works for a job still waiting for a
 *  token in the context's queue and for one queued on the pool. Returns 0,
 *  UV_EBUSY when work(w) is running or has run (after() will bring its
 *  status as usual) or w was cancelled already, or UV_EINVAL when w is not
 *  queued (after() has run, or it never was). Loop thread only. */
PIPE_EXTERN int pipe_work_cancel(pipe_work_t* w);

#ifdef __cplusplus
}
#endif
#endif /* PIPE_WORK_H */
