/* Running one pipeline for a command: sources and sinks from paths,
 * progress display, SIGINT/SIGTERM/SIGHUP, error printing and exit codes. */
#include <ctype.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
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
    case PIPE_ES3:
    case PIPE_ENOCREDS:
    case PIPE_ES3NOTFOUND:
    case PIPE_ES3DENIED: return CLI_EXIT_S3;
    case PIPE_ENET: return CLI_EXIT_NET;
    case PIPE_EINTEGRITY: return CLI_EXIT_INTEGRITY;
    case PIPE_ECANCELED: return CLI_EXIT_SIGNAL;
    default: return CLI_EXIT_IO;
  }
}

/* ---- the run ------------------------------------------------------------- */

typedef struct run_s {
  pipe_pipeline_t* pl;
  pipe_stage_t* src;
  pipe_stage_t* sink;
  const cli_common_t* c;
  uv_timer_t timer;
  uv_signal_t sigint, sigterm, sighup;
  uint64_t t0;
  int progress;    /* resolved: 0/1 */
  int shown;       /* a progress line is on screen */
  int last_len;    /* length of the line on screen, to blank its rest */
  int signum;      /* the first signal that interrupted the run, or 0 */
  int out_existed; /* OUT was there before the run (it is left as it was) */
  int status;
  int done;
} run_t;

static int to_stdout(const cli_common_t* c) {
  return c->output == NULL || strcmp(c->output, "-") == 0;
}

static int from_stdin(const cli_common_t* c) {
  return c->input == NULL || strcmp(c->input, "-") == 0;
}

static void human(double v, char* out, size_t n) {
  const char* units[] = {"B", "KiB", "MiB", "GiB", "TiB"};
  int u = 0;
  while (v >= 1024 && u < 4) {
    v /= 1024;
    u++;
  }
  snprintf(out, n, u ? "%.1f %s" : "%.0f %s", v, units[u]);
}

/* m:ss, or h:mm:ss from an hour on. */
static void clock_time(double secs, char* out, size_t n) {
  long t = (long)(secs + 0.5);
  if (t >= 3600)
    snprintf(out, n, "%ld:%02ld:%02ld", t / 3600, t / 60 % 60, t % 60);
  else
    snprintf(out, n, "%ld:%02ld", t / 60, t % 60);
}

/* Columns of the terminal on stderr: TIOCGWINSZ (asked at every draw, so
 * a resized window is followed), else $COLUMNS, else 80. */
static int term_cols(void) {
  struct winsize ws;
  const char* env = getenv("COLUMNS");
  if (ioctl(2, TIOCGWINSZ, &ws) == 0 && ws.ws_col > 0) return ws.ws_col;
  if (env != NULL) {
    long n = strtol(env, NULL, 10);
    if (n > 0 && n < 10000) return (int)n;
  }
  return 80;
}

/* One line, never wider than the terminal less one column (writing the
 * last column wraps on many terminals, and a wrapped line is not redrawn
 * by \r: every update would scroll). The bar takes the room the text
 * leaves, 30 cells at most, and is dropped below 5. At the end the ETA
 * gives way to the elapsed time and the average rate. */
