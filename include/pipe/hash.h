/* pipe — a pass-through stage that hashes what flows through it.
 *
 *   pipe_stage_t* h;
 *   pipe_file_source_new(pl, &src_cfg, NULL);
 *   pipe_hash_new(pl, PIPE_HASH_SHA256, &h);
 *   pipe_file_sink_new(pl, &sink_cfg, NULL);
 *   ... run; in the completion callback: pipe_hash_hex(h)
 *
 * The stage forwards every buffer it is given unchanged — the same buffer,
 * no copy — so it costs no memory of its own and no copying, and it passes
 * backpressure straight through: its write() returns what downstream
 * answered, and a drain from downstream is passed up at once.
 */
#ifndef PIPE_HASH_H
#define PIPE_HASH_H

#include "pipe/export.h"

#include <stddef.h>

#include "pipe/stage.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef enum pipe_hash_algo_e {
  PIPE_HASH_SHA256 = 1, /* 64 hex digits, as `sha256sum` */
  PIPE_HASH_MD5,        /* 32 hex digits, as `md5sum` */
  PIPE_HASH_CRC32C      /* 8 hex digits: CRC-32C (Castagnoli, RFC 3720) */
} pipe_hash_algo_t;

/** "sha256", "md5", "crc32c" (any case) -> *out (out may be NULL to only
 *  check). Returns 0, or PIPE_EINVAL if name is NULL or unknown. */
PIPE_EXTERN int pipe_hash_algo_parse(const char* name, pipe_hash_algo_t* out);

/** "sha256", "md5" or "crc32c" (static strings); NULL for a value outside
 *  the enum. */
PIPE_EXTERN const char* pipe_hash_algo_name(pipe_hash_algo_t algo);

/** Adds a hash stage at the end of pl. It forwards every buffer unchanged
 *  (the same buffer: no copy) after hashing its readable bytes, and
 *  finalizes the digest when its input ends. *out (out may be NULL) stays
 *  valid until pipe_pipeline_free(). Returns 0, PIPE_EINVAL (algo not in
 *  the enum, or refused by the OpenSSL configuration: MD5 under FIPS),
 *  PIPE_ENOMEM. Loop thread only. */
PIPE_EXTERN int pipe_hash_new(pipe_pipeline_t* pl, pipe_hash_algo_t algo,
                  pipe_stage_t** out);

/** Lower-case hex digest once the stage has seen the end of its input
 *  (valid in and after the pipeline's completion callback, until
 *  pipe_pipeline_free()); NULL before that — so after a run that failed
 *  before this stage's input ended — and for a stage that is not a hash
 *  stage (a caller may walk pipe_pipeline_first()/->next and print every
 *  digest). A run can still fail after the digest is known (the sink's
 *  rename): trust it only with a completion status of 0.
 *  CRC32C is 8 hex digits of the value, most significant first (the
 *  big-endian bytes, as in `gsutil hash -h` output). Returns borrowed
 *  memory owned by the stage. */
PIPE_EXTERN const char* pipe_hash_hex(const pipe_stage_t* s);

/** The stage's algorithm; 0 for a stage that is not a hash stage. */
PIPE_EXTERN pipe_hash_algo_t pipe_hash_algo(const pipe_stage_t* s);

#ifdef __cplusplus
}
#endif
#endif /* PIPE_HASH_H */
