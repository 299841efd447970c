/* Peak memory of S3 uploads (the child's peak RSS from wait4), against
 * Swift: from a file, pipe cp reads each part when it is sent and stays
 * under 32 MiB; from a stream it copies into part buffers and stays under
 * part size x (concurrency + 1) + 16 MiB (`pipe run 'FILE | s3://...'` reads
 * parts from the file as pipe cp does); behind gzip it adds no more than
 * that to what gzip itself uses. Sizes, not times. Skipped under ASan. */
#include <criterion/criterion.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/wait.h>
#include <unistd.h>

#include "support/cli_exec.h"
#include "support/swift.h"

#if defined(__SANITIZE_ADDRESS__)
#define UNDER_ASAN 1
#else
#define UNDER_ASAN 0
#endif

TestSuite(cli_s3_memory, .timeout = 240);

#define MIB (1024 * 1024)

/* Runs `sh -c CMD` (which must exec the measured program) and returns
 * the peak RSS in KiB; asserts exit 0. */
static long run_rss(const char* cmd) {
  struct rusage ru;
  int st;
  pid_t pid = fork();
  if (pid == 0) {
    execl("/bin/sh", "sh", "-c", cmd, (char*)NULL);
    _exit(127);
  }
  cr_assert(pid > 0);
  cr_assert_eq(wait4(pid, &st, 0, &ru), pid);
  cr_assert(WIFEXITED(st) && WEXITSTATUS(st) == 0, "failed (%d): %s", st, cmd);
  return ru.ru_maxrss;
}

Test(cli_s3_memory, uploads_stay_within_their_memory_bounds) {
  swift_t sw;
  char* tmp;
  char src[512], env[1024], cmd[4096];
  long file_kib, stream_kib, gzip_kib, gzip_s3_kib;
  FILE* f;
  size_t i;
  if (UNDER_ASAN) cr_skip_test("RSS is meaningless under ASan");
  tmp = cli_tmpdir();
  snprintf(src, sizeof(src), "%s/big", tmp);
  f = fopen(src, "w");
  cr_assert_not_null(f);
  for (i = 0; i < 64 * MIB / 8; i++) {
    uint64_t x = i * 0x9e3779b97f4a7c15ull;
    x ^= x >> 29;
    fwrite(&x, 8, 1, f);
  }
  fclose(f);
  swift_start(&sw, NULL);
  swift_env(&sw, env, sizeof(env));
  strcat(env, " AWS_CONFIG_FILE=/nonexistent AWS_SHARED_CREDENTIALS_FILE=/nonexistent");

  snprintf(cmd, sizeof(cmd), "exec env %s %s cp --no-progress --endpoint-url %s %s "
           "s3://test/file 2>/dev/null", env, PIPE_BIN, sw.endpoint, src);
  file_kib = run_rss(cmd);
  cr_expect_leq(file_kib, 32 * 1024, "file upload: %ld KiB", file_kib);

  snprintf(cmd, sizeof(cmd), "exec env %s %s run --no-progress --endpoint-url %s "
           "'%s | s3://test/runfile' 2>/dev/null", env, PIPE_BIN, sw.endpoint, src);
  file_kib = run_rss(cmd);
  cr_expect_leq(file_kib, 32 * 1024, "pipe run 'file | s3://': %ld KiB", file_kib);

  snprintf(cmd, sizeof(cmd), "exec env %s %s cp --no-progress --part-size 8M "
           "--concurrency 4 --endpoint-url %s - s3://test/stream < %s 2>/dev/null",
           env, PIPE_BIN, sw.endpoint, src);
  stream_kib = run_rss(cmd);
  cr_expect_leq(stream_kib, (8 * 5 + 16) * 1024, "stream upload: %ld KiB", stream_kib);

  snprintf(cmd, sizeof(cmd), "exec %s gzip -1 --no-progress %s -o /dev/null", PIPE_BIN,
           src);
  gzip_kib = run_rss(cmd);
  snprintf(cmd, sizeof(cmd), "exec env %s %s run --no-progress --endpoint-url %s "
           "'%s | gzip -1 | s3://test/gz' 2>/dev/null", env, PIPE_BIN, sw.endpoint, src);
  gzip_s3_kib = run_rss(cmd);
  cr_expect_leq(gzip_s3_kib, gzip_kib + (8 * 5 + 16) * 1024,
                "gzip | s3://: %ld KiB, gzip alone %ld KiB", gzip_s3_kib, gzip_kib);
  swift_stop(&sw);
  cli_rmtree(tmp);
  free(tmp);
}
