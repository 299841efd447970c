/* "refs > 1 means read-only" (include/pipe/buf.h): a consumer keeps its
 * read position in its own state, never in the off/len of a buffer it did
 * not create. A source here keeps a reference to every buffer it pushes
 * (as a tee would) and checks, once consumers are done with them, that each
 * is exactly as it was pushed: same off, same len, same bytes. */
#include <criterion/criterion.h>
#include <ctype.h>
#include <signal.h>
#include <string.h>
#include <sys/resource.h>

#include "support/harness.h"

TestSuite(readonly, .init = th_loop_init, .fini = th_loop_fini);

#define KEEP_MAX 16

typedef struct {
  pipe_stage_t stage; /* first */
  size_t n, chunk, pushed;
  pipe_buf_t* kept[KEEP_MAX];
  size_t off[KEEP_MAX], len[KEEP_MAX];
  uint8_t* copy[KEEP_MAX];
} keep_src_t;

static void keep_pump(keep_src_t* k) {
  pipe_stage_t* s = &k->stage;
  while (k->pushed < k->n && !pipe_stage_stopping(s) && !s->blocked) {
    size_t i = k->pushed, j;
    pipe_buf_t* b = pipe_pool_acquire(s->pool);
    int r;
    if (b == NULL) {
      pipe_stage_wait_pool(s, s->pool);
      return;
    }
    b->off = 16; /* the producer's choice: not 0, to be noticed */
    b->len = k->chunk;
    for (j = 0; j < k->chunk; j++)
      pipe_buf_data(b)[j] = (uint8_t)('a' + (i * 7 + j) % 26);
    k->kept[i] = pipe_buf_ref(b); /* shared from here on: refs == 2 */
    k->off[i] = b->off;
    k->len[i] = b->len;
    k->copy[i] = malloc(k->chunk);
    memcpy(k->copy[i], pipe_buf_data(b), k->chunk);
    k->pushed++;
    r = pipe_stage_push(s, b);
    if (r < 0 || r == PIPE_FULL) return;
  }
  if (k->pushed == k->n && !pipe_stage_stopping(s)) pipe_stage_end(s);
}

static int keep_start(pipe_stage_t* s) {
  keep_pump((keep_src_t*)s);
  return 0;
}

static void keep_resume(pipe_stage_t* s) { keep_pump((keep_src_t*)s); }

static const pipe_stage_ops_t keep_ops = {
    .name = "keep_src",
    .size = sizeof(keep_src_t),
    .start = keep_start,
    .resume = keep_resume,
};

static keep_src_t* keep_new(pipe_pipeline_t* pl, size_t n, size_t chunk) {
  pipe_stage_t* s;
  cr_assert_leq(n, KEEP_MAX);
  cr_assert_eq(pipe_stage_new(pl, &keep_ops, &s), 0);
  ((keep_src_t*)s)->n = n;
  ((keep_src_t*)s)->chunk = chunk;
  return (keep_src_t*)s;
}

/* Asserts every kept buffer is as pushed, then drops the references. */
static void assert_kept_unchanged(keep_src_t* k) {
  size_t i;
  cr_assert_gt(k->pushed, 0);
  for (i = 0; i < k->pushed; i++) {
    pipe_buf_t* b = k->kept[i];
    cr_assert_eq(b->off, k->off[i], "buffer %zu: off %zu, pushed with %zu", i,
                 b->off, k->off[i]);
    cr_assert_eq(b->len, k->len[i], "buffer %zu: len %zu, pushed with %zu", i,
                 b->len, k->len[i]);
    cr_assert_eq(memcmp(pipe_buf_data(b), k->copy[i], k->len[i]), 0,
                 "buffer %zu: bytes changed", i);
    cr_assert_eq(b->refs, 1, "buffer %zu: the consumer let go of it", i);
    pipe_buf_unref(b);
    free(k->copy[i]);
  }
  k->pushed = 0;
}

