/* CPU jobs (pipe_stage_queue_work) under a context's budget: never more on
 * the pool than the budget, served first come first served across
 * pipelines, file I/O still served while every token is out, cancelling a
 * waiting job reports UV_ECANCELED later and never from inside the cancel,
 * a bigger budget starts waiting jobs, closing the context cancels them,
 * and without a context jobs go straight to the pool.
 *
 * Each job's work blocks on one shared semaphore, so the test decides when
 * a job may finish. A repeating timer on the loop (the "driver") lets one
 * job go at a time, and only once every token is out and every running job
 * has recorded its start: the next job can then only start after the one
 * let go has finished and handed its token on, so the start order the
 * workers record is exactly the order the context gave out tokens. */
#include <criterion/criterion.h>
#include <fcntl.h>
#include <semaphore.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "support/harness.h"

TestSuite(work, .init = th_loop_init, .fini = th_loop_fini, .timeout = 60);

#define MAXJOBS 16

typedef struct job_s {
  pipe_work_t w; /* w.data == this job */
  int id;        /* queueing order */
  int pl;        /* which pipeline's stage queued it */
  int status;    /* given to after() */
  int afters;    /* after() calls: must end up 1 */
  atomic_int ran;
} job_t;

static job_t jobs[MAXJOBS];
static sem_t go;                    /* a post lets one blocked job finish */
static atomic_int running;          /* inside work() now */
static atomic_int max_running;
static atomic_int started;          /* work() calls so far */
static atomic_int order[MAXJOBS];   /* job ids in the order work() began */
static int released;                /* posts on `go` */
static int done;                    /* after() calls */
static int in_cancel;               /* inside pipe_work_cancel() */
static int after_inside_cancel;     /* after() called from inside it: 0 */

static const pipe_stage_ops_t dummy_ops = {
    .name = "dummy",
    .size = sizeof(pipe_stage_t),
};

static void job_work(pipe_work_t* w) {
  job_t* j = w->data;
  int now = atomic_fetch_add(&running, 1) + 1;
  int m = atomic_load(&max_running);
  while (now > m && !atomic_compare_exchange_weak(&max_running, &m, now)) {
  }
  atomic_store(&order[atomic_fetch_add(&started, 1)], j->id);
  atomic_store(&j->ran, 1);
  while (sem_wait(&go) != 0) {
  }
  atomic_fetch_sub(&running, 1);
}

static void job_after(pipe_work_t* w, int status) {
  job_t* j = w->data;
  if (in_cancel) after_inside_cancel++;
  j->status = status;
  j->afters++;
  done++;
}

static void setup(void) {
  /* Before anything touches the pool: libuv reads it at its first use
   * (each criterion test is a process of its own). */
  setenv("UV_THREADPOOL_SIZE", "4", 1);
  cr_assert_eq(sem_init(&go, 0, 0), 0);
}

static pipe_ctx_t* ctx_with_budget(unsigned n) {
  pipe_ctx_t* ctx;
  cr_assert_eq(pipe_ctx_new(th_loop(), &ctx), 0);
  pipe_ctx_set_cpu_jobs(ctx, n);
  cr_assert_eq(pipe_ctx_cpu_jobs(ctx), n);
  return ctx;
}

/* A pipeline (in ctx, or without one for NULL) with one dummy stage. */
static pipe_stage_t* stage_in(pipe_ctx_t* ctx, pipe_pipeline_t** pl) {
  pipe_stage_t* s;
  if (ctx != NULL)
    cr_assert_eq(pipe_pipeline_new_in(ctx, NULL, pl), 0);
  else
    cr_assert_eq(pipe_pipeline_new(th_loop(), NULL, pl), 0);
  cr_assert_eq(pipe_stage_new(*pl, &dummy_ops, &s), 0);
  return s;
}

static void queue_job(pipe_stage_t* s, int id, int pl) {
  job_t* j = &jobs[id];
  j->id = id;
  j->pl = pl;
  j->status = 1; /* no after() yet */
  j->w.data = j;
  cr_assert_eq(pipe_stage_queue_work(s, &j->w, job_work, job_after), 0);
  cr_assert_eq(j->afters, 0, "after() ran from inside queue_work");
}

static int cancel(int id) {
  int r;
  in_cancel = 1;
  r = pipe_work_cancel(&jobs[id].w);
  in_cancel = 0;
  return r;
}

/* ---- the driver ------------------------------------------------------------ */

