/* Pipelines: linking, the deferred queue, flow bookkeeping and teardown.
 *
 * The deferred queue is the one place where stages are called back "later":
 * resume after a drain or a returned buffer, end delivered to the next
 * stage, and teardown. Running these from a uv_idle_t instead of inline
 * keeps stack depth flat and means no stage is ever re-entered from inside
 * its own write()/end() (Node defers 'drain' and pipeline callbacks the
 * same way). A stage is queued at most once; flags say what to do with it.
 *
 * Lifecycle: NEW -> RUNNING -> (first error | sink ended) TEARING -> every
 * destroy() called -> holds reach 0 -> idle handle closed -> DONE, then the
 * completion callback. pipe_pipeline_free() before DONE aborts the run and
 * defers the free to the end of teardown, without the callback.
 */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <uv.h>

#include "core/internal.h"
#include "pipe/ctx.h"
#include "pipe/pipeline.h"

enum { PL_NEW, PL_RUNNING, PL_TEARING, PL_CLOSING, PL_DONE };

struct pipe_pipeline_s {
  uv_loop_t* loop;
  pipe_pipeline_config_t cfg;
  pipe_stage_t* first;
  pipe_stage_t* last;
  pipe_stage_t* defer_head; /* stages with work queued, FIFO */
  pipe_stage_t* defer_tail;
  uv_idle_t idle;           /* runs the deferred queue while non-empty */
  int state;
  int status;               /* final status: first error or 0 */
  int teardown_queued;
  int destroying;           /* inside the destroy() loop: not done yet */
  int free_on_close;        /* freed, never ran: free instead of done_cb */
  unsigned holds;           /* sum of stage holds */
  pipe_error_t err;
  pipe_pipeline_cb done;
  void* data;
  pipe_ctx_t* ctx;          /* pipe_pipeline_new_in(), else NULL */
};

static void pl_kick(pipe_pipeline_t* pl);
static void pl_teardown(pipe_pipeline_t* pl);

int pipe_pipeline_new(uv_loop_t* loop, const pipe_pipeline_config_t* cfg,
                      pipe_pipeline_t** out) {
  pipe_pipeline_t* pl = calloc(1, sizeof(*pl));
  *out = NULL;
  if (pl == NULL) return PIPE_ENOMEM;
  pl->loop = loop;
  if (cfg != NULL) pl->cfg = *cfg;
  if (pl->cfg.buf_size == 0) pl->cfg.buf_size = PIPE_DEFAULT_BUF_SIZE;
  if (pl->cfg.pool_limit == 0) pl->cfg.pool_limit = PIPE_DEFAULT_POOL_LIMIT;
  if (pl->cfg.hwm == 0) pl->cfg.hwm = PIPE_DEFAULT_HWM;
  /* The idle handle exists from the start so that pipe_pipeline_free() on
   * a never-run pipeline and the normal end take the same path. */
  uv_idle_init(loop, &pl->idle);
  pl->idle.data = pl;
  *out = pl;
  return 0;
}

int pipe_stage_new(pipe_pipeline_t* pl, const pipe_stage_ops_t* ops,
                   pipe_stage_t** out) {
  pipe_stage_t* s;
  int r;
  *out = NULL;
  if (pl->state != PL_NEW || ops->size < sizeof(pipe_stage_t))
    return PIPE_EINVAL;
  s = calloc(1, ops->size);
  if (s == NULL) return PIPE_ENOMEM;
  r = pipe_pool_new(pl->cfg.buf_size, pl->cfg.pool_limit, &s->pool);
  if (r < 0) {
    free(s);
    return r;
  }
  s->ops = ops;
  s->name = ops->name;
  s->pipeline = pl;
  s->prev = pl->last;
  if (pl->last != NULL)
    pl->last->next = s;
  else
    pl->first = s;
  pl->last = s;
  *out = s;
  return 0;
}

/* ---- deferred queue ------------------------------------------------------ */

