/* pipe — a pass-through stage that hashes what flows through it. */
#ifndef PIPE_HASH_H
#define PIPE_HASH_H

#include <stddef.h>

#include "pipe/stage.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef enum pipe_hash_algo_e {
  PIPE_HASH_SHA256 = 1,
  PIPE_HASH_MD5,
  PIPE_HASH_CRC32C
} pipe_hash_algo_t;

/** "sha256", "md5", "crc32c" -> algo; < 0 (PIPE_EINVAL) if unknown. */
int pipe_hash_algo_parse(const char* name, pipe_hash_algo_t* out);
const char* pipe_hash_algo_name(pipe_hash_algo_t algo);

/** Forwards every buffer unchanged (the same buffer: no copy) and hashes
 *  its bytes. */
int pipe_hash_new(pipe_pipeline_t* pl, pipe_hash_algo_t algo,
                  pipe_stage_t** out);

/** Lower-case hex digest once the stage has seen the end of its input
 *  (valid in and after the pipeline's completion callback); NULL before.
 *  CRC32C is 8 hex digits, big-endian, as in `gsutil hash` hex output. */
const char* pipe_hash_hex(const pipe_stage_t* s);
pipe_hash_algo_t pipe_hash_algo(const pipe_stage_t* s);

#ifdef __cplusplus
}
#endif
#endif /* PIPE_HASH_H */
