/* Peak memory does not grow with input size: the real binary converts an
 * 8 MiB and a 96 MiB CSV; the child's peak RSS (wait4 rusage) must be the
 * same within a small margin and under a fixed bound. Sizes, not times:
 * this is a property, not a benchmark. Skipped under ASan, whose shadow
 * memory and quarantine make RSS meaningless. */
#include <criterion/criterion.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/wait.h>
#include <unistd.h>

#if defined(__SANITIZE_ADDRESS__)
#define UNDER_ASAN 1
#else
#define UNDER_ASAN 0
#endif

/* A CSV of about `bytes` bytes with quoted fields and embedded newlines. */
static void make_csv(const char* path, size_t bytes) {
  FILE* f = fopen(path, "w");
  size_t n = 0;
  unsigned i = 0;
  cr_assert_not_null(f);
  n += (size_t)fprintf(f, "id,name,amount,note\n");
  while (n < bytes) {
    n += (size_t)fprintf(f, "%u,name %u,%u.%02u,\"a \"\"quoted\"\", text%s\"\n", i,
                         i * 7u, i % 1000, i % 100, (i % 50) ? "" : "\nsecond line");
    i++;
  }
  fclose(f);
}

/* Runs pipe csv2json IN > /dev/null; returns peak RSS in KiB. */
static long run_rss(const char* in) {
  struct rusage ru;
  int st;
  pid_t pid = fork();
  if (pid == 0) {
    int fd = open("/dev/null", O_WRONLY);
    dup2(fd, 1);
    execl(PIPE_BIN, PIPE_BIN, "csv2json", "--no-progress", in, (char*)NULL);
    _exit(127);
  }
  cr_assert(pid > 0);
  cr_assert_eq(wait4(pid, &st, 0, &ru), pid);
  cr_assert(WIFEXITED(st) && WEXITSTATUS(st) == 0, "pipe failed: %d", st);
  return ru.ru_maxrss;
}

Test(memory, peak_rss_does_not_grow_with_input_size, .timeout = 120) {
  char small[] = "/tmp/pipe-mem-small-XXXXXX", big[] = "/tmp/pipe-mem-big-XXXXXX";
  long rs, rb;
  if (UNDER_ASAN) cr_skip_test("RSS is not meaningful under ASan");
  close(mkstemp(small));
  close(mkstemp(big));
  make_csv(small, 8u << 20);
  make_csv(big, 96u << 20);
  rs = run_rss(small);
  rb = run_rss(big);
  unlink(small);
  unlink(big);
  cr_log_info("peak RSS: 8 MiB input %ld KiB, 96 MiB input %ld KiB", rs, rb);
  cr_assert_lt(rb, 16 * 1024, "peak RSS %ld KiB over 16 MiB", rb);
  cr_assert_lt(rb, rs + 1024, "RSS grew with input: %ld -> %ld KiB", rs, rb);
}
