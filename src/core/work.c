/* CPU jobs on libuv's thread pool under a context's budget (pipe/work.h).
 *
 * A context hands out pipe__cpu_budget() tokens; a job holds one from the
 * moment it is given to uv_queue_work until its after() is called. A job
 * that finds every token out waits in the context's FIFO queue; a job
 * completing hands its token to the oldest waiting one before its own
 * after() runs, so the queue is served in order across all the context's
 * pipelines and a stage that queues more work from after() goes behind
 * those already waiting. A job's states:
 *
 *   WAITING   in the context's queue: no token, not on the pool
 *   POOL      given to uv_queue_work; in a context it holds a token and is
 *             on the context's active list
 *   CANCELLED cancelled while WAITING: on the pool without a token, its
 *             work a no-op
 *   DONE      after() called (the caller's again)
 *
 * Cancelling a WAITING job. after(w, UV_ECANCELED) must not run from
 * inside pipe_work_cancel() (the caller is in the middle of something,
 * gzip's destroy walking its slots), and the context has no handle to
 * defer a call with: a context that never touches S3 opens none, which is
 * what lets pipe_ctx_close() complete at once. So the job leaves the queue
 * and is given to uv_queue_work marked CANCELLED, then uv_cancel()'d at
 * once: libuv posts its after with UV_ECANCELED through the loop's own
 * async handle. Should a pool thread have taken it in between (uv_cancel
 * says UV_EBUSY), the wrapper's work sees the mark and returns, and the
 * wrapper's after reports UV_ECANCELED all the same. Such a job takes no
 * token (it does no work) and forgets its context (it needs nothing of it
 * any more, and pipe_ctx_free may come first). Cost: one trip through the
 * pool's queue per cancel, at teardown only.
 *
 * A job on the pool is cancelled with uv_cancel() itself: it succeeds
 * while no thread has taken the job, and the token comes back in the
 * after callback like any other.
 *
 * Threads: everything here but w_work runs on the loop thread. w_work
 * reads only w->state and w->work, both written before uv_queue_work()
 * (which orders them before the pool thread's read) and not written again
 * until after() (libuv orders the worker's end before it).
 */
#include <stdlib.h>
#include <uv.h>

#include "core/internal.h"
#include "pipe/stage.h"

enum { W_WAITING = 1, W_POOL, W_CANCELLED, W_DONE };

#define W_OF(r) ((pipe_work_t*)((char*)(r) - offsetof(pipe_work_t, req)))

/* ---- the budget's lists --------------------------------------------------- */

static void q_append(pipe__cpu_t* b, pipe_work_t* w) {
  w->next = NULL;
  w->prev = b->qtail;
  if (b->qtail != NULL)
    b->qtail->next = w;
  else
    b->qhead = w;
  b->qtail = w;
  b->queued++;
}

static void q_prepend(pipe__cpu_t* b, pipe_work_t* w) {
  w->prev = NULL;
  w->next = b->qhead;
  if (b->qhead != NULL)
    b->qhead->prev = w;
  else
    b->qtail = w;
  b->qhead = w;
  b->queued++;
}

static void q_remove(pipe__cpu_t* b, pipe_work_t* w) {
  if (w->prev != NULL)
    w->prev->next = w->next;
  else
    b->qhead = w->next;
  if (w->next != NULL)
    w->next->prev = w->prev;
  else
    b->qtail = w->prev;
  w->prev = w->next = NULL;
  b->queued--;
}

static void active_add(pipe__cpu_t* b, pipe_work_t* w) {
  w->prev = NULL;
  w->next = b->active;
  if (b->active != NULL) b->active->prev = w;
  b->active = w;
  b->running++;
}

static void active_remove(pipe__cpu_t* b, pipe_work_t* w) {
  if (w->prev != NULL)
    w->prev->next = w->next;
  else
    b->active = w->next;
  if (w->next != NULL) w->next->prev = w->prev;
  w->prev = w->next = NULL;
  b->running--;
}

/* ---- the wrappers libuv calls --------------------------------------------- */

/* Pool thread. */
static void w_work(uv_work_t* req) {
  pipe_work_t* w = W_OF(req);
  if (w->state == W_CANCELLED) return;
  w->work(w);
}

/* Loop thread: the token goes back (to the oldest waiting job), then the
 * caller hears; after() may free or requeue w, so nothing touches w after
 * it. */
static void w_after(uv_work_t* req, int status) {
  pipe_work_t* w = W_OF(req);
  pipe_after_work_cb after = w->after;
  pipe__cpu_t* b = NULL;
  if (w->state == W_CANCELLED) {
    status = UV_ECANCELED;
  } else if (w->ctx != NULL) {
    b = pipe__ctx_cpu(w->ctx);
    active_remove(b, w);
  }
  w->state = W_DONE;
  w->ctx = NULL;
  if (b != NULL) pipe__cpu_dispatch(b);
  after(w, status);
}

