/* Running one pipeline for a command: sources and sinks from paths,
 * progress display, SIGINT/SIGTERM, error printing and exit codes. */
#include <ctype.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include <uv.h>

#include "cli.h"
#include "pipe/hash.h"

int cli_usage_error(const char* cmd, const char* fmt, ...) {
  va_list ap;
  fputs("pipe: ", stderr);
  va_start(ap, fmt);
  vfprintf(stderr, fmt, ap);
  va_end(ap);
  if (cmd != NULL)
    fprintf(stderr, "\nTry 'pipe help %s'.\n", cmd);
  else
    fputs("\nTry 'pipe --help'.\n", stderr);
  return CLI_EXIT_USAGE;
}

int cli_exit_code(int status) {
  switch (status) {
    case 0: return CLI_EXIT_OK;
    case PIPE_ECSV:
    case PIPE_EUTF8:
    case PIPE_EFIELDS:
    case PIPE_ELIMIT:
    case PIPE_EGZIP:
    case PIPE_ETRUNC: return CLI_EXIT_DATA;
    case PIPE_EUSAGE: return CLI_EXIT_USAGE;
    case PIPE_ECANCELED: return CLI_EXIT_SIGNAL;
    default: return CLI_EXIT_IO;
  }
}

/* ---- the run ------------------------------------------------------------- */

typedef struct run_s {
  pipe_pipeline_t* pl;
  pipe_stage_t* src;
  const cli_common_t* c;
  uv_timer_t timer;
  uv_signal_t sigint, sigterm;
  uint64_t t0;
  int progress; /* resolved: 0/1 */
  int shown;    /* a progress line is on screen */
  int status;
  int done;
} run_t;

static void human(double v, char* out, size_t n) {
  const char* units[] = {"B", "KiB", "MiB", "GiB", "TiB"};
  int u = 0;
  while (v >= 1024 && u < 4) {
    v /= 1024;
    u++;
  }
  snprintf(out, n, u ? "%.1f %s" : "%.0f %s", v, units[u]);
}

static void progress_draw(run_t* r, int final) {
  int64_t size = -1;
  uint64_t done = r->src->stats.bytes_out;
  double secs = (uv_hrtime() - r->t0) / 1e9;
  double rate = secs > 0 ? done / secs : 0;
  char a[32], b[32], c[32];
  if (r->c->input != NULL && strcmp(r->c->input, "-") != 0)
    size = pipe_file_source_size(r->src);
  human((double)done, a, sizeof(a));
  human(rate, c, sizeof(c));
  if (size > 0) {
    double pct = 100.0 * (double)done / (double)size;
    int width = 24, fill = (int)(pct * width / 100), i;
    double eta = rate > 0 ? (size - (double)done) / rate : 0;
    char bar[32];
    if (fill > width) fill = width;
    for (i = 0; i < width; i++) bar[i] = i < fill ? '#' : '-';
    bar[width] = 0;
    human((double)size, b, sizeof(b));
    fprintf(stderr, "\r[%s] %5.1f%% %s / %s  %s/s  ETA %d:%02d  ", bar, pct,
            a, b, c, (int)eta / 60, (int)eta % 60);
  } else {
    fprintf(stderr, "\r%s  %s/s  ", a, c);
  }
  if (final) fputs("\n", stderr);
  r->shown = 1;
}

static void timer_cb(uv_timer_t* t) {
  run_t* r = t->data;
  progress_draw(r, 0);
}

static void signal_cb(uv_signal_t* h, int signum) {
  run_t* r = h->data;
  (void)signum;
  pipe_pipeline_abort(r->pl, PIPE_ECANCELED);
}

static void done_cb(pipe_pipeline_t* pl, int status) {
  run_t* r = pipe_pipeline_data(pl);
  r->status = status;
  r->done = 1;
  if (r->progress) {
    uv_timer_stop(&r->timer);
    if (status == 0) progress_draw(r, 1);
    else if (r->shown) fputs("\n", stderr);
  }
  uv_close((uv_handle_t*)&r->timer, NULL);
  uv_close((uv_handle_t*)&r->sigint, NULL);
  uv_close((uv_handle_t*)&r->sigterm, NULL);
}