static void progress_draw(run_t* r, int final) {
  int64_t size = -1;
  uint64_t done = r->src->stats.bytes_out;
  double secs = (uv_hrtime() - r->t0) / 1e9;
  double rate = secs > 0 ? done / secs : 0;
  char a[32], b[32], c[32], t[32], text[160], line[256];
  int cols = term_cols() - 1, len, width;
  if (!from_stdin(r->c)) size = pipe_file_source_size(r->src);
  if (size < 0) size = pipe_s3_source_size(r->src);
  human((double)done, a, sizeof(a));
  human(rate, c, sizeof(c));
  if (final) {
    clock_time(secs, t, sizeof(t));
    snprintf(text, sizeof(text), "%s in %s, %s/s", a, t, c);
  } else if (size > 0) {
    double eta = rate > 0 ? (size - (double)done) / rate : 0;
    human((double)size, b, sizeof(b));
    clock_time(eta, t, sizeof(t));
    snprintf(text, sizeof(text), "%5.1f%% %s / %s  %s/s  ETA %s",
             100.0 * (double)done / (double)size, a, b, c, t);
    if (cols - (int)strlen(text) - 3 < 10) /* narrow: room for a bar */
      snprintf(text, sizeof(text), "%.0f%% %s/s ETA %s",
               100.0 * (double)done / (double)size, c, t);
  } else {
    snprintf(text, sizeof(text), "%s  %s/s", a, c);
  }
  width = cols - (int)strlen(text) - 3; /* "[", "] " */
  if (width > 30) width = 30;
  if (size > 0 && width >= 5) {
    char bar[32];
    int fill = (int)((double)done * width / (double)size), i;
    if (fill > width) fill = width;
    for (i = 0; i < width; i++) bar[i] = i < fill ? '#' : '-';
    bar[width] = 0;
    snprintf(line, sizeof(line), "[%s] %s", bar, text);
  } else {
    snprintf(line, sizeof(line), "%s", text);
  }
  len = (int)strlen(line);
  if (cols > 0 && len > cols) len = cols;
  /* Blank what a longer previous line left, within the same width. */
  fprintf(stderr, "\r%.*s%*s", len, line,
          r->last_len > len ? r->last_len - len : 0, "");
  r->last_len = len;
  if (final) fputs("\n", stderr);
  r->shown = 1;
}

static void timer_cb(uv_timer_t* t) {
  run_t* r = t->data;
  progress_draw(r, 0);
}

static void signal_cb(uv_signal_t* h, int signum) {
  run_t* r = h->data;
  if (r->signum == 0) r->signum = signum; /* the exit status reports it */
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
  uv_close((uv_handle_t*)&r->sighup, NULL);
  /* The S3 client's handles close too, so that uv_run returns. */
  if (r->c->ctx != NULL) pipe_ctx_close(r->c->ctx, NULL, NULL);
}

/* Sources and sinks name their file in every message ("cannot open
 * x.csv: ..."): their stage names (file_source, stdout_sink) mean nothing
 * to a user. A transform's name is the command the user typed. */
static int names_its_file(const char* stage) {
  size_t n = strlen(stage);
  return (n > 7 && strcmp(stage + n - 7, "_source") == 0) ||
         (n > 5 && strcmp(stage + n - 5, "_sink") == 0);
}

/* What an interrupted run did to its output, truthfully: a file is only
 * renamed into place on success, so it was not written (or left as it
 * was); standard output, a device or a FIFO got whatever was written. */
static void print_interrupted(const run_t* r) {
  const cli_common_t* c = r->c;
  const char* sig = r->signum == SIGHUP    ? "SIGHUP"
                    : r->signum == SIGTERM ? "SIGTERM"
                                           : "SIGINT";
  int streamed = to_stdout(c) || pipe_file_sink_in_place(r->sink) == 1;
  if (streamed && r->sink->stats.bytes_in > 0)
    fprintf(stderr, "pipe: interrupted by %s; the output written so far is "
                    "incomplete\n", sig);
  else if (streamed)
    fprintf(stderr, "pipe: interrupted by %s; no output was written\n", sig);
  else if (r->out_existed)
    fprintf(stderr, "pipe: interrupted by %s; %s was left as it was\n", sig,
            c->output);
  else
    fprintf(stderr, "pipe: interrupted by %s; %s was not written\n", sig,
            c->output);
}

static void print_error(const run_t* r, const pipe_error_t* e) {
  const cli_common_t* c = r->c;
  const char* in = (c->input && strcmp(c->input, "-") != 0) ? c->input : "<stdin>";
  if (e->code == PIPE_ECANCELED) {
    print_interrupted(r);
    return;
  }
  if (e->line > 0)
    fprintf(stderr, "pipe: %s:%llu:%llu: %s\n", in, (unsigned long long)e->line,
            (unsigned long long)e->column, e->msg);
  else if (e->stage[0] == '\0' || names_its_file(e->stage))
    fprintf(stderr, "pipe: %s\n", e->msg);
  else
    fprintf(stderr, "pipe: %s: %s\n", e->stage, e->msg);
}

