/* The synchronous transform stage (see pipe/transform.h).
 *
 * State: at most one input buffer (`in`), because upstream must not write
 * after we answered PIPE_FULL, and at most one output buffer being filled
 * (`out`). pump() runs the converter until it has to stop for one of three
 * reasons: the input is used up (ask upstream for more), downstream is
 * full (wait for resume), or our pool is empty (wait for a buffer). So a
 * transform holds at most two buffers of its own, plus whatever its pool
 * lent downstream — bounded by the pool limit, whatever the expansion.
 */
#include "pipe/transform.h"

#include "pipe/pipeline.h"

#define XF(s) ((pipe_xform_t*)(s))

int pipe_xform_new(pipe_pipeline_t* pl, const pipe_xform_ops_t* ops,
                   pipe_xform_t** out) {
  pipe_stage_t* s;
  int r;
  *out = NULL;
  if (ops->stage.size < sizeof(pipe_xform_t) || ops->convert == NULL)
    return PIPE_EINVAL;
  r = pipe_stage_new(pl, &ops->stage, &s);
  if (r < 0) return r;
  XF(s)->xops = ops;
  s->flush = pipe_xform_flush;
  *out = XF(s);
  return 0;
}

static size_t min_room(const pipe_xform_t* x) {
  size_t m = x->xops->min_room ? x->xops->min_room : 4096;
  size_t cap = pipe_pipeline_config(x->stage.pipeline)->buf_size;
  return m < cap ? m : cap;
}

/* Pushes the current output buffer on. Returns push's answer. */
static int flush_out(pipe_xform_t* x) {
  pipe_buf_t* b = x->out;
  x->out = NULL;
  if (b->len == 0) {
    pipe_buf_unref(b);
    return 0;
  }
  return pipe_stage_push(&x->stage, b);
}

/* Passes a flush signal on: the partial output buffer, then the signal. */
static int flush_now(pipe_xform_t* x) {
  int r = 0;
  x->flush_pending = 0;
  if (x->out != NULL && x->out->len > 0) r = flush_out(x);
  if (r >= 0) pipe_stage_flush(&x->stage);
  return r < 0 ? r : 0;
}

/* Returns < 0 on error, else 0. */
static int pump(pipe_xform_t* x) {
  pipe_stage_t* s = &x->stage;
  for (;;) {
    size_t consumed = 0, produced = 0;
    int r;
    if (pipe_stage_stopping(s)) return PIPE_ECANCELED;
    if (s->blocked) return 0; /* downstream full: resume() continues */
    if (x->in == NULL && (!x->ending || x->finished)) break;
    if (x->out == NULL) {
      x->out = pipe_pool_acquire(s->pool);
      if (x->out == NULL) {
        pipe_stage_wait_pool(s, s->pool);
        return 0;
      }
    }
    if (x->in != NULL) {
      /* Our read position lives in x->in_off, never in the buffer: the
       * buffer may be shared (refs > 1: a tee, a source keeping it), and
       * off/len belong to whoever made it. */
      r = x->xops->convert(x, pipe_buf_data(x->in) + x->in_off,
                           x->in->len - x->in_off, &consumed,
                           pipe_buf_tail(x->out), pipe_buf_room(x->out),
                           &produced);
      if (r < 0) {
        pipe_stage_fail(s, r, NULL); /* no-op if detail was given */
        return r;
      }
      if (consumed == 0 && produced == 0 &&
          pipe_buf_room(x->out) >= min_room(x)) {
        pipe_stage_fail(s, PIPE_EIO, "%s made no progress (bug)", s->name);
        return PIPE_EIO;
      }
      x->in_off += consumed;
      x->out->len += produced;
      if (x->in_off >= x->in->len) {
        pipe_buf_unref(x->in);
        x->in = NULL;
        x->in_off = 0;
      }
    } else {
      r = 0;
      if (x->xops->finish != NULL)
        r = x->xops->finish(x, pipe_buf_tail(x->out), pipe_buf_room(x->out),
                            &produced);
      if (r < 0) {
        pipe_stage_fail(s, r, NULL);
        return r;
      }
      x->out->len += produced;
      if (r == 0) {
        x->finished = 1;
      } else if (produced == 0) {
        /* FULL asks for a fresh buffer. Given one already, and it made
         * nothing of it, it would ask forever: the same progress check as
         * convert() has. Else push the partial buffer so the next call gets
         * a whole one. */
        if (x->out->len == 0) {
          pipe_stage_fail(s, PIPE_EIO, "%s made no progress at end (bug)",
                          s->name);
          return PIPE_EIO;
        }
        r = flush_out(x);
        if (r < 0) return r;
        continue;
      }
    }
    /* Push a full buffer now; a partial one only at the very end, so that
     * buffers travel full (fewer pushes, fewer writes). */
    if (x->finished || pipe_buf_room(x->out) < min_room(x)) {
      r = flush_out(x);
      if (r < 0) return r;
    }
    if (x->finished) {
      pipe_stage_end(s);
      return 0;
    }
  }
  /* Input used up: a flush signal that came with it goes on now. */
  if (x->flush_pending && !s->blocked) {
    int r = flush_now(x);
    if (r < 0) return r;
  }
  /* Let upstream go on if we had stopped it. */
  if (x->upstream_full) {
    x->upstream_full = 0;
    pipe_stage_drain(s);
  }
  return 0;
}

int pipe_xform_write(pipe_stage_t* s, pipe_buf_t* buf) {
  pipe_xform_t* x = XF(s);
  int r;
  if (x->in != NULL || x->ending) { /* upstream broke the flow contract */
    pipe_buf_unref(buf);
    pipe_stage_fail(s, PIPE_EINVAL, "%s: write while full (bug)", s->name);
    return PIPE_EINVAL;
  }
  if (buf->len == 0) {
    pipe_buf_unref(buf);
    if (!s->blocked) return PIPE_OK;
    x->upstream_full = 1; /* else nobody would ever drain upstream */
    return PIPE_FULL;
  }
  x->in = buf;
  x->in_off = 0;
  r = pump(x);
  if (r < 0) return r;
  if (x->in != NULL || s->blocked) {
    x->upstream_full = 1;
    return PIPE_FULL;
  }
  return PIPE_OK;
}

int pipe_xform_end(pipe_stage_t* s) {
  pipe_xform_t* x = XF(s);
  x->ending = 1;
  int r = pump(x);
  return r < 0 ? r : 0;
}

void pipe_xform_resume(pipe_stage_t* s) { (void)pump(XF(s)); }

/* Upstream went idle. With input still held (downstream was full) or
 * downstream full, pump() passes the flush on once the input is used up. */
void pipe_xform_flush(pipe_stage_t* s) {
  pipe_xform_t* x = XF(s);
  x->flush_pending = 1;
  if (x->in == NULL && !s->blocked && !x->ending) (void)flush_now(x);
}

void pipe_xform_destroy(pipe_stage_t* s, int status) {
  pipe_xform_t* x = XF(s);
  pipe_buf_unref(x->in);
  pipe_buf_unref(x->out);
  x->in = x->out = NULL;
  x->in_off = 0;
  if (x->xops->destroy != NULL) x->xops->destroy(x, status);
}
