/* pipe — gzip compression and decompression stages.
 *
 * Compression (pipe_gzip_new) cuts its input into blocks of `block_size`
 * bytes, compresses each on the libuv thread pool, and joins them in input
 * order into ONE gzip member (pigz's shape): one header, one deflate
 * stream, one trailer (CRC-32 of all the input, ISIZE = its length modulo
 * 2^32). Every gzip decoder reads it whole, including those that stop after
 * the first member (browsers, Python's zlib.decompressobj, gzip -l).
 *
 * Thread pool: libuv's pool is global to the process and fixed at its
 * first use (UV_THREADPOOL_SIZE, default 4), and file reads/writes
 * (uv_fs_*) queue behind the CPU jobs on it. Compression keeps up to
 * `threads` jobs in flight as CPU jobs (pipe_stage_queue_work, pipe/work.h).
 * In a pipeline made in a context (pipe_pipeline_new_in) they also take
 * the context's CPU tokens, shared by all its pipelines and by default
 * min(CPUs, pool threads - 1) (pipe_ctx_set_cpu_jobs): any number of
 * gzip stages then leave a thread for file I/O, their jobs waiting their
 * turn. Without a context the jobs go to the pool directly, so the pool
 * needs at least threads + 1 threads, better threads + 2: a program that
 * sets `threads` must set UV_THREADPOOL_SIZE=threads+2 in its environment
 * before the loop first uses the pool (the CLI does). With threads == 0 the
 * stage picks min(CPUs, UV_THREADPOOL_SIZE - 1) itself.
 */
#ifndef PIPE_GZIP_H
#define PIPE_GZIP_H

#include "pipe/export.h"

#include <stddef.h>
#include <stdint.h>

#include "pipe/stage.h"

#ifdef __cplusplus
extern "C" {
#endif

/** Options of the gzip transform; zeroed means the defaults. */
typedef struct pipe_gzip_config_s {
  int level;         /* 1..9 as gzip's -1..-9; 0 means 6 */
  int threads;       /* compression jobs in flight on the libuv thread pool
                        (the context's CPU budget applies on top);
                        0 means min(CPUs, UV_THREADPOOL_SIZE - 1); else
                        1 .. PIPE_GZIP_MAX_THREADS */
  size_t block_size; /* input bytes per independently compressed block
                        (one piece of the one member's deflate stream;
                        blocks share no dictionary); 0 means the default,
                        PIPE_GZIP_DEFAULT_BLOCK; else PIPE_GZIP_MIN_BLOCK ..
                        PIPE_GZIP_MAX_BLOCK */
} pipe_gzip_config_t;

/* The ranges of the options, the only ones: the stage and the spec parser
 * (pipe_spec_parse, `pipe run`, the CLI's gzip command) check these same
 * numbers, so whatever a spec accepts the stage builds. */
#define PIPE_GZIP_MIN_LEVEL 1
#define PIPE_GZIP_MAX_LEVEL 9
#define PIPE_GZIP_MAX_THREADS 256 /* libuv's pool holds at most 1024 */
#define PIPE_GZIP_MIN_BLOCK ((size_t)1 << 10) /* 1 KiB */
#define PIPE_GZIP_MAX_BLOCK ((size_t)64 << 20) /* 64 MiB */

/** Default block size: 1 MiB (chosen by measurement, see src/stages/gzip.c).
 *  The stage's memory is bounded by (2 x threads + 3) x block_size (input
 *  blocks and compressed-block buffers) plus 0.2-0.7 MiB of compressor state
 *  per thread: ~8 MiB for 2 threads at the default. */
#define PIPE_GZIP_DEFAULT_BLOCK ((size_t)1 << 20)

/** Standard gzip (RFC 1952) out, one member, compressed on the libuv
 *  thread pool, several blocks in flight, output in order, memory bounded.
 *  Levels 1-3 use ISA-L, 4-9 libdeflate (see src/stages/gzip.c). Empty
 *  input gives the 20-byte member `gzip < /dev/null` writes. cfg may be
 *  NULL. Returns 0 and *out (out may be NULL), or < 0: PIPE_EINVAL for a
 *  bad level, thread count or block size, PIPE_ENOMEM. Loop thread only. */
PIPE_EXTERN int pipe_gzip_new(pipe_pipeline_t* pl, const pipe_gzip_config_t* cfg,
                  pipe_stage_t** out);

/** What a gzip stage did and held, for tests, metrics and tuning. */
typedef struct pipe_gzip_stats_s {
  unsigned threads;      /* jobs in flight at most (config in force) */
  unsigned slots;        /* job slots: threads + 1 */
  size_t block_size;     /* in force */
  uint64_t blocks;       /* pieces written: one per block, plus an empty
                            last one when the input ends on a block
                            boundary (or is empty) */
  unsigned max_inflight; /* most jobs in flight at once (on the thread
                            pool, or in a context waiting for a token) */
  size_t out_pool_limit; /* compressed-block buffers, at most out */
  size_t out_pool_peak;  /* most of them out at once */
  size_t out_buf_size;   /* bytes each (the compress bound of a block) */
} pipe_gzip_stats_t;

/** Statistics of a stage made by pipe_gzip_new(). Readable until the
 *  pipeline is freed. Loop thread only. */
PIPE_EXTERN pipe_gzip_stats_t pipe_gzip_stats(const pipe_stage_t* s);

/** gzip in (one or more members), the original bytes out. CRC-32 and length
 *  of every member are checked; truncated, corrupt input or trailing bytes
 *  that are not a gzip member (zero padding included) fail the run with
 *  PIPE_EGZIP / PIPE_ETRUNC and the byte offset in the compressed input
 *  (pipe_error_t.offset). Empty input is an error too (PIPE_EGZIP), as
 *  for gzip -d. Decompresses on the loop thread (a synchronous transform:
 *  inflate runs at hundreds of MB/s and one call handles one buffer).
 *  Returns 0 and *out (out may be NULL), or PIPE_ENOMEM. */
PIPE_EXTERN int pipe_gunzip_new(pipe_pipeline_t* pl, pipe_stage_t** out);

/** Like pipe_gunzip_new, but decided by the first bytes of the input: gzip
 *  data (pipe_gzip_magic) is decompressed, anything else, empty input
 *  included, passes through unchanged (the same buffers, no copy, so it
 *  costs nothing). For readers of data that may or may not be compressed:
 *  `pipe csv2json` puts one before csv2json, so `x.csv.gz`, or gzip data
 *  on standard input, is read as CSV. Returns 0 and *out (out may be
 *  NULL), or PIPE_ENOMEM. */
PIPE_EXTERN int pipe_gunzip_auto_new(pipe_pipeline_t* pl, pipe_stage_t** out);

/** 1 when p[0,n) starts as gzip data does (1f 8b; with n == 1, 1f), else 0.
 *  Borrows p for the call. */
PIPE_EXTERN int pipe_gzip_magic(const void* p, size_t n);

#ifdef __cplusplus
}
#endif
#endif /* PIPE_GZIP_H */