/* A hash stage is a pass-through: "the bytes it saw" are those of the
 * nearest real stage (or file) on either side. */
static int is_hash(const pipe_stage_t* s) {
  return pipe_hash_algo(s) != 0;
}

/* What stage h hashed, for the label: the output file when nothing after it
 * changes the bytes (`... | hash | OUT`, --checksum), else the input file
 * when nothing before it does (`IN | hash | csv2json | OUT`), else no file
 * holds those bytes and the label says how they were made (`IN | csv2json`).
 * "-" is standard input or output, as for sha256sum. */
static void checksum_label(pipe_pipeline_t* pl, const pipe_stage_t* h,
                           const cli_common_t* c, char* out, size_t cap) {
  const char* in = (c->input && strcmp(c->input, "-") != 0) ? c->input : "-";
  const char* outp = (c->output && strcmp(c->output, "-") != 0) ? c->output : "-";
  const pipe_stage_t* s;
  int changed_before = 0, changed_after = 0;
  size_t n;
  for (s = pipe_pipeline_first(pl)->next; s != NULL && s != h; s = s->next)
    if (!is_hash(s)) changed_before = 1;
  for (s = h->next; s != NULL && s->next != NULL; s = s->next)
    if (!is_hash(s)) changed_after = 1;
  if (!changed_after) {
    snprintf(out, cap, "%s", outp);
    return;
  }
  if (!changed_before) {
    snprintf(out, cap, "%s", in);
    return;
  }
  n = (size_t)snprintf(out, cap, "%s", in);
  for (s = pipe_pipeline_first(pl)->next; s != h && n < cap; s = s->next)
    if (!is_hash(s)) n += (size_t)snprintf(out + n, cap - n, " | %s", s->name);
}

/* Prints "TAG (NAME) = HEX" as `sha256sum --tag` does, escaping NAME as
 * coreutils does so that `sha256sum -c` reads the line back: a name with a
 * backslash, newline or carriage return gets a leading backslash on the
 * line and those characters written \\, \n and \r. */
static void print_tag_line(const char* tag, const char* name, const char* hex) {
  const char* p;
  int esc = strpbrk(name, "\\\n\r") != NULL;
  if (esc) fputc('\\', stderr);
  fprintf(stderr, "%s (", tag);
  for (p = name; *p != '\0'; p++) {
    if (esc && *p == '\\') fputs("\\\\", stderr);
    else if (esc && *p == '\n') fputs("\\n", stderr);
    else if (esc && *p == '\r') fputs("\\r", stderr);
    else fputc(*p, stderr);
  }
  fprintf(stderr, ") = %s\n", hex);
}

/* Prints every hash stage's digest in coreutils' --tag format, labelled
 * with what was hashed: `SHA256 (out.json.gz) = 5e88...`. */