typedef struct driver_s {
  uv_timer_t t;     /* first */
  int width;        /* jobs that run at once (the budget) */
  int to_run;       /* jobs whose work() will run */
  int njobs;        /* after() calls to wait for */
  void (*on_full)(struct driver_s* d); /* once, when `width` have started */
  int full_seen;
} driver_t;

static void drive(uv_timer_t* t) {
  driver_t* d = (driver_t*)t;
  int s = atomic_load(&started);
  if (!d->full_seen && s == d->width) {
    d->full_seen = 1;
    if (d->on_full != NULL) d->on_full(d);
  }
  /* Let one go only when every token is out and its job has begun (or
   * nothing is left to start), so that starts happen one at a time. */
  if (released < d->to_run && (s - released == d->width || s == d->to_run)) {
    released++;
    sem_post(&go);
  }
  if (done == d->njobs) uv_close((uv_handle_t*)t, NULL);
}

static void driver_start(driver_t* d) {
  cr_assert_eq(uv_timer_init(th_loop(), &d->t), 0);
  cr_assert_eq(uv_timer_start(&d->t, drive, 1, 1), 0);
}

/* ---- the budget, FIFO order, and file I/O while it is full ------------------ */

typedef struct fsck_s {
  pipe_ctx_t* ctx;
  driver_t* d;
  uv_fs_t stat_req, write_req;
  int fd, pending;
  int stat_result, write_result;
  /* When each file request came back: tokens out, jobs waiting, after()
   * calls so far. */
  unsigned running_at[2];
  size_t queued_at[2];
  int done_at[2];
} fsck_t;

static void fs_one_done(fsck_t* f) {
  int k = 2 - f->pending;
  pipe_ctx_cpu_stats(f->ctx, &f->running_at[k], &f->queued_at[k], NULL);
  f->done_at[k] = done;
  if (--f->pending == 0) driver_start(f->d); /* only now let jobs go */
}

static void on_stat(uv_fs_t* req) {
  fsck_t* f = req->data;
  f->stat_result = (int)req->result;
  uv_fs_req_cleanup(req);
  fs_one_done(f);
}

static void on_write(uv_fs_t* req) {
  fsck_t* f = req->data;
  f->write_result = (int)req->result;
  uv_fs_req_cleanup(req);
  fs_one_done(f);
}