static int upper_convert(pipe_xform_t* x, const uint8_t* in, size_t len,
                         size_t* consumed, uint8_t* out, size_t cap,
                         size_t* produced) {
  size_t n = len < cap ? len : cap, i;
  (void)x;
  for (i = 0; i < n; i++) out[i] = (uint8_t)toupper(in[i]);
  *consumed = *produced = n;
  return 0;
}

static const pipe_xform_ops_t upper_ops = {
    .stage = PIPE_XFORM_STAGE_OPS("upper", sizeof(pipe_xform_t)),
    .convert = upper_convert,
};

Test(readonly, a_transform_leaves_a_shared_input_buffer_unchanged) {
  /* Output buffers (1000 bytes) smaller than the input ones (3000): each
   * input buffer is converted in several calls, so the transform has a
   * read position inside it. */
  pipe_pipeline_config_t cfg = {.buf_size = 4096, .pool_limit = 12, .hwm = 2};
  pipe_pipeline_t* pl = th_pipeline(&cfg);
  keep_src_t* src = keep_new(pl, 8, 3000);
  pipe_xform_t* x;
  cr_assert_eq(pipe_xform_new(pl, &upper_ops, &x), 0);
  th_sink_t* snk = th_sink_new(pl, 2, 1);
  size_t i;

  cr_assert_eq(th_run(pl), 0);
  cr_assert_eq(snk->got_len, 8 * 3000);
  for (i = 0; i < snk->got_len; i++)
    cr_assert_eq(snk->got[i], toupper('a' + ((i / 3000) * 7 + i % 3000) % 26));
  assert_kept_unchanged(src);
  th_finish(pl);
}

Test(readonly, a_file_sink_after_a_short_write_leaves_a_shared_buffer_unchanged) {
  /* RLIMIT_FSIZE makes the kernel write only the first 1000 bytes (a short
   * write); the writer must keep "1000 bytes of the head written" in its
   * own state. The next write fails (EFBIG): the run fails, and the buffers
   * the source still holds are as they were. */
  char* dir = th_tmpdir();
  char* out = th_path(dir, "out.bin");
  pipe_pipeline_config_t cfg = {.buf_size = 4096, .pool_limit = 12, .hwm = 8};
  pipe_pipeline_t* pl = th_pipeline(&cfg);
  keep_src_t* src = keep_new(pl, 4, 3000);
  struct rlimit rl = {.rlim_cur = 1000, .rlim_max = RLIM_INFINITY};
  cr_assert_eq(pipe_file_sink_new(pl, &(pipe_file_sink_config_t){.path = out},
                                  NULL), 0);
  signal(SIGXFSZ, SIG_IGN);
  cr_assert_eq(setrlimit(RLIMIT_FSIZE, &rl), 0);

  int st = th_run(pl);
  rl.rlim_cur = RLIM_INFINITY;
  setrlimit(RLIMIT_FSIZE, &rl);
  cr_assert_lt(st, 0, "the file could not be written: %s", pipe_err_name(st));
  assert_kept_unchanged(src);
  cr_assert_eq(th_count_entries(dir), 0, "temp file removed");
  th_finish(pl);
  free(out);
  free(dir);
}

Test(readonly, a_hash_stage_forwards_a_shared_buffer_unchanged) {
  pipe_pipeline_config_t cfg = {.buf_size = 4096, .pool_limit = 12, .hwm = 2};
  pipe_pipeline_t* pl = th_pipeline(&cfg);
  keep_src_t* src = keep_new(pl, 6, 4000);
  cr_assert_eq(pipe_hash_new(pl, PIPE_HASH_SHA256, NULL), 0);
  th_sink_t* snk = th_sink_new(pl, 2, 1);

  cr_assert_eq(th_run(pl), 0);
  cr_assert_eq(snk->got_len, 6 * 4000);
  assert_kept_unchanged(src);
  th_finish(pl);
}
