/* The `pipe` program: shared pieces of the commands. The CLI only parses
 * arguments and assembles pipelines from library stages. */
#ifndef PIPE_CLI_H
#define PIPE_CLI_H

#include <stdio.h>

#include <uv.h>

#include "pipe.h"

/* Exit codes (documented in the README and `pipe --help`). */
enum {
  CLI_EXIT_OK = 0,
  CLI_EXIT_DATA = 1,   /* bad input data: malformed CSV, bad UTF-8, bad gzip */
  CLI_EXIT_USAGE = 2,  /* bad command line */
  CLI_EXIT_IO = 3,     /* I/O or system error: missing file, disk full... */
  CLI_EXIT_SIGNAL = 130 /* interrupted (SIGINT/SIGTERM); output not written */
};

/* Progress display: -1 auto (stderr is a TTY and the size is known). */
typedef struct cli_common_s {
  const char* input;  /* path or "-" */
  const char* output; /* path or "-" */
  int progress;       /* -1 auto, 0 off, 1 on */
} cli_common_t;

/* Adds the source for c->input to pl. Returns 0 or < 0 (message printed). */
int cli_add_source(pipe_pipeline_t* pl, const cli_common_t* c, pipe_stage_t** src);
/* Adds the sink for c->output to pl. */
int cli_add_sink(pipe_pipeline_t* pl, const cli_common_t* c);

/* Runs pl on loop to completion with progress and signal handling; prints
 * the error if any; returns the process exit code. */
int cli_run(uv_loop_t* loop, pipe_pipeline_t* pl, const cli_common_t* c,
            pipe_stage_t* src);

/* Exit code for a pipeline status. */
int cli_exit_code(int status);

/* Prints "pipe: <msg>" and returns CLI_EXIT_USAGE, with a hint. */
int cli_usage_error(const char* cmd, const char* fmt, ...)
    __attribute__((format(printf, 2, 3)));

/* Commands. */
int cmd_csv2json(int argc, char** argv);
void help_csv2json(FILE* out);

#endif
