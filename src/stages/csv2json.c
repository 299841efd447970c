/* csv2json stage: the CSV->JSON codec (src/codec/csv2json.c) wrapped in a
 * synchronous transform. All the parsing lives in the codec, which knows
 * nothing of loops or buffers; this file only maps options and errors. */
#include <stdlib.h>

#include "codec/csv2json.h"
#include "pipe/csv.h"
#include "pipe/pipeline.h"
#include "pipe/transform.h"

typedef struct csv2json_s {
  pipe_xform_t base; /* first */
  pipe_csvj_t* conv;
  uint64_t records; /* kept past destroy for the summary line */
} csv2json_t;

static void fail_from_codec(csv2json_t* c) {
  pipe_stage_fail_with(&c->base.stage, pipe__csvj_error(c->conv));
}

static int csv2json_convert(pipe_xform_t* x, const uint8_t* in, size_t len,
                            size_t* consumed, uint8_t* out, size_t cap,
                            size_t* produced) {
  csv2json_t* c = (csv2json_t*)x;
  int r = pipe__csvj_feed(c->conv, in, len, consumed, out, cap, produced);
  if (r < 0) fail_from_codec(c);
  return r;
}

static int csv2json_finish(pipe_xform_t* x, uint8_t* out, size_t cap,
                           size_t* produced) {
  csv2json_t* c = (csv2json_t*)x;
  int r = pipe__csvj_finish(c->conv, out, cap, produced);
  if (r < 0) fail_from_codec(c);
  return r;
}

static void csv2json_destroy(pipe_xform_t* x, int status) {
  csv2json_t* c = (csv2json_t*)x;
  (void)status;
  if (c->conv == NULL) return;
  c->records = pipe__csvj_records(c->conv);
  pipe__csvj_free(c->conv);
  c->conv = NULL;
}

static const pipe_xform_ops_t csv2json_ops = {
    .stage = PIPE_XFORM_STAGE_OPS("csv2json", sizeof(csv2json_t)),
    .convert = csv2json_convert,
    .finish = csv2json_finish,
    .destroy = csv2json_destroy,
    .min_room = 4096,
};

int pipe_csv2json_new(pipe_pipeline_t* pl, const pipe_csv2json_config_t* cfg,
                      pipe_stage_t** out) {
  pipe_csv2json_config_t dflt = {0};
  pipe_csvj_opts_t o;
  pipe_xform_t* x;
  csv2json_t* c;
  int r;
  if (out != NULL) *out = NULL;
  if (cfg == NULL) cfg = &dflt;
  o.delim = cfg->delimiter ? cfg->delimiter : ',';
  o.header = !cfg->no_header;
  o.infer = cfg->infer;
  o.array = cfg->array;
  o.ragged = cfg->ragged;
  r = pipe_xform_new(pl, &csv2json_ops, &x);
  if (r < 0) return r;
  c = (csv2json_t*)x;
  r = pipe__csvj_new(&o, &c->conv);
  if (r < 0) return r; /* the stage is freed with the pipeline */
  if (out != NULL) *out = &x->stage;
  return 0;
}

uint64_t pipe_csv2json_records(const pipe_stage_t* s) {
  const csv2json_t* c = (const csv2json_t*)s;
  return c->conv ? pipe__csvj_records(c->conv) : c->records;
}