static void pl_enqueue(pipe_stage_t* s) {
  pipe_pipeline_t* pl = s->pipeline;
  if (s->queued) return;
  s->queued = 1;
  s->defer_next = NULL;
  if (pl->defer_tail != NULL)
    pl->defer_tail->defer_next = s;
  else
    pl->defer_head = s;
  pl->defer_tail = s;
  pl_kick(pl);
}

static uint64_t now_ns(void) { return uv_hrtime(); }

static void unblock(pipe_stage_t* s) {
  s->blocked = 0;
  s->stats.blocked_ns += now_ns() - s->blocked_since;
}

/* Runs one queued stage's work. Order matters: a drain (which resumes the
 * stage above, or delivers its pending end to this stage) before this
 * stage's own resume, before an end delivered to it. */
static void pl_run_one(pipe_stage_t* s) {
  pipe_pipeline_t* pl = s->pipeline;
  if (s->defer_drain) {
    pipe_stage_t* up = s->prev;
    s->defer_drain = 0;
    if (up != NULL && up->blocked && !up->destroyed) {
      unblock(up);
      if (up->end_pending) {
        up->end_pending = 0;
        s->defer_end = 1; /* deliver below */
      } else if (up->ops->resume != NULL) {
        up->ops->resume(up);
      }
    }
  }
  if (pl->state != PL_RUNNING || s->destroyed) return;
  if (s->defer_resume) {
    s->defer_resume = 0;
    if (s->ops->resume != NULL) s->ops->resume(s);
  }
  if (pl->state != PL_RUNNING || s->destroyed) return;
  if (s->defer_end) {
    s->defer_end = 0;
    if (s->ops->end != NULL) {
      int r = s->ops->end(s);
      if (r < 0) pipe_stage_fail(s, r, NULL);
    }
  }
}

static void pl_idle_cb(uv_idle_t* h) {
  pipe_pipeline_t* pl = h->data;
  /* Work on a snapshot: stages queued while we run wait for the next loop
   * iteration, so I/O callbacks are never starved by a busy pipeline. */
  pipe_stage_t* s = pl->defer_head;
  pl->defer_head = pl->defer_tail = NULL;
  while (s != NULL) {
    pipe_stage_t* next = s->defer_next;
    s->queued = 0;
    s->defer_next = NULL;
    if (pl->state == PL_RUNNING && !pl->teardown_queued) pl_run_one(s);
    s = next;
  }
  if (pl->teardown_queued) {
    pl->teardown_queued = 0;
    pl_teardown(pl);
  }
  if (pl->defer_head == NULL && !pl->teardown_queued) uv_idle_stop(&pl->idle);
}

static void pl_kick(pipe_pipeline_t* pl) {
  if (!uv_is_active((uv_handle_t*)&pl->idle) && pl->state < PL_CLOSING)
    uv_idle_start(&pl->idle, pl_idle_cb);
}

void pipe_stage_schedule(pipe_stage_t* s) {
  if (s->destroyed) return;
  s->defer_resume = 1;
  pl_enqueue(s);
}

void pipe_stage_drain(pipe_stage_t* s) {
  if (s->destroyed) return;
  s->defer_drain = 1;
  pl_enqueue(s);
}

static void stage_pool_cb(pipe_pool_waiter_t* w) {
  pipe_stage_t* s =
      (pipe_stage_t*)((char*)w - offsetof(pipe_stage_t, pool_waiter));
  pipe_stage_schedule(s);
}

void pipe_stage_wait_pool(pipe_stage_t* s, pipe_pool_t* p) {
  if (s->destroyed || s->pool_waiter.queued) return;
  s->stats.waits++;
  pipe_pool_wait(p, &s->pool_waiter, stage_pool_cb);
}

/* ---- flow ---------------------------------------------------------------- */

