/* pipe — file and standard-stream sources and sinks. */
#ifndef PIPE_IO_H
#define PIPE_IO_H

#include "pipe/export.h"

#include <stdint.h>

#include "pipe/stage.h"

#ifdef __cplusplus
extern "C" {
#endif

/** Reads a file with asynchronous uv_fs_read into the stage's pool; stops
 *  issuing reads while downstream is full or the pool is empty. */
typedef struct pipe_file_source_config_s {
  const char* path;   /* copied */
} pipe_file_source_config_t;

/** Returns 0 and *out (may be NULL), or < 0. The file is opened at start:
 *  a missing file fails the run with PIPE_ENOENT naming the path. */
PIPE_EXTERN int pipe_file_source_new(pipe_pipeline_t* pl, const pipe_file_source_config_t* cfg,
                         pipe_stage_t** out);

/** Total size of the source's file once started, or -1 if unknown. */
PIPE_EXTERN int64_t pipe_file_source_size(const pipe_stage_t* s);

/** Reads standard input (fd 0) whatever it is: a regular file (read with
 *  uv_fs_read), a pipe or a TTY (uv_pipe_t / uv_tty_t, uv_read_stop while
 *  downstream is full). */
PIPE_EXTERN int pipe_stdin_source_new(pipe_pipeline_t* pl, pipe_stage_t** out);

/** Writes to a temporary file in the target's folder and renames it over
 *  the target only when every byte is written (and fsync'd): an interrupted
 *  or failed run never leaves a truncated output that looks complete, and
 *  an existing target is only replaced on success. A replaced file keeps
 *  its mode (and owner and group where permitted); a symlink is followed
 *  and its target replaced in the target's folder. Devices, FIFOs,
 *  terminals, files in /dev and fd links (/dev/stdout, /dev/fd/N,
 *  /proc/self/fd/N) are written in place, never renamed over; a FIFO waits
 *  for its reader without blocking the loop, and a reader that goes away
 *  (EPIPE) ends the run with status 0, as for standard output. */
typedef struct pipe_file_sink_config_s {
  const char* path;  /* copied */
  int fsync;         /* 1: fsync before rename (default in the CLI) */
  int direct_io;     /* 1: write the temp file with O_DIRECT through
                        PIPE_FILE_SINK_DIRECT_MEM bytes of aligned staging
                        of the sink's own, so the bytes never pass through
                        the page cache (for data not read back soon: the
                        server's uploads; MinIO writes its objects so).
                        Where the filesystem refuses O_DIRECT (tmpfs) the
                        same bytes are written buffered. In-place targets
                        (devices, FIFOs, fd links) are always buffered. */
} pipe_file_sink_config_t;

/** Memory a file sink with direct_io holds besides its queue (two staging
 *  buffers of 256 KiB). */
#define PIPE_FILE_SINK_DIRECT_MEM ((size_t)512 << 10)

PIPE_EXTERN int pipe_file_sink_new(pipe_pipeline_t* pl, const pipe_file_sink_config_t* cfg,
                       pipe_stage_t** out);

/** Once started: 1 if the sink has opened its target to write it in place
 *  (a device, FIFO, terminal or fd link such as /dev/stdout: bytes written
 *  are there even if the run fails), 0 if it writes a temp file renamed on
 *  success or never got its FIFO open (no reader came), -1 if s is not a
 *  started file sink. Loop thread only. */
PIPE_EXTERN int pipe_file_sink_in_place(const pipe_stage_t* s);

/** Writes to standard output (fd 1): a file, pipe or TTY. A closed reader
 *  (EPIPE, as in `pipe csv2json big.csv | head`) ends the run quietly with
 *  status 0, like other Unix tools. SIGPIPE must be ignored by the program
 *  (the CLI does it). */
PIPE_EXTERN int pipe_stdout_sink_new(pipe_pipeline_t* pl, pipe_stage_t** out);

#ifdef __cplusplus
}
#endif
#endif /* PIPE_IO_H */