Test(work, budget_caps_jobs_of_all_pipelines_serves_them_fifo_and_leaves_file_io_a_thread) {
  enum { NPL = 3, NJOBS = 12, BUDGET = 2 };
  pipe_pipeline_t* pls[NPL];
  pipe_stage_t* st[NPL];
  pipe_ctx_t* ctx;
  driver_t d;
  fsck_t f;
  char *dir, *path;
  char text[] = "written while every CPU token is out";
  uv_buf_t buf = uv_buf_init(text, sizeof(text) - 1);
  unsigned running_now;
  size_t queued_now;
  uint64_t waited;
  int i, p, last[NPL];
  setup();
  ctx = ctx_with_budget(BUDGET);
  for (p = 0; p < NPL; p++) st[p] = stage_in(ctx, &pls[p]);
  /* Round robin: job i from pipeline i % 3. */
  for (i = 0; i < NJOBS; i++) queue_job(st[i % NPL], i, i % NPL);
  pipe_ctx_cpu_stats(ctx, &running_now, &queued_now, &waited);
  cr_assert_eq(running_now, BUDGET);
  cr_assert_eq(queued_now, NJOBS - BUDGET);
  cr_assert_eq(waited, NJOBS - BUDGET);

  /* The point of the budget: 2 of the pool's 4 threads hold blocked jobs,
   * 10 jobs wait in the context, and a stat and a write on a file still
   * complete. (Straight on the pool, the 12 blocked jobs would take all 4
   * threads: these requests would never come back and the test would time
   * out, since the driver only starts after them.) */
  memset(&d, 0, sizeof(d));
  d.width = BUDGET;
  d.to_run = NJOBS;
  d.njobs = NJOBS;
  memset(&f, 0, sizeof(f));
  f.ctx = ctx;
  f.d = &d;
  f.pending = 2;
  dir = th_tmpdir();
  path = th_path(dir, "f");
  th_write_file(path, "x", 1);
  f.fd = open(path, O_WRONLY);
  cr_assert_geq(f.fd, 0);
  f.stat_req.data = &f;
  f.write_req.data = &f;
  cr_assert_eq(uv_fs_stat(th_loop(), &f.stat_req, path, on_stat), 0);
  cr_assert_eq(uv_fs_write(th_loop(), &f.write_req, f.fd, &buf, 1, 0, on_write), 0);
  uv_run(th_loop(), UV_RUN_DEFAULT);

  cr_assert_eq(f.stat_result, 0, "stat: %s", uv_strerror(f.stat_result));
  cr_assert_eq(f.write_result, (int)buf.len, "write: %d", f.write_result);
  for (i = 0; i < 2; i++) {
    cr_assert_eq(f.running_at[i], BUDGET, "tokens out when request %d came back", i);
    cr_assert_eq(f.queued_at[i], NJOBS - BUDGET, "jobs waiting then: %zu", f.queued_at[i]);
    cr_assert_eq(f.done_at[i], 0, "no job had finished then");
  }

  cr_assert_eq(atomic_load(&max_running), BUDGET, "at most %d at once, saw %d",
               BUDGET, atomic_load(&max_running));
  cr_assert_eq(atomic_load(&started), NJOBS);
  for (i = 0; i < NJOBS; i++) {
    cr_assert_eq(jobs[i].afters, 1, "job %d: after() %d times", i, jobs[i].afters);
    cr_assert_eq(jobs[i].status, 0, "job %d: status %d", i, jobs[i].status);
    cr_assert_eq(atomic_load(&jobs[i].ran), 1);
  }
  /* First come, first served: the first two went to the pool together (in
   * either order), the rest one by one, in the order they were queued,
   * whichever pipeline queued them; so each pipeline's jobs started in its
   * own order too. */
  cr_assert((order[0] == 0 && order[1] == 1) || (order[0] == 1 && order[1] == 0),
            "first two started: %d %d", order[0], order[1]);
  for (i = 2; i < NJOBS; i++)
    cr_assert_eq(atomic_load(&order[i]), i, "start %d was job %d", i,
                 atomic_load(&order[i]));
  for (p = 0; p < NPL; p++) last[p] = -1;
  for (i = 0; i < NJOBS; i++) {
    int id = atomic_load(&order[i]);
    cr_assert_gt(id, last[jobs[id].pl], "pipeline %d: job %d after job %d",
                 jobs[id].pl, id, last[jobs[id].pl]);
    last[jobs[id].pl] = id;
  }
  pipe_ctx_cpu_stats(ctx, &running_now, &queued_now, &waited);
  cr_assert_eq(running_now, 0);
  cr_assert_eq(queued_now, 0);
  cr_assert_eq(waited, NJOBS - BUDGET, "a counter: it does not go down");

  close(f.fd);
  unlink(path);
  rmdir(dir);
  free(path);
  free(dir);
  for (p = 0; p < NPL; p++) pipe_pipeline_free(pls[p]);
  pipe_ctx_close(ctx, NULL, NULL);
  uv_run(th_loop(), UV_RUN_DEFAULT);
  pipe_ctx_free(ctx);
  sem_destroy(&go);
}

/* ---- cancel ------------------------------------------------------------------ */

static int cancel_running_r = 1, cancel_again_r = 1;
static int cancel_r[3] = {1, 1, 1};
static size_t queued_after_cancel;
static pipe_ctx_t* the_ctx;

static void cancel_three(driver_t* d) {
  /* Jobs 0 and 1 have begun (blocked in work()); 2..7 wait. */
  (void)d;
  cancel_running_r = cancel(0);
  cancel_r[0] = cancel(3);
  cancel_r[1] = cancel(5);
  cancel_r[2] = cancel(7);
  cancel_again_r = cancel(5);
  pipe_ctx_cpu_stats(the_ctx, NULL, &queued_after_cancel, NULL);
}