int pipe_stage_push(pipe_stage_t* s, pipe_buf_t* buf) {
  pipe_stage_t* n = s->next;
  int r;
  /* Once the outcome is decided (teardown queued) nothing downstream may
   * take more data: a sink that ended early must not see another write. */
  if (pipe_stage_stopping(s) || n == NULL || n->destroyed || s->ended) {
    pipe_buf_unref(buf);
    return PIPE_ECANCELED;
  }
  s->stats.bytes_out += buf->len;
  s->stats.bufs_out++;
  n->stats.bytes_in += buf->len;
  n->stats.bufs_in++;
  r = n->ops->write(n, buf);
  if (r == PIPE_FULL) {
    if (!s->blocked) {
      s->blocked = 1;
      s->blocked_since = now_ns();
      s->stats.waits++;
    }
  } else if (r < 0) {
    pipe_stage_fail(n, r, NULL);
  }
  return r;
}

void pipe_stage_end(pipe_stage_t* s) {
  pipe_pipeline_t* pl = s->pipeline;
  if (s->ended || pl->state != PL_RUNNING) return;
  s->ended = 1;
  if (s->next == NULL) { /* the sink finished: the run succeeded */
    pl->teardown_queued = 1;
    pl_kick(pl);
    return;
  }
  if (s->blocked) { /* deliver after the next drain, behind the data */
    s->end_pending = 1;
    return;
  }
  s->next->defer_end = 1;
  pl_enqueue(s->next);
}

/* ---- errors and teardown ------------------------------------------------- */

/* Records the run's outcome as failed with err, by the stage named `who`
 * ("" when no stage failed: an abort from outside). Returns 1 if this was
 * the first outcome (the caller fills in the message), 0 if ignored. */
static int pl_record(pipe_pipeline_t* pl, const char* who, int err) {
  if (pl->state != PL_RUNNING && pl->state != PL_NEW) return 0;
  /* The first outcome wins: an earlier error, or the sink having ended (the
   * run succeeded; teardown is queued). Without the second test a stage
   * still finishing a callback after the sink stopped early (stdout EPIPE)
   * would turn that success into PIPE_ECANCELED. */
  if (pl->err.code != 0 || pl->teardown_queued) return 0;
  if (err >= 0) err = PIPE_EIO;
  pl->err.code = err;
  snprintf(pl->err.stage, sizeof(pl->err.stage), "%s", who);
  pl->status = err;
  pl->teardown_queued = 1;
  /* Before run() the teardown waits for run(), which then starts nothing:
   * the idle handle must not tear down a pipeline that is not running. */
  if (pl->state == PL_RUNNING) pl_kick(pl);
  return 1;
}

void pipe_stage_fail(pipe_stage_t* s, int err, const char* fmt, ...) {
  pipe_pipeline_t* pl = s->pipeline;
  if (!pl_record(pl, s->name, err)) return;
  if (fmt != NULL) {
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(pl->err.msg, sizeof(pl->err.msg), fmt, ap);
    va_end(ap);
  } else {
    snprintf(pl->err.msg, sizeof(pl->err.msg), "%s", pipe_strerror(pl->err.code));
  }
}

void pipe_stage_fail_with(pipe_stage_t* s, const pipe_error_t* e) {
  pipe_pipeline_t* pl = s->pipeline;
  char stage[sizeof(pl->err.stage)];
  if (!pl_record(pl, s->name, e->code)) return;
  memcpy(stage, pl->err.stage, sizeof(stage));
  pl->err = *e;
  if (pl->err.code >= 0) pl->err.code = PIPE_EIO;
  memcpy(pl->err.stage, stage, sizeof(stage));
}

void pipe_pipeline_abort(pipe_pipeline_t* pl, int err) {
  /* No stage failed: err.stage stays empty, so that a message does not
   * blame the source for a signal or a client gone. */
  if (!pl_record(pl, "", err)) return;
  snprintf(pl->err.msg, sizeof(pl->err.msg), "%s", pipe_strerror(pl->err.code));
}

