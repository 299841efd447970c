/* The `pipe` program: shared pieces of the commands. The CLI only parses
 * arguments and assembles pipelines from library stages; stage options are
 * validated by the library's stage parser (pipe/spec.h), the same one that
 * `pipe run` and the HTTP service use. */
#ifndef PIPE_CLI_H
#define PIPE_CLI_H

#include <getopt.h>
#include <stdio.h>
#include <uv.h>

#include "pipe.h"

/* Exit codes (documented in the README and `pipe --help`). */
enum {
  CLI_EXIT_OK = 0,
  CLI_EXIT_DATA = 1,   /* bad input data: malformed CSV, bad UTF-8, bad gzip */
  CLI_EXIT_USAGE = 2,  /* bad command line */
  CLI_EXIT_IO = 3,     /* I/O or system error: missing file, disk full... */
  CLI_EXIT_SIGNAL = 130 /* interrupted; cli_run returns 128 + the signal */
};

/* What every command shares. */
typedef struct cli_common_s {
  const char* input;  /* path or "-" (NULL: stdin) */
  const char* output; /* path or "-" (NULL: stdout) */
  const char* checksum; /* algorithm name for --checksum, or NULL */
  int progress;       /* -1 auto, 0 off, 1 on */
} cli_common_t;

/* Runs pl on loop to completion with progress and signal handling; prints
 * the error if any and the checksums of hash stages; returns the process
 * exit code. Frees pl. */
int cli_run(uv_loop_t* loop, pipe_pipeline_t* pl, const cli_common_t* c);

/* Exit code for a pipeline status. */
int cli_exit_code(int status);

/* Prints "pipe: <msg>" and a hint; returns CLI_EXIT_USAGE. */
int cli_usage_error(const char* cmd, const char* fmt, ...)
    __attribute__((format(printf, 2, 3)));

/* A one-stage command: pipe NAME [FILE|-] [-o OUT] [common] [stage opts]. */
typedef struct cli_command_s {
  const char* name;
  const char* summary;
  const char* usage;            /* help text after the usage line */
  const struct option* stage_opts; /* long options passed to the stage */
  const char* stage_short;      /* getopt short options of the stage */
  int (*run)(const struct cli_command_s* cmd, int argc, char** argv);
} cli_command_t;

/* The runner of one-stage commands (csv2json, gzip, gunzip). */
int cli_stage_command(const cli_command_t* cmd, int argc, char** argv);
/* pipe run 'SPEC' */
int cli_run_command(const cli_command_t* cmd, int argc, char** argv);
/* pipe serve [options]: the HTTP upload service (cli/serve.c) */
int cli_serve_command(const cli_command_t* cmd, int argc, char** argv);

extern const cli_command_t cli_commands[];
extern const size_t cli_ncommands;

#endif