static void print_error(const pipe_error_t* e, const cli_common_t* c) {
  const char* in = (c->input && strcmp(c->input, "-") != 0) ? c->input : "<stdin>";
  if (e->code == PIPE_ECANCELED) {
    fputs("pipe: interrupted; no output was written\n", stderr);
    return;
  }
  if (e->line > 0)
    fprintf(stderr, "pipe: %s:%llu:%llu: %s\n", in, (unsigned long long)e->line,
            (unsigned long long)e->column, e->msg);
  else
    fprintf(stderr, "pipe: %s: %s\n", e->stage[0] ? e->stage : "error", e->msg);
}

/* Prints every hash stage's digest in coreutils' --tag format, naming the
 * output: `SHA256 (out.json.gz) = 5e88...`. */
static void print_checksums(pipe_pipeline_t* pl, const cli_common_t* c) {
  pipe_stage_t* s;
  const char* name = (c->output && strcmp(c->output, "-") != 0) ? c->output : "-";
  for (s = pipe_pipeline_first(pl); s != NULL; s = s->next) {
    char tag[16];
    size_t i;
    if (strcmp(s->name, "hash") != 0 || pipe_hash_hex(s) == NULL) continue;
    snprintf(tag, sizeof(tag), "%s", pipe_hash_algo_name(pipe_hash_algo(s)));
    for (i = 0; tag[i]; i++) tag[i] = (char)toupper((unsigned char)tag[i]);
    fprintf(stderr, "%s (%s) = %s\n", tag, name, pipe_hash_hex(s));
  }
}

/* 1 when the output file is the input file (same device and inode, so
 * also through a symlink or a hard link, or the file on stdin): replacing
 * it would destroy the input while it is being read. */
static int output_is_input(const cli_common_t* c) {
  struct stat in, out;
  int in_ok;
  if (c->output == NULL || strcmp(c->output, "-") == 0) return 0;
  if (c->input == NULL || strcmp(c->input, "-") == 0)
    in_ok = fstat(0, &in) == 0;
  else
    in_ok = stat(c->input, &in) == 0;
  return in_ok && S_ISREG(in.st_mode) && stat(c->output, &out) == 0 &&
         in.st_dev == out.st_dev && in.st_ino == out.st_ino;
}

int cli_run(uv_loop_t* loop, pipe_pipeline_t* pl, const cli_common_t* c) {
  pipe_stage_t* src = pipe_pipeline_first(pl);
  run_t r;
  int rc;
  if (output_is_input(c)) {
    fprintf(stderr,
            "pipe: %s is the input file: refusing to overwrite it (write to "
            "another file, then rename)\n",
            c->output);
    pipe_pipeline_free(pl);
    uv_run(loop, UV_RUN_DEFAULT);
    return CLI_EXIT_USAGE;
  }
  memset(&r, 0, sizeof(r));
  r.pl = pl;
  r.src = src;
  r.c = c;
  r.t0 = uv_hrtime();
  pipe_pipeline_set_data(pl, &r);
  uv_timer_init(loop, &r.timer);
  r.timer.data = &r;
  uv_signal_init(loop, &r.sigint);
  uv_signal_init(loop, &r.sigterm);
  r.sigint.data = r.sigterm.data = &r;
  uv_signal_start(&r.sigint, signal_cb, SIGINT);
  uv_signal_start(&r.sigterm, signal_cb, SIGTERM);
  /* Auto progress: only for a file input (size known) on a terminal. */
  r.progress = c->progress;
  if (r.progress < 0)
    r.progress = isatty(2) && c->input != NULL && strcmp(c->input, "-") != 0;
  rc = pipe_pipeline_run(pl, done_cb);
  if (rc < 0) {
    fprintf(stderr, "pipe: cannot run: %s\n", pipe_strerror(rc));
    pipe_pipeline_free(pl);
    uv_close((uv_handle_t*)&r.timer, NULL);
    uv_close((uv_handle_t*)&r.sigint, NULL);
    uv_close((uv_handle_t*)&r.sigterm, NULL);
    uv_run(loop, UV_RUN_DEFAULT);
    return CLI_EXIT_IO;
  }
  if (r.progress) uv_timer_start(&r.timer, timer_cb, 250, 250);
  uv_run(loop, UV_RUN_DEFAULT);
  if (r.status != 0) print_error(pipe_pipeline_error(pl), c);
  else print_checksums(pl, c);
  pipe_pipeline_free(pl);
  return cli_exit_code(r.status);
}