int pipe_stage_stopping(const pipe_stage_t* s) {
  return s->pipeline->state != PL_RUNNING || s->pipeline->teardown_queued ||
         s->destroyed;
}

static void pl_free_now(pipe_pipeline_t* pl);

static void pl_idle_close_cb(uv_handle_t* h) {
  pipe_pipeline_t* pl = h->data;
  if (pl->free_on_close) {
    pl_free_now(pl);
    return;
  }
  pl->state = PL_DONE;
  if (pl->done != NULL) pl->done(pl, pl->status); /* may free pl */
}

static void pl_maybe_done(pipe_pipeline_t* pl) {
  if (pl->state != PL_TEARING || pl->destroying || pl->holds > 0) return;
  pl->state = PL_CLOSING;
  uv_close((uv_handle_t*)&pl->idle, pl_idle_close_cb);
}

/* Destroys every stage once, source to sink (the order data flowed). */
static void pl_teardown(pipe_pipeline_t* pl) {
  pipe_stage_t* s;
  if (pl->state != PL_RUNNING) return;
  pl->state = PL_TEARING;
  uv_idle_stop(&pl->idle);
  for (s = pl->first; s != NULL; s = s->next) {
    unsigned i;
    if (s->blocked) unblock(s);
    pipe_pool_cancel(s->pool, &s->pool_waiter);
    for (i = 0; i < s->nown_pools; i++)
      pipe_pool_cancel(s->own_pools[i], &s->pool_waiter);
  }
  /* Waiters may sit on another stage's pool: cancel them all first, since
   * a destroy() releasing buffers would otherwise wake a dead stage. */
  for (s = pl->first; s != NULL; s = s->next) {
    pipe_stage_t* o;
    for (o = pl->first; o != NULL; o = o->next) {
      unsigned i;
      pipe_pool_cancel(o->pool, &s->pool_waiter);
      for (i = 0; i < o->nown_pools; i++)
        pipe_pool_cancel(o->own_pools[i], &s->pool_waiter);
    }
  }
  pl->destroying = 1;
  for (s = pl->first; s != NULL; s = s->next) {
    s->destroyed = 1;
    if (s->ops->destroy != NULL) s->ops->destroy(s, pl->status);
  }
  pl->destroying = 0;
  pl_maybe_done(pl);
}

void pipe_stage_hold(pipe_stage_t* s) {
  s->holds++;
  s->pipeline->holds++;
}

void pipe_stage_release(pipe_stage_t* s) {
  s->holds--;
  s->pipeline->holds--;
  pl_maybe_done(s->pipeline);
}

/* ---- run / free ---------------------------------------------------------- */

int pipe_pipeline_run(pipe_pipeline_t* pl, pipe_pipeline_cb done) {
  pipe_stage_t* s;
  if (pl->state != PL_NEW || pl->first == NULL || pl->first == pl->last)
    return PIPE_EINVAL;
  /* A source first (nothing writes to it), and every other stage takes
   * writes: a stage without write() anywhere after the first would be
   * called through NULL by the first push. */
  if (pl->first->ops->write != NULL) return PIPE_EINVAL;
  for (s = pl->first->next; s != NULL; s = s->next)
    if (s->ops->write == NULL) return PIPE_EINVAL;
  pl->done = done;
  pl->state = PL_RUNNING;
  if (pl->teardown_queued) {
    /* Aborted before run(): start nothing (a file sink would create its
     * temp file), tear down with the abort's error, fire done once. */
    pl_kick(pl);
    return 0;
  }
  /* Sink first, so that whatever the source pushes finds it ready. */
  for (s = pl->last; s != NULL && pl->state == PL_RUNNING; s = s->prev) {
    if (s->ops->start != NULL && !pipe_stage_stopping(s)) {
      int r = s->ops->start(s);
      if (r < 0) pipe_stage_fail(s, r, NULL);
    }
  }
  return 0;
}