Test(work, cancelling_waiting_jobs_reports_ecanceled_later_and_they_never_run) {
  enum { NJOBS = 8, BUDGET = 2 };
  pipe_pipeline_t *pa, *pb;
  pipe_stage_t *sa, *sb;
  driver_t d;
  int i;
  setup();
  the_ctx = ctx_with_budget(BUDGET);
  sa = stage_in(the_ctx, &pa);
  sb = stage_in(the_ctx, &pb);
  for (i = 0; i < NJOBS; i++) queue_job(i % 2 ? sb : sa, i, i % 2);
  memset(&d, 0, sizeof(d));
  d.width = BUDGET;
  d.to_run = NJOBS - 3;
  d.njobs = NJOBS;
  d.on_full = cancel_three;
  driver_start(&d);
  uv_run(th_loop(), UV_RUN_DEFAULT);

  cr_assert_eq(cancel_running_r, UV_EBUSY, "a running job cannot be cancelled: %d",
               cancel_running_r);
  for (i = 0; i < 3; i++)
    cr_assert_eq(cancel_r[i], 0, "cancel %d: %s", i, uv_strerror(cancel_r[i]));
  cr_assert_eq(cancel_again_r, UV_EBUSY, "a second cancel: %d", cancel_again_r);
  cr_assert_eq(queued_after_cancel, NJOBS - BUDGET - 3,
               "cancelled jobs left the queue at once");
  cr_assert_eq(after_inside_cancel, 0, "after() ran from inside pipe_work_cancel");
  for (i = 0; i < NJOBS; i++) {
    int cancelled = i == 3 || i == 5 || i == 7;
    cr_assert_eq(jobs[i].afters, 1, "job %d: after() %d times", i, jobs[i].afters);
    cr_assert_eq(jobs[i].status, cancelled ? UV_ECANCELED : 0, "job %d: %d", i,
                 jobs[i].status);
    cr_assert_eq(atomic_load(&jobs[i].ran), !cancelled, "job %d ran: %d", i,
                 atomic_load(&jobs[i].ran));
  }
  cr_assert_eq(atomic_load(&max_running), BUDGET);
  cr_assert_eq(pipe_work_cancel(&jobs[1].w), UV_EINVAL, "done: nothing to cancel");
  {
    unsigned r;
    size_t q;
    pipe_ctx_cpu_stats(the_ctx, &r, &q, NULL);
    cr_assert_eq(r, 0, "every token came back (cancelled ones took none)");
    cr_assert_eq(q, 0);
  }
  pipe_pipeline_free(pa);
  pipe_pipeline_free(pb);
  pipe_ctx_close(the_ctx, NULL, NULL);
  uv_run(th_loop(), UV_RUN_DEFAULT);
  pipe_ctx_free(the_ctx);
  sem_destroy(&go);
}

/* ---- the budget changing, the context closing, no context ------------------- */

static void grow_budget(driver_t* d) {
  unsigned r;
  size_t q;
  pipe_ctx_cpu_stats(the_ctx, &r, &q, NULL);
  cr_assert_eq(r, 1);
  cr_assert_eq(q, 3);
  pipe_ctx_set_cpu_jobs(the_ctx, 4); /* the three waiting ones go now */
  pipe_ctx_cpu_stats(the_ctx, &r, &q, NULL);
  cr_assert_eq(r, 4);
  cr_assert_eq(q, 0);
  d->width = 4;
  d->full_seen = 0;
  d->on_full = NULL;
}

Test(work, a_bigger_budget_starts_waiting_jobs_at_once) {
  pipe_pipeline_t* pl;
  pipe_stage_t* s;
  driver_t d;
  int i;
  setup();
  the_ctx = ctx_with_budget(1);
  s = stage_in(the_ctx, &pl);
  for (i = 0; i < 4; i++) queue_job(s, i, 0);
  memset(&d, 0, sizeof(d));
  d.width = 1;
  d.to_run = 4;
  d.njobs = 4;
  d.on_full = grow_budget;
  driver_start(&d);
  uv_run(th_loop(), UV_RUN_DEFAULT);
  cr_assert_eq(atomic_load(&max_running), 4, "all four ran together");
  for (i = 0; i < 4; i++) cr_assert_eq(jobs[i].status, 0);
  pipe_pipeline_free(pl);
  pipe_ctx_close(the_ctx, NULL, NULL);
  uv_run(th_loop(), UV_RUN_DEFAULT);
  pipe_ctx_free(the_ctx);
  sem_destroy(&go);
}

static int closed_calls, after_close_r = 1;
static pipe_stage_t* close_stage;

static void on_ctx_closed(pipe_ctx_t* ctx, void* data) {
  (void)ctx;
  (void)data;
  closed_calls++;
}

static void close_ctx(driver_t* d) {
  size_t q;
  (void)d;
  in_cancel = 1; /* after() must not run from inside pipe_ctx_close either */
  pipe_ctx_close(the_ctx, on_ctx_closed, NULL);
  in_cancel = 0;
  pipe_ctx_cpu_stats(the_ctx, NULL, &q, NULL);
  cr_assert_eq(q, 0, "waiting jobs were cancelled");
  jobs[3].w.data = &jobs[3];
  after_close_r = pipe_stage_queue_work(close_stage, &jobs[3].w, job_work, job_after);
}

