/* Test harness (see harness.h). */
#include "harness.h"

#include <criterion/criterion.h>
#include <dirent.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

/* One loop per test process (criterion forks a process per test). */
static uv_loop_t loop_;
static int loop_live_;
static int done_calls_;
static int done_status_;

/* ---- loop fixture ------------------------------------------------------- */

void th_loop_init(void) {
  cr_assert_eq(uv_loop_init(&loop_), 0);
  loop_live_ = 1;
}

uv_loop_t* th_loop(void) {
  if (!loop_live_) th_loop_init(); /* tests without the fixture */
  return &loop_;
}

static void report_handle(uv_handle_t* h, void* arg) {
  (void)arg;
  cr_log_error("leaked handle: %s%s", uv_handle_type_name(h->type),
               uv_is_closing(h) ? " (closing)" : "");
}

/* Asserts the loop closes: every handle a pipeline opened was closed. Runs
 * the loop a few rounds without blocking first, so close callbacks that are
 * already due can fire, but a leaked active handle cannot hang the test. */
static void close_loop(void) {
  int i, r;
  for (i = 0; i < 8; i++) uv_run(&loop_, UV_RUN_NOWAIT);
  r = uv_loop_close(&loop_);
  if (r != 0) uv_walk(&loop_, report_handle, NULL);
  cr_assert_eq(r, 0, "uv_loop_close: %s (a handle was leaked)", uv_strerror(r));
  loop_live_ = 0;
}

void th_loop_fini(void) {
  if (loop_live_) close_loop();
}

/* ---- pipelines ---------------------------------------------------------- */

pipe_pipeline_t* th_pipeline(const pipe_pipeline_config_t* cfg) {
  pipe_pipeline_t* pl = NULL;
  cr_assert_eq(pipe_pipeline_new(th_loop(), cfg, &pl), 0);
  cr_assert_not_null(pl);
  return pl;
}

static void on_done(pipe_pipeline_t* pl, int status) {
  (void)pl;
  done_calls_++;
  done_status_ = status;
}

int th_run(pipe_pipeline_t* pl) {
  done_calls_ = 0;
  done_status_ = 12345;
  cr_assert_eq(pipe_pipeline_run(pl, on_done), 0);
  uv_run(th_loop(), UV_RUN_DEFAULT);
  cr_assert_eq(done_calls_, 1, "completion callback fired %d times",
               done_calls_);
  return done_status_;
}

int th_done_calls(void) {
  return done_calls_;
}

static const pipe_stage_ops_t th_sink_ops;

void th_finish(pipe_pipeline_t* pl) {
  pipe_stage_t* s;
  /* The sinks' collected bytes outlive destroy() so tests can read them. */
  for (s = pipe_pipeline_first(pl); s != NULL; s = s->next) {
    if (s->ops == &th_sink_ops) {
      free(((th_sink_t*)s)->got);
      ((th_sink_t*)s)->got = NULL;
    }
  }
  pipe_pipeline_free(pl);
  uv_run(th_loop(), UV_RUN_DEFAULT); /* a never-run pipeline closes a handle */
  close_loop();
  th_loop_init();
}

/* ---- memory source ------------------------------------------------------ */

/* Pushes chunks until the data is used up, downstream is full, the pool is
 * empty or the run is stopping. Called from start() and resume() only, so
 * never re-entered from inside a push. */
static void src_pump(th_source_t* m) {
  pipe_stage_t* s = &m->stage;
  while (!pipe_stage_stopping(s) && !s->blocked && m->pos < m->len) {
    pipe_buf_t* b = pipe_pool_acquire(s->pool); /* ours until pushed */
    size_t n;
    int r;
    if (b == NULL) {
      m->pool_waits++;
      pipe_stage_wait_pool(s, s->pool); /* resume() continues */
      return;
    }
    n = m->len - m->pos;
    if (n > m->chunk) n = m->chunk;
    if (n > pipe_buf_room(b)) n = pipe_buf_room(b);
    memcpy(pipe_buf_tail(b), m->data + m->pos, n);
    b->len += n;
    m->pos += n;
    r = pipe_stage_push(s, b); /* gives b away */
    if (r == PIPE_FULL) m->fulls++;
    if (r < 0) return;
  }
  if (m->pos == m->len && !pipe_stage_stopping(s)) pipe_stage_end(s);
}

static int src_start(pipe_stage_t* s) {
  th_source_t* m = (th_source_t*)s;
  m->counts.starts++;
  src_pump(m);
  return 0;
}

static void src_resume(pipe_stage_t* s) {
  th_source_t* m = (th_source_t*)s;
  m->counts.resumes++;
  src_pump(m);
}

static void src_destroy(pipe_stage_t* s, int status) {
  th_source_t* m = (th_source_t*)s;
  m->counts.destroys++;
  m->counts.destroy_status = status;
}