const pipe_error_t* pipe_pipeline_error(const pipe_pipeline_t* pl) {
  return &pl->err;
}

const pipe_pipeline_config_t* pipe_pipeline_config(const pipe_pipeline_t* pl) {
  return &pl->cfg;
}

pipe_stage_t* pipe_pipeline_first(const pipe_pipeline_t* pl) { return pl->first; }

uv_loop_t* pipe_pipeline_loop(const pipe_pipeline_t* pl) { return pl->loop; }
uv_loop_t* pipe_stage_loop(const pipe_stage_t* s) { return s->pipeline->loop; }

void pipe__pipeline_set_ctx(pipe_pipeline_t* pl, pipe_ctx_t* ctx) {
  pl->ctx = ctx;
}
pipe_ctx_t* pipe_pipeline_ctx(const pipe_pipeline_t* pl) { return pl->ctx; }

int pipe_stage_pool_new(pipe_stage_t* s, size_t size, size_t limit,
                        pipe_pool_t** out) {
  int r;
  *out = NULL;
  if (s->nown_pools >= PIPE_STAGE_MAX_POOLS) return PIPE_ELIMIT;
  r = pipe_pool_new(size, limit, out);
  if (r < 0) return r;
  s->own_pools[s->nown_pools++] = *out;
  return 0;
}

void pipe_stage_pool_free(pipe_stage_t* s, pipe_pool_t* p) {
  unsigned i;
  for (i = 0; i < s->nown_pools; i++) {
    if (s->own_pools[i] != p) continue;
    pipe_pool_cancel(p, &s->pool_waiter);
    s->own_pools[i] = s->own_pools[--s->nown_pools];
    pipe_pool_free(p);
    return;
  }
}

pipe_pool_t* pipe_stage_pool_at(const pipe_stage_t* s, size_t i) {
  if (i == 0) return s->pool;
  return i - 1 < s->nown_pools ? s->own_pools[i - 1] : NULL;
}

void pipe_pipeline_set_data(pipe_pipeline_t* pl, void* data) { pl->data = data; }
void* pipe_pipeline_data(const pipe_pipeline_t* pl) { return pl->data; }

static void pl_free_now(pipe_pipeline_t* pl) {
  pipe_stage_t* s = pl->first;
  while (s != NULL) {
    pipe_stage_t* next = s->next;
    unsigned i;
    pipe_pool_free(s->pool); /* lingers if a buffer is still out somewhere */
    for (i = 0; i < s->nown_pools; i++) pipe_pool_free(s->own_pools[i]);
    free(s);
    s = next;
  }
  free(pl);
}

void pipe_pipeline_free(pipe_pipeline_t* pl) {
  pipe_stage_t* s;
  if (pl == NULL) return;
  if (pl->state == PL_NEW) {
    /* Never ran: destroy each stage (status canceled) so constructors'
     * resources go; like a finished run, the memory goes once the stages'
     * async work (handles closing) has released its holds and the idle
     * handle has closed. */
    pl->state = PL_TEARING;
    pl->status = PIPE_ECANCELED;
    pl->free_on_close = 1;
    pl->destroying = 1;
    for (s = pl->first; s != NULL; s = s->next) {
      s->destroyed = 1;
      if (s->ops->destroy != NULL) s->ops->destroy(s, PIPE_ECANCELED);
    }
    pl->destroying = 0;
    pl_maybe_done(pl);
    return;
  }
  if (pl->state != PL_DONE) {
    /* Still running, tearing down or closing: freeing now would pull the
     * stages out from under the loop. Abort the run (a no-op if its outcome
     * is already decided) and free once the idle handle has closed, in
     * place of the completion callback. */
    pl->free_on_close = 1;
    if (pl->state == PL_RUNNING) pipe_pipeline_abort(pl, PIPE_ECANCELED);
    return;
  }
  pl_free_now(pl);
}
