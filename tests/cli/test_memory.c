/* Peak memory does not grow with input size: the real binary converts (and
 * gzips) an 8 MiB and a 96 MiB CSV; the child's peak RSS (wait4 rusage) must be the
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

/* Runs `pipe ARGV... > /dev/null` (argv NULL-terminated, argv[0] the
 * command); returns the child's peak RSS in KiB. */
static long run_rss_argv(char* const* argv) {
  struct rusage ru;
  int st;
  pid_t pid = fork();
  if (pid == 0) {
    char* full[16];
    int fd = open("/dev/null", O_WRONLY), i;
    dup2(fd, 1);
    full[0] = PIPE_BIN;
    for (i = 0; argv[i] != NULL && i < 14; i++) full[i + 1] = argv[i];
    full[i + 1] = NULL;
    execv(PIPE_BIN, full);
    _exit(127);
  }
  cr_assert(pid > 0);
  cr_assert_eq(wait4(pid, &st, 0, &ru), pid);
  cr_assert(WIFEXITED(st) && WEXITSTATUS(st) == 0, "pipe failed: %d", st);
  return ru.ru_maxrss;
}

/* pipe csv2json IN > /dev/null. */
static long run_rss(const char* in) {
  char* argv[] = {"csv2json", "--no-progress", (char*)in, NULL};
  return run_rss_argv(argv);
}

Test(memory, peak_rss_does_not_grow_with_input_size, .timeout = 120,
     .disabled = UNDER_ASAN) {
  char small[] = "/tmp/pipe-mem-small-XXXXXX", big[] = "/tmp/pipe-mem-big-XXXXXX";
  long rs, rb;
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

/* gzip's documented bound (include/pipe/gzip.h): (2 x threads + 3) blocks
 * plus up to 0.7 MiB of compressor state per thread, on top of what the
 * process needs anyway (the csv2json run above: ~4 MiB). In KiB. */
static long gzip_bound_kib(long threads, long block_kib) {
  return (2 * threads + 3) * block_kib + threads * 717 + 6 * 1024;
}

Test(memory, gzip_peak_rss_stays_within_its_bound_whatever_the_input_size,
     .timeout = 180, .disabled = UNDER_ASAN) {
  char small[] = "/tmp/pipe-mem-gz-small-XXXXXX", big[] = "/tmp/pipe-mem-gz-big-XXXXXX";
  char* two[] = {"gzip", "--no-progress", "--threads", "2", NULL, NULL};
  char* four[] = {"gzip", "--no-progress", "--threads", "4", "--block-size",
                  "4M", NULL, NULL};
  long rs, rb, r4;
  close(mkstemp(small));
  close(mkstemp(big));
  make_csv(small, 8u << 20);
  make_csv(big, 96u << 20);
  two[4] = small;
  rs = run_rss_argv(two);
  two[4] = big;
  rb = run_rss_argv(two);
  four[6] = big;
  r4 = run_rss_argv(four);
  unlink(small);
  unlink(big);
  cr_log_info("gzip peak RSS: 2 threads x 1 MiB: %ld KiB (8 MiB input), %ld KiB "
              "(96 MiB); 4 threads x 4 MiB: %ld KiB", rs, rb, r4);
  cr_assert_lt(rb, gzip_bound_kib(2, 1024), "2 x 1 MiB: %ld KiB over %ld", rb,
               gzip_bound_kib(2, 1024));
  cr_assert_lt(rb, rs + 1024, "RSS grew with input: %ld -> %ld KiB", rs, rb);
  cr_assert_lt(r4, gzip_bound_kib(4, 4096), "4 x 4 MiB: %ld KiB over %ld", r4,
               gzip_bound_kib(4, 4096));
  cr_assert_gt(r4, rb, "the bound follows the configuration: %ld <= %ld", r4,
               rb);
}
