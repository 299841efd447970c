/* The push source: a source fed by its owner instead of reading anything
 * itself (internal to libpipe, not installed).
 *
 * The HTTP server hands it request body bytes as http-parser's on_body
 * gives them. A parser cannot un-read, so the source takes every byte it is
 * given, whatever the state of the pipeline, and answers when the owner
 * must stop giving more: PIPE_FULL means "accepted; stop reading the socket
 * (uv_read_stop) until on_drain is called". Memory stays bounded because
 * the owner gives at most one socket read after a PIPE_FULL: bytes that
 * find the pool empty are kept in a spill area, at most what the last call
 * gave beyond the pool.
 *
 * Loop thread only, like every stage.
 */
#ifndef PIPE_STAGES_PUSH_SOURCE_H
#define PIPE_STAGES_PUSH_SOURCE_H

#include <stddef.h>
#include <stdint.h>

#include "pipe/stage.h"

/** Called (from the pipeline's deferred queue) once a source that answered
 *  PIPE_FULL can take more. ud is the owner's pointer. */
typedef void (*pipe_push_source_cb)(void* ud);

/** Adds a push source as the first stage of pl. on_drain (may be NULL) and
 *  ud are borrowed for the pipeline's life. Returns 0 and *out, or < 0
 *  (pipe_stage_new's errors). */
int pipe__push_source_new(pipe_pipeline_t* pl, pipe_push_source_cb on_drain,
                          void* ud, pipe_stage_t** out);

/** Copies data[0, len) (borrowed for the call) into the pipeline. Returns
 *  PIPE_OK (give more when you have it), PIPE_FULL (accepted; give nothing
 *  more until on_drain), or < 0 when the pipeline is failing or finished
 *  (the bytes were dropped). Bytes given before the run started are kept
 *  until it starts. */
int pipe__push_source_write(pipe_stage_t* s, const void* data, size_t len);

/** The owner has no more data: the source ends once everything it was
 *  given has been pushed. Call once. */
void pipe__push_source_end(pipe_stage_t* s);

/** Bytes given so far. */
uint64_t pipe__push_source_bytes(const pipe_stage_t* s);

/** 1 while the source holds bytes it could not push yet (spill, queue or
 *  blocked downstream): the owner should not give more. */
int pipe__push_source_busy(const pipe_stage_t* s);

#endif /* PIPE_STAGES_PUSH_SOURCE_H */