/* Gives w a token and puts it on the pool. Returns 0 or < 0 (no token
 * taken). */
static int submit(pipe__cpu_t* b, pipe_work_t* w) {
  int r;
  active_add(b, w);
  w->state = W_POOL;
  r = uv_queue_work(b->loop, &w->req, w_work, w_after);
  if (r < 0) active_remove(b, w);
  return r;
}

/* WAITING -> CANCELLED: off the queue, onto the pool, cancelled there (see
 * the top of the file). Returns 0 or < 0 (w stays queued). */
static int cancel_waiting(pipe__cpu_t* b, pipe_work_t* w) {
  int r;
  q_remove(b, w);
  w->state = W_CANCELLED;
  w->ctx = NULL;
  r = uv_queue_work(w->loop, &w->req, w_work, w_after);
  if (r < 0) { /* only for a NULL work callback: never ours */
    w->state = W_WAITING;
    q_prepend(b, w);
    return r;
  }
  (void)uv_cancel((uv_req_t*)&w->req); /* UV_EBUSY: w_work does nothing */
  return 0;
}

/* ---- the budget ----------------------------------------------------------- */

unsigned pipe__default_cpu_jobs(void) {
  unsigned n = uv_available_parallelism();
  unsigned pool = 4;
  const char* v = getenv("UV_THREADPOOL_SIZE");
  if (v != NULL && *v != '\0') {
    char* end;
    unsigned long p = strtoul(v, &end, 10);
    if (*end == '\0' && p > 0) pool = p > 1024 ? 1024 : (unsigned)p;
  }
  if (n > pool - 1) n = pool - 1; /* a pool of 1 leaves nothing: 1 below */
  return n > 0 ? n : 1;
}

void pipe__cpu_init(pipe__cpu_t* b, uv_loop_t* loop) {
  b->loop = loop;
  b->dflt = pipe__default_cpu_jobs();
}

unsigned pipe__cpu_budget(const pipe__cpu_t* b) {
  return b->limit > 0 ? b->limit : b->dflt;
}

void pipe__cpu_dispatch(pipe__cpu_t* b) {
  while (b->qhead != NULL && b->running < pipe__cpu_budget(b)) {
    pipe_work_t* w = b->qhead;
    q_remove(b, w);
    if (submit(b, w) < 0) { /* cannot happen (see cancel_waiting) */
      w->state = W_WAITING;
      q_prepend(b, w);
      return;
    }
  }
}

void pipe__cpu_close(pipe__cpu_t* b) {
  b->closed = 1;
  while (b->qhead != NULL)
    if (cancel_waiting(b, b->qhead) < 0) break;
}

void pipe__cpu_detach(pipe__cpu_t* b) {
  pipe_work_t* w;
  pipe__cpu_close(b);
  while ((w = b->active) != NULL) {
    active_remove(b, w);
    w->ctx = NULL; /* finishes as a job without a context */
  }
}

/* ---- public --------------------------------------------------------------- */

int pipe_stage_queue_work(pipe_stage_t* s, pipe_work_t* w, pipe_work_cb work,
                          pipe_after_work_cb after) {
  pipe_ctx_t* ctx = pipe_pipeline_ctx(s->pipeline);
  pipe__cpu_t* b;
  int r;
  if (work == NULL || after == NULL) return PIPE_EINVAL;
  w->work = work;
  w->after = after;
  w->prev = w->next = NULL;
  w->loop = pipe_stage_loop(s);
  w->ctx = ctx;
  if (ctx == NULL) {
    w->state = W_POOL;
    r = uv_queue_work(w->loop, &w->req, w_work, w_after);
    if (r < 0) w->state = W_DONE;
    return r;
  }
  b = pipe__ctx_cpu(ctx);
  if (b->closed) {
    w->ctx = NULL;
    w->state = W_DONE;
    return PIPE_ECANCELED;
  }
  if (b->qhead == NULL && b->running < pipe__cpu_budget(b)) {
    r = submit(b, w);
    if (r < 0) {
      w->ctx = NULL;
      w->state = W_DONE;
    }
    return r;
  }
  w->state = W_WAITING;
  q_append(b, w);
  b->waited++;
  return 0;
}

int pipe_work_cancel(pipe_work_t* w) {
  switch (w->state) {
    case W_WAITING:
      return cancel_waiting(pipe__ctx_cpu(w->ctx), w);
    case W_POOL:
      /* 0: libuv calls w_after with UV_ECANCELED, which returns the token.
       * UV_EBUSY: a thread has it; after() brings the real status. */
      return uv_cancel((uv_req_t*)&w->req);
    case W_CANCELLED:
      return UV_EBUSY; /* cancelled already: after() is on its way */
    default:
      return UV_EINVAL;
  }
}
