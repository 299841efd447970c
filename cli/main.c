/* pipe — command dispatch, --help, --version. */
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <uv.h>

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
          "  2    usage error (also: -o names the input; gzip to, or gunzip "
          "from, a terminal)\n"
          "  3    I/O or system error (missing file, disk full, ...)\n"
          "  4    S3 refused (no credentials, access denied, no such bucket "
          "or key)\n"
          "  5    S3 unreachable (network errors until the retry budget ran "
          "out)\n"
          "  6    S3 integrity (stored ETag or length differs)\n"
          "  129, 130, 143  interrupted by SIGHUP, SIGINT, SIGTERM (128 + "
          "signal)\n"
          "On any failure the output file is not created (or left as it "
          "was).\n");
}

/* A command runs one pipeline, and size_threadpool() below has sized the
 * pool for its gzip --threads plus two: the context's CPU budget (which
 * exists for many pipelines sharing a pool, as in pipe serve) is the pool
 * less one thread for file I/O, so --threads N is honoured as before. */
void cli_ctx_cpu_budget(pipe_ctx_t* ctx) {
  const char* v = getenv("UV_THREADPOOL_SIZE");
  unsigned long pool = 4;
  if (v != NULL && *v != '\0') {
    char* end;
    unsigned long p = strtoul(v, &end, 10);
    if (*end == '\0' && p > 0) pool = p > 1024 ? 1024 : p;
  }
  pipe_ctx_set_cpu_jobs(ctx, pool > 1 ? (unsigned)(pool - 1) : 1);
}

static const cli_command_t* find(const char* name) {
  size_t i;
  for (i = 0; i < cli_ncommands; i++)
    if (strcmp(cli_commands[i].name, name) == 0) return &cli_commands[i];
  return NULL;
}

/* libuv's thread pool (compression jobs, fs requests) has 4 threads unless
 * UV_THREADPOOL_SIZE says otherwise, read once at its first use. gzip keeps
 * its jobs at most one below the pool size so file I/O always has a thread:
 * size the pool for the CPUs, or for an explicit --threads N, plus two. The
 * user's own setting wins. */
static void size_threadpool(int argc, char** argv) {
  long want = (long)uv_available_parallelism() + 2;
  char val[16];
  int i;
  if (getenv("UV_THREADPOOL_SIZE") != NULL) return;
  for (i = 1; i < argc; i++) {
    const char* a = argv[i];
    const char* v = NULL;
    if (strcmp(a, "--threads") == 0 && i + 1 < argc) v = argv[i + 1];
    else if (strncmp(a, "--threads=", 10) == 0) v = a + 10;
    if (v != NULL) {
      long n = strtol(v, NULL, 10);
      if (n + 2 > want) want = n + 2;
    }
  }
  if (want < 4) want = 4;
  if (want > 1024) want = 1024; /* libuv's own cap */
  snprintf(val, sizeof(val), "%ld", want);
  setenv("UV_THREADPOOL_SIZE", val, 1);
}

/* Started with fd 0, 1 or 2 closed (`2>&-`, cron, a careless daemon): the
 * next open() would get that number, and a file we open would then be
 * taken for standard input or output (libuv also asserts that the fds it
 * closes are above 2). Give each closed one /dev/null, as daemons and
 * coreutils do: reads see end of file, writes vanish. */
static void fill_closed_stdio(void) {
  int fd;
  for (fd = 0; fd <= 2; fd++) {
    int got;
    if (fcntl(fd, F_GETFD) != -1 || errno != EBADF) continue;
    got = open("/dev/null", fd == 0 ? O_RDONLY : O_WRONLY);
    /* open() returns the lowest free number: fd itself, as the lower ones
     * are open by now. Anything else means we could not fix it. */
    if (got >= 0 && got != fd) close(got);
  }
}

int main(int argc, char** argv) {
  const cli_command_t* c;
  fill_closed_stdio();
  size_threadpool(argc, argv);
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