static const pipe_stage_ops_t th_source_ops = {
    .name = "th_source",
    .size = sizeof(th_source_t),
    .start = src_start,
    .resume = src_resume,
    .destroy = src_destroy,
};

th_source_t* th_source_new(pipe_pipeline_t* pl, const void* data, size_t len,
                           size_t chunk) {
  pipe_stage_t* s;
  th_source_t* m;
  cr_assert_eq(pipe_stage_new(pl, &th_source_ops, &s), 0);
  m = (th_source_t*)s;
  m->data = data;
  m->len = len;
  m->chunk = chunk ? chunk : 1;
  return m;
}

/* ---- collecting sink ---------------------------------------------------- */

/* Appends b's bytes to `got` and releases b. */
static void sink_consume(th_sink_t* k, pipe_buf_t* b) {
  if (k->got_len + b->len > k->got_cap) {
    size_t cap = k->got_cap ? k->got_cap : 4096;
    while (cap < k->got_len + b->len) cap *= 2;
    k->got = realloc(k->got, cap);
    cr_assert_not_null(k->got);
    k->got_cap = cap;
  }
  memcpy(k->got + k->got_len, pipe_buf_data(b), b->len);
  k->got_len += b->len;
  pipe_buf_unref(b);
  if (k->stop_after > 0 && k->got_len >= k->stop_after && !k->stopped) {
    k->stopped = 1;
    pipe_stage_end(&k->stage); /* early success, upstream not finished */
  }
}

static void sink_finish_if_done(th_sink_t* k) {
  if (k->ending && k->qlen == 0) {
    k->ending = 0;
    pipe_stage_end(&k->stage); /* the run succeeded */
  }
}

static void sink_tick(uv_timer_t* t) {
  th_sink_t* k = t->data;
  pipe_buf_t* b = k->qhead;
  if (b == NULL) return;
  k->qhead = b->next;
  if (k->qhead == NULL) k->qtail = NULL;
  k->qlen--;
  sink_consume(k, b);
  if (k->answered_full && k->qlen < k->full_at) {
    k->answered_full = 0;
    k->drains++;
    pipe_stage_drain(&k->stage);
  }
  sink_finish_if_done(k);
}

static int sink_start(pipe_stage_t* s) {
  th_sink_t* k = (th_sink_t*)s;
  k->counts.starts++;
  if (k->tick_ms > 0) {
    cr_assert_eq(uv_timer_init(pipe_stage_loop(s), &k->timer), 0);
    k->timer.data = k;
    k->timer_live = 1;
    uv_timer_start(&k->timer, sink_tick, k->tick_ms, k->tick_ms);
  }
  return 0;
}

/* Takes buf. */
static int sink_write(pipe_stage_t* s, pipe_buf_t* buf) {
  th_sink_t* k = (th_sink_t*)s;
  k->counts.writes++;
  if (k->answered_full) k->writes_while_full++;
  if (k->counts.ends > 0) k->writes_after_end++;
  if (k->tick_ms == 0) {
    sink_consume(k, buf);
    return PIPE_OK;
  }
  buf->next = NULL;
  if (k->qtail != NULL)
    k->qtail->next = buf;
  else
    k->qhead = buf;
  k->qtail = buf;
  k->qlen++;
  if (k->qlen > k->max_qlen) k->max_qlen = k->qlen;
  if (k->qlen >= k->full_at) {
    k->answered_full = 1;
    k->fulls++;
    return PIPE_FULL;
  }
  return PIPE_OK;
}

static int sink_end(pipe_stage_t* s) {
  th_sink_t* k = (th_sink_t*)s;
  k->counts.ends++;
  k->in_at_end = (size_t)s->stats.bytes_in;
  k->queued_at_end = k->qlen;
  k->ending = 1;
  sink_finish_if_done(k);
  return 0;
}

static void sink_timer_closed(uv_handle_t* h) {
  th_sink_t* k = h->data;
  pipe_stage_release(&k->stage);
}

static void sink_destroy(pipe_stage_t* s, int status) {
  th_sink_t* k = (th_sink_t*)s;
  k->counts.destroys++;
  k->counts.destroy_status = status;
  while (k->qhead != NULL) {
    pipe_buf_t* b = k->qhead;
    k->qhead = b->next;
    pipe_buf_unref(b);
  }
  k->qtail = NULL;
  k->qlen = 0;
  if (k->timer_live) {
    k->timer_live = 0;
    pipe_stage_hold(s);
    uv_close((uv_handle_t*)&k->timer, sink_timer_closed);
  }
  /* `got` stays readable until th_finish() frees the pipeline. */
}

static const pipe_stage_ops_t th_sink_ops = {
    .name = "th_sink",
    .size = sizeof(th_sink_t),
    .start = sink_start,
    .write = sink_write,
    .end = sink_end,
    .destroy = sink_destroy,
};

