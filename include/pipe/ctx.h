/* pipe — the library context: what the pipelines on one loop share.
 *
 *   pipe_ctx_t* ctx;
 *   pipe_ctx_new(loop, &ctx);
 *   pipe_ctx_set_s3_config(ctx, &cfg);        // optional: else aws-cli's
 *   pipe_pipeline_new_in(ctx, NULL, &pl);     // s3:// stages find the client
 *   ... run pipelines ...
 *   pipe_ctx_close(ctx, on_closed, data);     // closes the S3 client's handles
 *   // in on_closed (or after uv_run returned): pipe_ctx_free(ctx)
 *
 * A context holds the loop, the S3 configuration and the one S3 client every
 * stage and pipeline on that loop shares (one connection pool, one libcurl
 * multi handle), so there are no globals. It also holds the one CPU-job
 * budget of all its pipelines (pipe_ctx_set_cpu_jobs, pipe/work.h): N gzip
 * pipelines in one context share its tokens instead of filling libuv's
 * thread pool, which file I/O needs too. Threads: loop thread only.
 */
#ifndef PIPE_CTX_H
#define PIPE_CTX_H

#include "pipe/export.h"

#include <stddef.h>
#include <stdint.h>

#include "pipe/error.h"
#include "pipe/pipeline.h"
#include "pipe/s3_config.h"

#ifdef __cplusplus
extern "C" {
#endif

struct uv_loop_s;
typedef struct pipe_ctx_s pipe_ctx_t;
typedef struct pipe_s3_client_s pipe_s3_client_t;
typedef void (*pipe_ctx_close_cb)(pipe_ctx_t* ctx, void* data);

/** Creates a context on loop (borrowed: it must outlive the context).
 *  Returns 0 and *out, or PIPE_ENOMEM. */
PIPE_EXTERN int pipe_ctx_new(struct uv_loop_s* loop, pipe_ctx_t** out);

/** The context's loop. */
PIPE_EXTERN struct uv_loop_s* pipe_ctx_loop(const pipe_ctx_t* ctx);

/** Sets the S3 configuration (borrowed for the call: the context keeps a
 *  deep copy). Without it the first pipe_ctx_s3() loads aws-cli's
 *  (environment and ~/.aws files). Returns 0, PIPE_ENOMEM, or PIPE_EBUSY
 *  once the client exists (its configuration is fixed). */
PIPE_EXTERN int pipe_ctx_set_s3_config(pipe_ctx_t* ctx, const pipe_s3_config_t* cfg);

/** Transfer defaults for s3:// stages built from a spec in this context
 *  (pipe_spec_build): part size (0: 8 MiB) and parts or ranges in flight
 *  (0: 4). Values are checked when a stage is built. */
PIPE_EXTERN void pipe_ctx_set_s3_transfer(pipe_ctx_t* ctx, size_t part_size,
                                          unsigned concurrency);

/** The defaults set by pipe_ctx_set_s3_transfer (0 when unset). */
PIPE_EXTERN void pipe_ctx_s3_transfer(const pipe_ctx_t* ctx, size_t* part_size,
                                      unsigned* concurrency);

/** How many CPU jobs (pipe_stage_queue_work, pipe/work.h) of all the
 *  pipelines made in ctx run at once on libuv's thread pool; the others
 *  wait in ctx's FIFO queue. 0 (the default) means min(CPUs, pool size -
 *  1), at least 1, the pool size being UV_THREADPOOL_SIZE (default 4) as
 *  read when ctx was created: one pool thread is then always left for file
 *  I/O. A change applies to jobs not yet started (a bigger budget starts
 *  waiting jobs at once; a smaller one lets running jobs finish). */
PIPE_EXTERN void pipe_ctx_set_cpu_jobs(pipe_ctx_t* ctx, unsigned n);

/** The budget in force: the value set, or the default it stands for. */
PIPE_EXTERN unsigned pipe_ctx_cpu_jobs(const pipe_ctx_t* ctx);

/** The budget's state: jobs on the pool now (*running, <= the budget
 *  unless it was lowered), jobs waiting for a token now (*queued), and
 *  jobs that ever had to wait (*waited_total, a counter). Any pointer may
 *  be NULL. */
PIPE_EXTERN void pipe_ctx_cpu_stats(const pipe_ctx_t* ctx, unsigned* running,
                                    size_t* queued, uint64_t* waited_total);

/** The context's S3 client, created at the first call (returns: borrowed,
 *  owned by ctx). Returns 0 and *out, or the configuration's error
 *  (PIPE_EUSAGE for a bad profile or endpoint, PIPE_ENOMEM) with err
 *  filled (err may be NULL), or PIPE_ECANCELED after pipe_ctx_close(). */
PIPE_EXTERN int pipe_ctx_s3(pipe_ctx_t* ctx, pipe_s3_client_t** out, pipe_error_t* err);

/** Closes what the context holds open on the loop (the S3 client's timers
 *  and sockets; its requests still in flight are cancelled; CPU jobs still
 *  waiting for a token get after(w, UV_ECANCELED) from the loop, and new
 *  ones are refused): cb(ctx, data)
 *  runs once every handle has closed, from the loop, or at once when the
 *  context opened none (cb may be NULL). Call it after the context's
 *  pipelines have finished. Then pipe_ctx_free(). */
PIPE_EXTERN void pipe_ctx_close(pipe_ctx_t* ctx, pipe_ctx_close_cb cb, void* data);

/** Frees the context: after the close callback, or on a context whose S3
 *  client was never created. NULL is fine. (CPU jobs still on the pool
 *  then, which the contract excludes, finish without touching it.) */
PIPE_EXTERN void pipe_ctx_free(pipe_ctx_t* ctx);

/** pipe_pipeline_new() on ctx's loop, remembering ctx so that stages built
 *  in the pipeline (s3:// from a spec) find the S3 client. Same returns. */
PIPE_EXTERN int pipe_pipeline_new_in(pipe_ctx_t* ctx, const pipe_pipeline_config_t* cfg,
                                     pipe_pipeline_t** out);

/** The context pl was made in; NULL for pipe_pipeline_new(). */
PIPE_EXTERN pipe_ctx_t* pipe_pipeline_ctx(const pipe_pipeline_t* pl);

#ifdef __cplusplus
}
#endif
#endif /* PIPE_CTX_H */
