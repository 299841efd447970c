/* An ETL job written against the public headers only: CSV in, NDJSON out,
 * with a custom transform that drops records whose given column is empty.
 *
 *   etl_drop_empty IN.csv OUT.ndjson COLUMN
 *
 * The custom stage is a pipe_xform_t (pipe/transform.h): it sees bytes of
 * NDJSON from csv2json and copies every line except those holding
 * `"COLUMN":""`. csv2json writes compact JSON in which a quote inside a
 * value is always escaped (\"), so that exact byte sequence can only be
 * the key and an empty value — a plain substring test is exact here.
 *
 * Memory: a line split across buffers is carried in `line` (bounded by
 * MAX_LINE; a longer record fails the run with PIPE_ELIMIT), everything
 * else streams through pooled buffers as for any built-in stage. */
#define _GNU_SOURCE /* memmem */
#include <pipe.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <uv.h>

#define MAX_LINE (1 << 20)

typedef struct drop_empty_s {
  pipe_xform_t base; /* first: the core's transform state */
  char needle[256];  /* "COLUMN":"" */
  size_t needle_len;
  char* line;        /* the current line, possibly spanning buffers */
  size_t line_len;
  size_t flushed;    /* bytes of a kept line already copied out */
  int have_line;     /* line holds a complete line awaiting output */
  uint64_t dropped;
} drop_empty_t;

/* Emits the pending complete line (if it is kept) as far as room allows.
 * Returns 1 once the line is fully handled. */
static int emit_line(drop_empty_t* d, uint8_t* out, size_t cap, size_t* produced) {
  size_t left, n;
  if (d->flushed == 0 &&
      memmem(d->line, d->line_len, d->needle, d->needle_len) != NULL) {
    d->dropped++;
    d->line_len = 0;
    d->have_line = 0;
    return 1;
  }
  left = d->line_len - d->flushed;
  n = left < cap - *produced ? left : cap - *produced;
  memcpy(out + *produced, d->line + d->flushed, n);
  *produced += n;
  d->flushed += n;
  if (d->flushed < d->line_len) return 0;
  d->line_len = d->flushed = 0;
  d->have_line = 0;
  return 1;
}

static int drop_convert(pipe_xform_t* x, const uint8_t* in, size_t len,
                        size_t* consumed, uint8_t* out, size_t cap,
                        size_t* produced) {
  drop_empty_t* d = (drop_empty_t*)x;
  size_t i = 0;
  *produced = 0;
  while (i < len || d->have_line) {
    const uint8_t* nl;
    size_t take;
    if (d->have_line) {
      if (!emit_line(d, out, cap, produced)) break; /* out is full */
      continue;
    }
    nl = memchr(in + i, '\n', len - i);
    take = nl ? (size_t)(nl - (in + i)) + 1 : len - i;
    if (d->line_len + take > MAX_LINE) {
      pipe_stage_fail(&x->stage, PIPE_ELIMIT,
                      "drop_empty: a record is longer than %d bytes", MAX_LINE);
      return PIPE_ELIMIT;
    }
    memcpy(d->line + d->line_len, in + i, take);
    d->line_len += take;
    i += take;
    if (nl != NULL) d->have_line = 1;
  }
  *consumed = i;
  return 0;
}

static int drop_finish(pipe_xform_t* x, uint8_t* out, size_t cap, size_t* produced) {
  drop_empty_t* d = (drop_empty_t*)x;
  *produced = 0;
  if (d->line_len > 0) d->have_line = 1; /* last line without newline */
  if (d->have_line && !emit_line(d, out, cap, produced)) return PIPE_FULL;
  return 0;
}

static void drop_destroy(pipe_xform_t* x, int status) {
  drop_empty_t* d = (drop_empty_t*)x;
  (void)status;
  free(d->line);
}

static const pipe_xform_ops_t drop_empty_ops = {
    .stage = PIPE_XFORM_STAGE_OPS("drop_empty", sizeof(drop_empty_t)),
    .convert = drop_convert,
    .finish = drop_finish,
    .destroy = drop_destroy,
};

static int drop_empty_new(pipe_pipeline_t* pl, const char* column) {
  pipe_xform_t* x;
  drop_empty_t* d;
  int r = pipe_xform_new(pl, &drop_empty_ops, &x);
  if (r < 0) return r;
  d = (drop_empty_t*)x;
  d->line = malloc(MAX_LINE);
  if (d->line == NULL) return PIPE_ENOMEM;
  snprintf(d->needle, sizeof(d->needle), "\"%s\":\"\"", column);
  d->needle_len = strlen(d->needle);
  return 0;
}

static void done(pipe_pipeline_t* pl, int status) {
  const pipe_error_t* e = pipe_pipeline_error(pl);
  if (status < 0)
    fprintf(stderr, "etl_drop_empty: %s: %s\n", e->stage, e->msg);
}

int main(int argc, char** argv) {
  uv_loop_t loop;
  pipe_pipeline_t* pl;
  pipe_stage_t* filter;
  int status;
  if (argc != 4) {
    fprintf(stderr, "usage: etl_drop_empty IN.csv OUT.ndjson COLUMN\n");
    return 2;
  }
  pipe_file_source_config_t in = {argv[1]};
  pipe_file_sink_config_t out = {.path = argv[2], .fsync = 1};
  uv_loop_init(&loop);
  if (pipe_pipeline_new(&loop, NULL, &pl) < 0) return 3;
  if (pipe_file_source_new(pl, &in, NULL) < 0 ||
      pipe_csv2json_new(pl, NULL, NULL) < 0 ||
      drop_empty_new(pl, argv[3]) < 0 || pipe_file_sink_new(pl, &out, NULL) < 0) {
    fprintf(stderr, "etl_drop_empty: cannot build the pipeline\n");
    return 3;
  }
  filter = pipe_pipeline_first(pl)->next->next;
  pipe_pipeline_run(pl, done);
  uv_run(&loop, UV_RUN_DEFAULT);
  status = pipe_pipeline_error(pl)->code;
  if (status == 0)
    fprintf(stderr, "etl_drop_empty: dropped %llu records\n",
            (unsigned long long)((drop_empty_t*)filter)->dropped);
  pipe_pipeline_free(pl);
  uv_loop_close(&loop);
  return status == 0 ? 0 : 1;
}
