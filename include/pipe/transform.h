/* pipe — synchronous transforms: write a converter, get a stage.
 *
 * Most transforms are "bytes in, bytes out" with state in between: CSV to
 * JSON, a filter that drops rows, a decoder. pipe_xform_t does the stage
 * plumbing once — holding the input buffer, taking output buffers from the
 * stage's pool, pushing full ones, pausing on PIPE_FULL or an empty pool,
 * resuming, flushing at end — and calls two functions of yours:
 *
 *   convert(x, in, len, &consumed, out, cap, &produced)
 *   finish(x, out, cap, &produced)          (at end of input)
 *
 *   typedef struct { pipe_xform_t base; int my_state; } upper_t;
 *   static const pipe_xform_ops_t upper_ops = {
 *     .stage = PIPE_XFORM_STAGE_OPS("upper", sizeof(upper_t)),
 *     .convert = upper_convert,
 *   };
 *   pipe_xform_t* x; pipe_xform_new(pl, &upper_ops, &x);
 *
 * The converter runs on the loop thread: keep a call to about one buffer of
 * work. (CPU-heavy codecs use the thread pool instead; see gzip.)
 */
#ifndef PIPE_TRANSFORM_H
#define PIPE_TRANSFORM_H

#include "pipe/export.h"

#include <stddef.h>
#include <stdint.h>

#include "pipe/stage.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef struct pipe_xform_s pipe_xform_t;

typedef struct pipe_xform_ops_s {
  /** Fill with PIPE_XFORM_STAGE_OPS(name, sizeof(your struct)). */
  pipe_stage_ops_t stage;
  /** Converts in[0,len) into out[0,cap); sets *consumed and *produced.
   *  Must make progress (consume or produce something) whenever len > 0 and
   *  cap >= min_room. Returns 0 or < 0: report detail first with
   *  pipe_stage_fail()/pipe_stage_fail_with(), else a generic message is
   *  used. Consumed input is never handed again. */
  int (*convert)(pipe_xform_t* x, const uint8_t* in, size_t len,
                 size_t* consumed, uint8_t* out, size_t cap, size_t* produced);
  /** End of input: writes what is left. Returns 0 when done, PIPE_FULL to be
   *  called again with a fresh buffer (the partly filled one is pushed on
   *  first), < 0 on error. FULL with nothing produced into an empty buffer
   *  fails the run (no progress). NULL: nothing to do. */
  int (*finish)(pipe_xform_t* x, uint8_t* out, size_t cap, size_t* produced);
  /** Frees your state; status < 0 means the run failed. May be NULL. */
  void (*destroy)(pipe_xform_t* x, int status);
  /** An output buffer with less room than this is pushed on; default 4096. */
  size_t min_room;
} pipe_xform_ops_t;

/** The core's stage functions for transforms; use via the macro. */
PIPE_EXTERN int pipe_xform_write(pipe_stage_t* s, pipe_buf_t* buf);
PIPE_EXTERN int pipe_xform_end(pipe_stage_t* s);
PIPE_EXTERN void pipe_xform_resume(pipe_stage_t* s);
PIPE_EXTERN void pipe_xform_destroy(pipe_stage_t* s, int status);
/** The flush handler pipe_xform_new installs (stage.h): on a flush signal a
 *  transform pushes its partly filled output buffer as soon as its input is
 *  used up and downstream has room, instead of waiting for it to fill. */
PIPE_EXTERN void pipe_xform_flush(pipe_stage_t* s);

/* Designated initializers: an op added to pipe_stage_ops_t later shifts
 * nothing in a table built with this macro. */
#define PIPE_XFORM_STAGE_OPS(name_, size_)                                   \
  { .name = (name_), .size = (size_), .write = pipe_xform_write,             \
    .end = pipe_xform_end, .resume = pipe_xform_resume,                      \
    .destroy = pipe_xform_destroy }

struct pipe_xform_s {
  pipe_stage_t stage;            /* first: a pipe_xform_t* is a stage */
  const pipe_xform_ops_t* xops;
  pipe_buf_t* in;                /* input being converted (a reference we
                                    own; its off/len are never changed) */
  pipe_buf_t* out;               /* output being filled (owned) */
  unsigned ending : 1;           /* end() received */
  unsigned finished : 1;         /* finish() returned 0 */
  unsigned upstream_full : 1;    /* we answered PIPE_FULL to upstream */
  unsigned flush_pending : 1;    /* flush signal not yet passed on */
  size_t in_off;                 /* bytes of `in` already converted */
};

/** Creates a transform stage at the end of pl. ops->stage.size must be at
 *  least sizeof(pipe_xform_t). Returns 0 and *out, or < 0. */
PIPE_EXTERN int pipe_xform_new(pipe_pipeline_t* pl, const pipe_xform_ops_t* ops,
                   pipe_xform_t** out);

#ifdef __cplusplus
}
#endif
#endif /* PIPE_TRANSFORM_H */
