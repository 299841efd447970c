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
  CLI_EXIT_S3 = 4,     /* S3 refused: no credentials, access denied, no such
                          bucket or key, another S3 error */
  CLI_EXIT_NET = 5,    /* S3 unreachable: network errors or 5xx until the
                          retry budget ran out */
  CLI_EXIT_INTEGRITY = 6, /* what S3 stored or sent differs (ETag, length) */
  CLI_EXIT_SIGNAL = 130 /* interrupted; cli_run returns 128 + the signal */
};

/* What every command shares. */
typedef struct cli_common_s {
  const char* input;  /* path or "-" (NULL: stdin) */
  const char* output; /* path or "-" (NULL: stdout) */
  const char* checksum; /* algorithm name for --checksum, or NULL */
  int progress;       /* -1 auto, 0 off, 1 on */
  pipe_ctx_t* ctx;    /* the pipeline's context: closed when the run ends */
} cli_common_t;

/* S3 options shared by cp, run, s3 and the one-stage commands. */
typedef struct cli_s3_s {
  pipe_s3_options_t opt;
  size_t part_size;     /* --part-size, 0 unset */
  unsigned concurrency; /* --concurrency, 0 unset */
} cli_s3_t;

/* If argv[*i] is an S3 option (--endpoint-url URL, --region R, --profile P,
 * --ca-bundle FILE, --no-verify-ssl, --max-attempts N, --retry-timeout S,
 * --part-size BYTES, --concurrency N; also --opt=VALUE), consumes it (and
 * its value, moving *i) and returns 1; 0 when it is not one; -1 after
 * printing a usage error (CLI_EXIT_USAGE is then the exit code). */
int cli_s3_option(const char* cmd, int argc, char** argv, int* i, cli_s3_t* o);

/* The S3 options' help text. */
#define CLI_S3_HELP                                                           \
  "S3 options (s3://bucket/key sources and destinations):\n"                 \
  "      --endpoint-url URL  S3 endpoint (default: AWS; env AWS_ENDPOINT_URL)\n" \
  "      --region R       region (env AWS_REGION, AWS_DEFAULT_REGION)\n"       \
  "      --profile P      profile of ~/.aws/credentials and ~/.aws/config\n"  \
  "      --ca-bundle FILE CA certificates for HTTPS (env AWS_CA_BUNDLE)\n"    \
  "      --no-verify-ssl  do not verify the server's certificate\n"           \
  "      --part-size N    multipart part / download range size, >= 5M\n"      \
  "                       (suffix K, M, G; default 8M)\n"                     \
  "      --concurrency N  parts or ranges in flight (default 4)\n"            \
  "      --max-attempts N tries per request, the first included (default 12;\n" \
  "                       env AWS_MAX_ATTEMPTS)\n"                            \
  "      --retry-timeout S  seconds a request may keep retrying (default 300)\n"

/* Sets a one-pipeline command's context CPU budget to the thread pool's
 * size less one (main.c sized the pool for the command's gzip threads). */
void cli_ctx_cpu_budget(pipe_ctx_t* ctx);

/* A context for the run with the S3 configuration resolved (aws-cli's
 * precedence) and cli_ctx_cpu_budget() applied. Prints the error and
 * returns its exit code, or 0. */
int cli_s3_ctx(uv_loop_t* loop, const cli_s3_t* o, pipe_ctx_t** out);

/* Closes and frees the context (running the loop until it has closed). */
void cli_s3_ctx_free(uv_loop_t* loop, pipe_ctx_t* ctx);

/* After a run: the S3 sink's receipt on success, a leftover upload's id on
 * failure. */
void cli_s3_after_run(pipe_pipeline_t* pl, int status);



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
/* pipe cp SRC DST; pipe s3 ls|cleanup */
int cli_cp_command(const cli_command_t* cmd, int argc, char** argv);
int cli_s3_command(const cli_command_t* cmd, int argc, char** argv);
/* pipe serve [options]: the HTTP upload service (cli/serve.c) */
int cli_serve_command(const cli_command_t* cmd, int argc, char** argv);

extern const cli_command_t cli_commands[];
extern const size_t cli_ncommands;

#endif
