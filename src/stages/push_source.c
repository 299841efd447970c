/* The push source (see push_source.h).
 *
 * State contract: `cur` is the pool buffer being filled (never full: a full
 * one moves to the queue at once); `qhead..qtail` are full buffers waiting
 * for downstream (only while s->blocked, the core's flag, or before
 * start); `spill` holds bytes given while the pool was empty, copied into
 * pool buffers as they come back. Every byte given is in exactly one of
 * those places until pushed, so ordering is simply spill after queue after
 * nothing: bytes are appended to the spill whenever it is not empty.
 */
#include "stages/push_source.h"

#include <stdlib.h>
#include <string.h>

#include "pipe/pipeline.h"

typedef struct push_source_s {
  pipe_stage_t stage; /* first */
  pipe_push_source_cb on_drain;
  void* ud;
  pipe_buf_t* cur;
  pipe_buf_t *qhead, *qtail;
  uint8_t* spill;
  size_t spill_len, spill_cap;
  uint64_t given;
  unsigned started : 1, end_req : 1, ended : 1, told_full : 1;
} push_source_t;

static void enqueue(push_source_t* ps, pipe_buf_t* b) {
  b->next = NULL;
  if (ps->qtail != NULL)
    ps->qtail->next = b;
  else
    ps->qhead = b;
  ps->qtail = b;
}

static int has_backlog(const push_source_t* ps) {
  return ps->qhead != NULL || ps->spill_len > 0 || ps->stage.blocked;
}

/* Copies what it can of data into pool buffers; returns bytes taken. A
 * full buffer goes to the queue. Stops at an empty pool. */
static size_t fill(push_source_t* ps, const uint8_t* data, size_t len) {
  pipe_stage_t* s = &ps->stage;
  size_t done = 0;
  while (done < len) {
    size_t n;
    if (ps->cur == NULL) ps->cur = pipe_pool_acquire(s->pool);
    if (ps->cur == NULL) break;
    n = pipe_buf_room(ps->cur);
    if (n > len - done) n = len - done;
    memcpy(pipe_buf_tail(ps->cur), data + done, n);
    ps->cur->len += n;
    done += n;
    if (pipe_buf_room(ps->cur) == 0) {
      enqueue(ps, ps->cur);
      ps->cur = NULL;
    }
  }
  return done;
}

/* Moves the spill into buffers, pushes the queue, ends when asked and
 * everything is out. Returns < 0 if the pipeline is failing. */
static int pump(push_source_t* ps) {
  pipe_stage_t* s = &ps->stage;
  if (!ps->started) return 0; /* start() schedules the first pump */
  if (pipe_stage_stopping(s)) return PIPE_ECANCELED;
  for (;;) {
    if (ps->spill_len > 0) {
      size_t n = fill(ps, ps->spill, ps->spill_len);
      memmove(ps->spill, ps->spill + n, ps->spill_len - n);
      ps->spill_len -= n;
    }
    if (ps->qhead == NULL && ps->end_req && ps->spill_len == 0 &&
        ps->cur != NULL) {
      if (ps->cur->len > 0) {
        enqueue(ps, ps->cur);
      } else {
        pipe_buf_unref(ps->cur);
      }
      ps->cur = NULL;
    }
    if (ps->qhead == NULL || s->blocked) break;
    {
      pipe_buf_t* b = ps->qhead;
      int r;
      ps->qhead = b->next;
      if (ps->qhead == NULL) ps->qtail = NULL;
      b->next = NULL;
      r = pipe_stage_push(s, b); /* takes b */
      if (r < 0) return r;
    }
  }
  if (ps->spill_len > 0) pipe_stage_wait_pool(s, s->pool);
  if (!has_backlog(ps) && ps->end_req && ps->cur == NULL && !ps->ended) {
    ps->ended = 1;
    pipe_stage_end(s);
  }
  return 0;
}

int pipe__push_source_write(pipe_stage_t* s, const void* data, size_t len) {
  push_source_t* ps = (push_source_t*)s;
  const uint8_t* p = data;
  size_t n = 0;
  int r;
  if (ps->end_req || (ps->started && pipe_stage_stopping(s)))
    return PIPE_ECANCELED;
  ps->given += len;
  if (ps->spill_len == 0) n = fill(ps, p, len);
  if (n < len) {
    size_t need = ps->spill_len + (len - n);
    if (need > ps->spill_cap) {
      size_t cap = ps->spill_cap ? ps->spill_cap : 16384;
      uint8_t* ns;
      while (cap < need) cap *= 2;
      ns = realloc(ps->spill, cap);
      if (ns == NULL) {
        pipe_stage_fail(s, PIPE_ENOMEM, NULL);
        return PIPE_ENOMEM;
      }
      ps->spill = ns;
      ps->spill_cap = cap;
    }
    memcpy(ps->spill + ps->spill_len, p + n, len - n);
    ps->spill_len += len - n;
  }
  r = pump(ps);
  if (r < 0) return r;
  if (has_backlog(ps)) {
    ps->told_full = 1;
    return PIPE_FULL;
  }
  return PIPE_OK;
}

void pipe__push_source_end(pipe_stage_t* s) {
  push_source_t* ps = (push_source_t*)s;
  if (ps->end_req) return;
  ps->end_req = 1;
  (void)pump(ps);
}

uint64_t pipe__push_source_bytes(const pipe_stage_t* s) {
  return ((const push_source_t*)s)->given;
}

int pipe__push_source_busy(const pipe_stage_t* s) {
  return has_backlog((const push_source_t*)s);
}

/* ---- stage ops ----------------------------------------------------------- */

static int push_source_start(pipe_stage_t* s) {
  push_source_t* ps = (push_source_t*)s;
  ps->started = 1;
  pipe_stage_schedule(s); /* push what came before the run, from the queue */
  return 0;
}

/* Downstream drained, or a buffer came back to our pool. */
static void push_source_resume(pipe_stage_t* s) {
  push_source_t* ps = (push_source_t*)s;
  if (pump(ps) < 0) return;
  if (ps->told_full && !has_backlog(ps)) {
    ps->told_full = 0;
    if (ps->on_drain != NULL) ps->on_drain(ps->ud);
  }
}

static void push_source_destroy(pipe_stage_t* s, int status) {
  push_source_t* ps = (push_source_t*)s;
  (void)status;
  pipe_pool_cancel(s->pool, &s->pool_waiter);
  while (ps->qhead != NULL) {
    pipe_buf_t* b = ps->qhead;
    ps->qhead = b->next;
    pipe_buf_unref(b);
  }
  ps->qtail = NULL;
  pipe_buf_unref(ps->cur);
  ps->cur = NULL;
  free(ps->spill);
  ps->spill = NULL;
  ps->spill_len = ps->spill_cap = 0;
}

static const pipe_stage_ops_t push_source_ops = {
    .name = "request_body",
    .size = sizeof(push_source_t),
    .start = push_source_start,
    .resume = push_source_resume,
    .destroy = push_source_destroy,
};

int pipe__push_source_new(pipe_pipeline_t* pl, pipe_push_source_cb on_drain,
                          void* ud, pipe_stage_t** out) {
  pipe_stage_t* s;
  push_source_t* ps;
  int r = pipe_stage_new(pl, &push_source_ops, &s);
  if (out != NULL) *out = NULL;
  if (r < 0) return r;
  ps = (push_source_t*)s;
  ps->on_drain = on_drain;
  ps->ud = ud;
  if (out != NULL) *out = s;
  return 0;
}
