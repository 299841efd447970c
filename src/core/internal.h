/* Internal declarations shared by libpipe's files (never installed). */
#ifndef PIPE_CORE_INTERNAL_H
#define PIPE_CORE_INTERNAL_H

#include <stddef.h>
#include <stdint.h>

#include "pipe/ctx.h"
#include "pipe/pipeline.h"
#include "pipe/work.h"

/* Records the context a pipeline was made in (pipe_pipeline_new_in). */
void pipe__pipeline_set_ctx(pipe_pipeline_t* pl, pipe_ctx_t* ctx);

/* A context's CPU budget (work.c; ctx.c embeds one per context).
 * Invariants: running == jobs on the `active` list == tokens out; the
 * jobs on the `qhead` list (queued of them) hold no token and are not on
 * the pool; while queued > 0, running >= the budget (a job only waits
 * when every token is out, and a token coming back goes to the queue's
 * head first). Loop thread only. */
typedef struct pipe__cpu_s {
  unsigned limit;      /* pipe_ctx_set_cpu_jobs(); 0: dflt */
  unsigned dflt;       /* pipe__default_cpu_jobs() at context creation */
  unsigned running;    /* tokens out: jobs of ours on the pool */
  size_t queued;       /* jobs waiting for a token */
  uint64_t waited;     /* jobs that ever had to wait (a counter) */
  pipe_work_t* qhead;  /* FIFO of waiting jobs (prev/next links) */
  pipe_work_t* qtail;
  pipe_work_t* active; /* jobs holding a token (prev/next links) */
  uv_loop_t* loop;
  int closed;          /* pipe_ctx_close(): new jobs are refused */
} pipe__cpu_t;

/* The budget of ctx. */
pipe__cpu_t* pipe__ctx_cpu(pipe_ctx_t* ctx);

/* A fresh budget on loop (dflt filled in). */
void pipe__cpu_init(pipe__cpu_t* b, uv_loop_t* loop);

/* The budget in force: limit, or dflt when limit is 0. */
unsigned pipe__cpu_budget(const pipe__cpu_t* b);

/* Hands free tokens to queued jobs, oldest first (after the budget grew). */
void pipe__cpu_dispatch(pipe__cpu_t* b);

/* pipe_ctx_close(): cancels the queued jobs (their after() gets
 * UV_ECANCELED, from the loop) and refuses new ones. Running jobs finish. */
void pipe__cpu_close(pipe__cpu_t* b);

/* pipe_ctx_free(): cancels what is still queued and detaches the running
 * jobs from the budget, so that their completions never touch the freed
 * context. */
void pipe__cpu_detach(pipe__cpu_t* b);

/* min(CPUs, thread-pool size - 1), at least 1: CPU jobs that leave one
 * pool thread for file I/O. The pool size is read as libuv reads it at
 * its first use (UV_THREADPOOL_SIZE, default 4, at most 1024). */
unsigned pipe__default_cpu_jobs(void);

#endif