static void print_checksums(pipe_pipeline_t* pl, const cli_common_t* c) {
  pipe_stage_t* s;
  for (s = pipe_pipeline_first(pl); s != NULL; s = s->next) {
    char tag[16], label[4096];
    size_t i;
    if (!is_hash(s) || pipe_hash_hex(s) == NULL) continue;
    snprintf(tag, sizeof(tag), "%s", pipe_hash_algo_name(pipe_hash_algo(s)));
    for (i = 0; tag[i]; i++) tag[i] = (char)toupper((unsigned char)tag[i]);
    checksum_label(pl, s, c, label, sizeof(label));
    print_tag_line(tag, label, pipe_hash_hex(s));
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

/* Two fds on the same terminal (stdout and stderr both on the screen). */
static int same_terminal(int a, int b) {
  struct stat x, y;
  return isatty(a) && isatty(b) && fstat(a, &x) == 0 && fstat(b, &y) == 0 &&
         x.st_rdev == y.st_rdev;
}

/* The stage next to `s` going `up` (towards the source) or down, skipping
 * hash stages, which pass the bytes through unchanged. */
static pipe_stage_t* skip_hash(pipe_stage_t* s, int up) {
  while (s != NULL && strcmp(s->name, "hash") == 0) s = up ? s->prev : s->next;
  return s;
}

/* gzip's rule: compressed data is not written to a terminal (it would be
 * garbage on the screen, and can upset the terminal), nor read from one
 * (nobody types gzip: the run would wait silently). Returns 1 after
 * saying so. */
static int refuses_terminal(const run_t* r) {
  const cli_common_t* c = r->c;
  pipe_stage_t* before_sink = skip_hash(r->sink->prev, 1);
  pipe_stage_t* after_src = skip_hash(r->src->next, 0);
  if (to_stdout(c) && isatty(1) && before_sink != NULL &&
      strcmp(before_sink->name, "gzip") == 0) {
    fputs("pipe: compressed data not written to a terminal (use -o FILE or "
          "redirect standard output)\n", stderr);
    return 1;
  }
  if (from_stdin(c) && isatty(0) && after_src != NULL &&
      strcmp(after_src->name, "gunzip") == 0) {
    fputs("pipe: compressed data not read from a terminal (name a FILE or "
          "redirect standard input)\n", stderr);
    return 1;
  }
  return 0;
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
  for (r.sink = src; r.sink->next != NULL; r.sink = r.sink->next) continue;
  r.c = c;
  if (refuses_terminal(&r)) {
    pipe_pipeline_free(pl);
    uv_run(loop, UV_RUN_DEFAULT);
    return CLI_EXIT_USAGE;
  }
  if (!to_stdout(c)) {
    struct stat st;
    r.out_existed = stat(c->output, &st) == 0;
  }
  r.t0 = uv_hrtime();
  pipe_pipeline_set_data(pl, &r);
  uv_timer_init(loop, &r.timer);
  r.timer.data = &r;
  uv_signal_init(loop, &r.sigint);
  uv_signal_init(loop, &r.sigterm);
  uv_signal_init(loop, &r.sighup);
  r.sigint.data = r.sigterm.data = r.sighup.data = &r;
  /* SIGHUP is an ssh session or terminal going away: the same teardown
   * (temp file removed, target untouched) as Ctrl-C or a kill. */
  uv_signal_start(&r.sigint, signal_cb, SIGINT);
  uv_signal_start(&r.sigterm, signal_cb, SIGTERM);
  uv_signal_start(&r.sighup, signal_cb, SIGHUP);
  /* Auto progress: for a file input (size known) with stderr a terminal,
   * unless the data itself goes to that same terminal (the bar would be
   * mixed into it). */
  r.progress = c->progress;
  if (r.progress < 0)
    r.progress = isatty(2) && !from_stdin(c) &&
                 !(to_stdout(c) && same_terminal(1, 2));
  rc = pipe_pipeline_run(pl, done_cb);
  if (rc < 0) {
    fprintf(stderr, "pipe: cannot run: %s\n", pipe_strerror(rc));
    pipe_pipeline_free(pl);
    uv_close((uv_handle_t*)&r.timer, NULL);
    uv_close((uv_handle_t*)&r.sigint, NULL);
    uv_close((uv_handle_t*)&r.sigterm, NULL);
    uv_close((uv_handle_t*)&r.sighup, NULL);
    uv_run(loop, UV_RUN_DEFAULT);
    return CLI_EXIT_IO;
  }
  if (r.progress) uv_timer_start(&r.timer, timer_cb, 250, 250);
  uv_run(loop, UV_RUN_DEFAULT);
  if (r.status != 0) print_error(&r, pipe_pipeline_error(pl));
  else print_checksums(pl, c);
  cli_s3_after_run(pl, r.status);
  pipe_pipeline_free(pl);
  /* 128 + the signal's number (129 SIGHUP, 130 SIGINT, 143 SIGTERM): what
   * shells report for a process a signal ended, and supervisors read. */
  if (r.status == PIPE_ECANCELED && r.signum > 0) return 128 + r.signum;
  return cli_exit_code(r.status);
}
