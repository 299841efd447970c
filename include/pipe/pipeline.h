/* pipe — pipelines: stages connected on one libuv loop.
 *
 *   pipe_pipeline_t* pl;
 *   pipe_pipeline_new(loop, NULL, &pl);
 *   pipe_file_source_new(pl, "in.csv", NULL);
 *   pipe_csv2json_new(pl, NULL);
 *   pipe_stdout_sink_new(pl, NULL);
 *   pipe_pipeline_run(pl, on_done);     // on_done(pl, status) fires once
 *   uv_run(loop, UV_RUN_DEFAULT);
 *   pipe_pipeline_free(pl);
 *
 * Semantics are Node's pipeline(): the first error anywhere wins, every
 * stage's destroy() runs exactly once, and one completion callback reports
 * the result after the last piece of async work has finished.
 */
#ifndef PIPE_PIPELINE_H
#define PIPE_PIPELINE_H

#include "pipe/export.h"

#include <stddef.h>

#include "pipe/error.h"
#include "pipe/stage.h"

#ifdef __cplusplus
extern "C" {
#endif

struct uv_loop_s;

typedef void (*pipe_pipeline_cb)(pipe_pipeline_t* pl, int status);

typedef struct pipe_pipeline_config_s {
  size_t buf_size;   /* bytes per pooled buffer; default 128 KiB */
  size_t pool_limit; /* buffers per stage pool; default 8 */
  size_t hwm;        /* buffers a sink queues before PIPE_FULL; default 4 */
} pipe_pipeline_config_t;

#define PIPE_DEFAULT_BUF_SIZE (128 * 1024)
#define PIPE_DEFAULT_POOL_LIMIT 8
#define PIPE_DEFAULT_HWM 4

/** cfg NULL or zero fields mean the defaults. Returns 0 or PIPE_ENOMEM. */
PIPE_EXTERN int pipe_pipeline_new(struct uv_loop_s* loop, const pipe_pipeline_config_t* cfg,
                      pipe_pipeline_t** out);

/** Starts the run (it proceeds as the loop runs). done fires exactly once,
 *  with 0 or the first error. Needs a source first (no write()), then
 *  stages that all have write(), the last being the sink. Returns 0, or
 *  PIPE_EINVAL (no stages, a stage without write() after the first, a
 *  source not first, already run): then nothing started and done will not
 *  fire. After pipe_pipeline_abort() it starts no stage and done fires
 *  with the abort's error. */
PIPE_EXTERN int pipe_pipeline_run(pipe_pipeline_t* pl, pipe_pipeline_cb done);

/** Fails the run from outside (SIGINT, a client gone) with err (< 0; any
 *  other value means PIPE_EIO): like a stage error, the first outcome wins
 *  and later ones are ignored, but no stage is named (pipe_error_t.stage
 *  is "", msg is pipe_strerror(err)). Before pipe_pipeline_run() it makes
 *  that run start nothing and complete with err; after the outcome is
 *  decided (an error, the sink ended) it does nothing. */
PIPE_EXTERN void pipe_pipeline_abort(pipe_pipeline_t* pl, int err);

/** The first error, with detail. code == 0 when none. */
PIPE_EXTERN const pipe_error_t* pipe_pipeline_error(const pipe_pipeline_t* pl);

/** Config in force (defaults filled in). */
PIPE_EXTERN const pipe_pipeline_config_t* pipe_pipeline_config(const pipe_pipeline_t* pl);

/** Stages in order: first() is the source; then s->next. */
PIPE_EXTERN pipe_stage_t* pipe_pipeline_first(const pipe_pipeline_t* pl);

/** The loop. */
PIPE_EXTERN struct uv_loop_s* pipe_pipeline_loop(const pipe_pipeline_t* pl);

/** User pointer. */
PIPE_EXTERN void pipe_pipeline_set_data(pipe_pipeline_t* pl, void* data);
PIPE_EXTERN void* pipe_pipeline_data(const pipe_pipeline_t* pl);

/** Frees stages, pools and the pipeline. After done fired (it may be
 *  called from inside done) it frees at once. On a pipeline that never ran,
 *  every stage's destroy() runs with PIPE_ECANCELED and the memory goes
 *  once the loop has run again (an internal handle must close first). On a
 *  running pipeline the free is deferred: the run is aborted with
 *  PIPE_ECANCELED (unless its outcome was already decided), teardown runs
 *  as for an error, and the memory goes when it has finished — done does
 *  NOT fire (the caller gave the pipeline up). In every case pl must not
 *  be used after this call. NULL is fine. */
PIPE_EXTERN void pipe_pipeline_free(pipe_pipeline_t* pl);

#ifdef __cplusplus
}
#endif
#endif /* PIPE_PIPELINE_H */