th_sink_t* th_sink_new(pipe_pipeline_t* pl, size_t full_at, uint64_t tick_ms) {
  pipe_stage_t* s;
  th_sink_t* k;
  cr_assert_eq(pipe_stage_new(pl, &th_sink_ops, &s), 0);
  k = (th_sink_t*)s;
  k->full_at = full_at ? full_at : 1;
  k->tick_ms = tick_ms;
  return k;
}

uint8_t* th_sink_take(th_sink_t* k, size_t* len) {
  uint8_t* g = k->got;
  *len = k->got_len;
  k->got = NULL;
  k->got_len = k->got_cap = 0;
  return g;
}

/* ---- failing pass-through ----------------------------------------------- */

/* Takes buf: forwards it (same buffer) or drops it when failing. */
static int fail_write(pipe_stage_t* s, pipe_buf_t* buf) {
  th_fail_t* f = (th_fail_t*)s;
  f->counts.writes++;
  if (f->counts.writes == f->fail_at) {
    pipe_buf_unref(buf);
    pipe_stage_fail(s, f->err, "th_fail: injected failure at buffer %d",
                    f->counts.writes);
    return f->err;
  }
  return pipe_stage_push(s, buf); /* FULL passes straight up */
}

static int fail_end(pipe_stage_t* s) {
  th_fail_t* f = (th_fail_t*)s;
  f->counts.ends++;
  pipe_stage_end(s);
  return 0;
}

/* Downstream drained: we answered FULL whenever it did, so drain too. */
static void fail_resume(pipe_stage_t* s) {
  th_fail_t* f = (th_fail_t*)s;
  f->counts.resumes++;
  pipe_stage_drain(s);
}

static void fail_destroy(pipe_stage_t* s, int status) {
  th_fail_t* f = (th_fail_t*)s;
  f->counts.destroys++;
  f->counts.destroy_status = status;
}

static const pipe_stage_ops_t th_fail_ops = {
    .name = "th_fail",
    .size = sizeof(th_fail_t),
    .write = fail_write,
    .end = fail_end,
    .resume = fail_resume,
    .destroy = fail_destroy,
};

th_fail_t* th_fail_new(pipe_pipeline_t* pl, int fail_at, int err) {
  pipe_stage_t* s;
  th_fail_t* f;
  cr_assert_eq(pipe_stage_new(pl, &th_fail_ops, &s), 0);
  f = (th_fail_t*)s;
  f->fail_at = fail_at;
  f->err = err;
  return f;
}

/* ---- data and files ----------------------------------------------------- */

uint8_t* th_pattern(size_t n, uint32_t seed) {
  uint8_t* p = malloc(n ? n : 1);
  uint32_t x = seed * 2654435761u + 1;
  size_t i;
  cr_assert_not_null(p);
  for (i = 0; i < n; i++) {
    x ^= x << 13; /* xorshift32 */
    x ^= x >> 17;
    x ^= x << 5;
    p[i] = (uint8_t)x;
  }
  return p;
}

char* th_tmpdir(void) {
  char* d = strdup("/tmp/pipe-test-XXXXXX");
  cr_assert_not_null(d);
  cr_assert_not_null(mkdtemp(d));
  return d;
}

char* th_path(const char* dir, const char* name) {
  size_t n = strlen(dir) + strlen(name) + 2;
  char* p = malloc(n);
  cr_assert_not_null(p);
  snprintf(p, n, "%s/%s", dir, name);
  return p;
}

void th_write_file(const char* path, const void* data, size_t len) {
  FILE* f = fopen(path, "wb");
  cr_assert_not_null(f, "cannot create %s", path);
  cr_assert_eq(fwrite(data, 1, len, f), len);
  cr_assert_eq(fclose(f), 0);
}

uint8_t* th_read_file(const char* path, size_t* len) {
  FILE* f = fopen(path, "rb");
  uint8_t* buf = NULL;
  size_t cap = 0, n = 0;
  if (f == NULL) return NULL;
  for (;;) {
    size_t got;
    if (cap - n < 65536) {
      cap = cap ? cap * 2 : 65536;
      buf = realloc(buf, cap + 1);
      cr_assert_not_null(buf);
    }
    got = fread(buf + n, 1, cap - n, f);
    n += got;
    if (got == 0) break;
  }
  fclose(f);
  buf[n] = 0;
  *len = n;
  return buf;
}

int th_count_entries(const char* dir) {
  DIR* d = opendir(dir);
  struct dirent* e;
  int n = 0;
  cr_assert_not_null(d);
  while ((e = readdir(d)) != NULL)
    if (strcmp(e->d_name, ".") != 0 && strcmp(e->d_name, "..") != 0) n++;
  closedir(d);
  return n;
}
