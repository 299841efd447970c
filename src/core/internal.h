/* Internal declarations shared by src/core files (never installed). */
#ifndef PIPE_CORE_INTERNAL_H
#define PIPE_CORE_INTERNAL_H

#include "pipe/ctx.h"
#include "pipe/pipeline.h"

/* Records the context a pipeline was made in (pipe_pipeline_new_in). */
void pipe__pipeline_set_ctx(pipe_pipeline_t* pl, pipe_ctx_t* ctx);

#endif
