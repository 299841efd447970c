/* pipe — gzip compression and decompression stages. */
#ifndef PIPE_GZIP_H
#define PIPE_GZIP_H

#include <stdint.h>

#include "pipe/stage.h"

#ifdef __cplusplus
extern "C" {
#endif

/** Options of the gzip transform; zeroed means the defaults. */
typedef struct pipe_gzip_config_s {
  int level;       /* 1..9 as gzip's -1..-9; 0 means 6 */
  int threads;     /* compression jobs in flight on the libuv thread pool;
                      0 means the number of CPUs */
  size_t block_size; /* input bytes per independently compressed block;
                        0 means the default (see gzip.c) */
} pipe_gzip_config_t;

/** Standard gzip (RFC 1952) out, compressed on the libuv thread pool,
 *  several blocks in flight, output in order, memory bounded. cfg may be
 *  NULL. Returns 0 or < 0 (PIPE_EINVAL for a bad level). */
int pipe_gzip_new(pipe_pipeline_t* pl, const pipe_gzip_config_t* cfg,
                  pipe_stage_t** out);

/** gzip in (one or more members), the original bytes out. CRC-32 and length
 *  of every member are checked; truncated, corrupt input or trailing bytes
 *  that are not a gzip member fail the run with PIPE_EGZIP / PIPE_ETRUNC and
 *  the byte offset in the compressed input. */
int pipe_gunzip_new(pipe_pipeline_t* pl, pipe_stage_t** out);

#ifdef __cplusplus
}
#endif
#endif /* PIPE_GZIP_H */
