/* pipe — command dispatch, --help, --version. */
#include <signal.h>
#include <stdio.h>
#include <string.h>

#include "cli.h"

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
  for (i = 0; i < cli_ncommands; i++)
    fprintf(out, "  %-10s %s\n", cli_commands[i].name, cli_commands[i].summary);
  fprintf(out,
          "\nRun 'pipe help COMMAND' for a command's options.\n"
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

static const cli_command_t* find(const char* name) {
  size_t i;
  for (i = 0; i < cli_ncommands; i++)
    if (strcmp(cli_commands[i].name, name) == 0) return &cli_commands[i];
  return NULL;
}

int main(int argc, char** argv) {
  const cli_command_t* c;
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
    if (c->run == cli_stage_command)
      printf("usage: pipe %s [FILE|-] [-o OUT|-] [options]\n\n", c->name);
    fputs(c->usage, stdout);
    return CLI_EXIT_OK;
  }
  c = find(argv[1]);
  if (c == NULL) return cli_usage_error(NULL, "unknown command '%s'", argv[1]);
  return c->run(c, argc - 1, argv + 1);
}
