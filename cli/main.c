/* pipe — command dispatch, --help, --version. */
#include <signal.h>
#include <stdio.h>
#include <string.h>

#include "cli.h"

typedef struct command_s {
  const char* name;
  const char* summary;
  int (*run)(int argc, char** argv);
  void (*help)(FILE* out);
} command_t;

static const command_t commands[] = {
    {"csv2json", "convert CSV to NDJSON or a JSON array", cmd_csv2json,
     help_csv2json},
};
#define NCOMMANDS (sizeof(commands) / sizeof(commands[0]))

static void usage(FILE* out) {
  size_t i;
  fprintf(out,
          "pipe %s: streaming data pipelines (CSV to JSON, ...) in bounded "
          "memory\n\n"
          "usage: pipe COMMAND [ARGS...]\n"
          "       pipe help COMMAND\n"
          "       pipe --version\n\n"
          "commands:\n",
          PIPE_VERSION_STRING);
  for (i = 0; i < NCOMMANDS; i++)
    fprintf(out, "  %-10s %s\n", commands[i].name, commands[i].summary);
  fprintf(out,
          "\nexit status:\n"
          "  0    success\n"
          "  1    bad input data (malformed CSV, invalid UTF-8, ...); the "
          "error names line and column\n"
          "  2    usage error\n"
          "  3    I/O or system error (missing file, disk full, ...)\n"
          "  130  interrupted by SIGINT/SIGTERM\n"
          "On any failure the output file is not created (or left as it "
          "was).\n");
}

static const command_t* find(const char* name) {
  size_t i;
  for (i = 0; i < NCOMMANDS; i++)
    if (strcmp(commands[i].name, name) == 0) return &commands[i];
  return NULL;
}

int main(int argc, char** argv) {
  const command_t* c;
  /* A closed stdout is reported as EPIPE by write(), handled by the sink. */
  signal(SIGPIPE, SIG_IGN);
  if (argc < 2) {
    usage(stderr);
    return CLI_EXIT_USAGE;
  }
  if (strcmp(argv[1], "--help") == 0 || strcmp(argv[1], "-h") == 0) {
    usage(stdout);
    return CLI_EXIT_OK;
  }
  if (strcmp(argv[1], "--version") == 0 || strcmp(argv[1], "-V") == 0) {
    printf("pipe %s\n", PIPE_VERSION_STRING);
    return CLI_EXIT_OK;
  }
  if (strcmp(argv[1], "help") == 0) {
    if (argc < 3) {
      usage(stdout);
      return CLI_EXIT_OK;
    }
    c = find(argv[2]);
    if (c == NULL)
      return cli_usage_error(NULL, "unknown command '%s'", argv[2]);
    c->help(stdout);
    return CLI_EXIT_OK;
  }
  c = find(argv[1]);
  if (c == NULL) return cli_usage_error(NULL, "unknown command '%s'", argv[1]);
  return c->run(argc - 1, argv + 1);
}
