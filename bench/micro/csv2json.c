/* Micro-benchmark of the CSV -> JSON codec: converts a file in memory, in
 * 64 KiB input chunks into a 64 KiB output buffer (as the stage does), and
 * prints one TSV line: name, bytes, seconds, MB/s (of input), peak RSS (KiB).
 *
 *   csv2json_bench FILE [--infer] [--array] [--level N] [--reps N]
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <time.h>

#include "codec/csv2json.h"
#include "codec/csv_scan.h"

/* CPU time of this thread: the machine may be shared (CI, other builds),
 * and preemption would otherwise dominate best-of-N wall times. */
static double now(void) {
  struct timespec ts;
  clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts);
  return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

int main(int argc, char** argv) {
  pipe_csvj_opts_t o;
  const char* path = NULL;
  int level = -1, reps = 5, i, rep;
  FILE* f;
  uint8_t *in, *out;
  size_t n, cap = 1 << 16, total_out = 0;
  long fsz;
  double best = 1e30;
  struct rusage ru;
  memset(&o, 0, sizeof(o));
  o.delim = ',';
  o.header = 1;
  for (i = 1; i < argc; i++) {
    if (strcmp(argv[i], "--infer") == 0) o.infer = 1;
    else if (strcmp(argv[i], "--array") == 0) o.array = 1;
    else if (strcmp(argv[i], "--level") == 0 && i + 1 < argc) level = (int)strtol(argv[++i], NULL, 10);
    else if (strcmp(argv[i], "--reps") == 0 && i + 1 < argc) reps = (int)strtol(argv[++i], NULL, 10);
    else path = argv[i];
  }
  if (path == NULL || (f = fopen(path, "rb")) == NULL) {
    fprintf(stderr, "usage: %s FILE [--infer] [--array] [--level N] [--reps N]\n", argv[0]);
    return 2;
  }
  fseek(f, 0, SEEK_END);
  fsz = ftell(f);
  fseek(f, 0, SEEK_SET);
  in = malloc((size_t)fsz + 1);
  out = malloc(cap);
  if (in == NULL || out == NULL) return 1;
  n = fread(in, 1, (size_t)fsz, f);
  fclose(f);
  if (level < 0) level = pipe__csv_scan_best();
  for (rep = 0; rep < reps; rep++) {
    pipe_csvj_t* cj;
    size_t pos = 0, used = 0;
    double t0;
    int r = 0;
    total_out = 0;
    if (pipe__csvj_new(&o, &cj) != 0 || pipe__csvj_set_scan_level(cj, level) != 0) {
      fprintf(stderr, "level %d not available\n", level);
      return 1;
    }
    t0 = now();
    while (pos < n) {
      size_t end = pos + (n - pos < cap ? n - pos : cap);
      while (pos < end) {
        size_t c, p;
        r = pipe__csvj_feed(cj, in + pos, end - pos, &c, out + used, cap - used, &p);
        if (r < 0) break;
        pos += c;
        used += p;
        if (cap - used < 4096) {
          total_out += used;
          used = 0;
        }
      }
      if (r < 0) break;
    }
    while (r == 0 || r == PIPE_FULL) {
      size_t p;
      r = pipe__csvj_finish(cj, out + used, cap - used, &p);
      used += p;
      total_out += used;
      used = 0;
      if (r != PIPE_FULL) break;
    }
    t0 = now() - t0;
    if (r < 0) {
      fprintf(stderr, "error: %s\n", pipe__csvj_error(cj)->msg);
      return 1;
    }
    pipe__csvj_free(cj);
    if (t0 < best) best = t0;
  }
  getrusage(RUSAGE_SELF, &ru);
  printf("csv2json%s/%s\t%zu\t%.4f\t%.1f\t%ld\n", o.infer ? "-infer" : "",
         pipe__csv_scan_name(level), n, best, (double)n / best / 1e6, ru.ru_maxrss);
  fprintf(stderr, "output %zu bytes (%.2fx input)\n", total_out, (double)total_out / (double)n);
  return 0;
}