Test(work, closing_the_context_cancels_waiting_jobs_and_refuses_new_ones) {
  pipe_pipeline_t* pl;
  driver_t d;
  int i;
  setup();
  the_ctx = ctx_with_budget(1);
  close_stage = stage_in(the_ctx, &pl);
  for (i = 0; i < 3; i++) queue_job(close_stage, i, 0);
  memset(&d, 0, sizeof(d));
  d.width = 1;
  d.to_run = 1;
  d.njobs = 3;
  d.on_full = close_ctx;
  driver_start(&d);
  uv_run(th_loop(), UV_RUN_DEFAULT);
  cr_assert_eq(closed_calls, 1, "no S3 client: closed at once");
  cr_assert_eq(after_close_r, PIPE_ECANCELED);
  cr_assert_eq(after_inside_cancel, 0);
  cr_assert_eq(jobs[0].status, 0, "the running job finished");
  cr_assert_eq(jobs[1].status, UV_ECANCELED);
  cr_assert_eq(jobs[2].status, UV_ECANCELED);
  cr_assert_eq(jobs[3].afters, 0, "a refused job gets no after()");
  cr_assert_eq(atomic_load(&started), 1);
  pipe_pipeline_free(pl);
  uv_run(th_loop(), UV_RUN_DEFAULT);
  pipe_ctx_free(the_ctx);
  sem_destroy(&go);
}

static pipe_stage_t* plain_stage;
static int plain_cancel_r = 1;

static void queue_fifth_and_cancel(driver_t* d) {
  (void)d;
  /* Every pool thread holds a blocked job: a fifth waits in libuv's own
   * queue, where uv_cancel takes it back. */
  queue_job(plain_stage, 4, 0);
  plain_cancel_r = cancel(4);
}

Test(work, without_a_context_jobs_go_straight_to_the_pool) {
  pipe_pipeline_t* pl;
  driver_t d;
  int i;
  setup();
  plain_stage = stage_in(NULL, &pl);
  for (i = 0; i < 4; i++) queue_job(plain_stage, i, 0);
  memset(&d, 0, sizeof(d));
  d.width = 4; /* the whole pool: no budget */
  d.to_run = 4;
  d.njobs = 5;
  d.on_full = queue_fifth_and_cancel;
  driver_start(&d);
  uv_run(th_loop(), UV_RUN_DEFAULT);
  cr_assert_eq(atomic_load(&max_running), 4);
  cr_assert_eq(plain_cancel_r, 0);
  cr_assert_eq(after_inside_cancel, 0);
  cr_assert_eq(jobs[4].status, UV_ECANCELED);
  cr_assert_eq(atomic_load(&jobs[4].ran), 0);
  for (i = 0; i < 4; i++) cr_assert_eq(jobs[i].status, 0);
  pipe_pipeline_free(pl);
  uv_run(th_loop(), UV_RUN_DEFAULT);
  sem_destroy(&go);
}

Test(work, default_budget_is_min_of_cpus_and_pool_size_minus_one) {
  unsigned cpus = uv_available_parallelism();
  pipe_ctx_t *a, *b, *c;
  setenv("UV_THREADPOOL_SIZE", "4", 1);
  cr_assert_eq(pipe_ctx_new(th_loop(), &a), 0);
  cr_assert_eq(pipe_ctx_cpu_jobs(a), cpus < 3 ? cpus : 3);
  setenv("UV_THREADPOOL_SIZE", "1", 1);
  cr_assert_eq(pipe_ctx_new(th_loop(), &b), 0);
  cr_assert_eq(pipe_ctx_cpu_jobs(b), 1, "at least 1");
  setenv("UV_THREADPOOL_SIZE", "64", 1);
  cr_assert_eq(pipe_ctx_new(th_loop(), &c), 0);
  cr_assert_eq(pipe_ctx_cpu_jobs(c), cpus < 63 ? cpus : 63);
  pipe_ctx_set_cpu_jobs(c, 5);
  cr_assert_eq(pipe_ctx_cpu_jobs(c), 5);
  pipe_ctx_set_cpu_jobs(c, 0);
  cr_assert_eq(pipe_ctx_cpu_jobs(c), cpus < 63 ? cpus : 63, "0: the default again");
  pipe_ctx_free(a);
  pipe_ctx_free(b);
  pipe_ctx_free(c);
}
