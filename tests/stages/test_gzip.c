/* The gzip stage: ONE gzip member whatever the input size, that every gzip
 * reader accepts (zlib in one call, gzip -d, pigz -d, Python's zlib in one
 * decompressobj call, Node), at block and buffer boundaries and at every
 * level, with `gzip -l` giving the true size;
 * bounded memory under a slow sink; the loop stays responsive while the
 * thread pool compresses; clean teardown with jobs in flight; in a context
 * the pipelines' jobs share its CPU tokens and still round trip. */
#include <criterion/criterion.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <zlib.h>

#include "support/gz_helpers.h"

TestSuite(gzip, .init = th_loop_init, .fini = th_loop_fini);

/* A small block so that block boundaries are cheap to reach; the odd size
 * keeps them away from the source's 64 KiB buffer boundaries. */
#define BS ((size_t)65536 + 7)

/* Python's zlib.decompressobj(31), what HTTP clients use: ONE call must
 * give every byte, reach the end of the stream, and leave nothing unused
 * (a second member would be left in unused_data). Debian's python. */
static const char* py_gunzip =
    "/usr/bin/python3 -c 'import sys,zlib; d=sys.stdin.buffer.read(); "
    "o=zlib.decompressobj(31); x=o.decompress(d); "
    "assert o.eof and not o.unused_data and not o.unconsumed_tail, "
    "(o.eof, len(o.unused_data)); sys.stdout.buffer.write(x)'";

static const char* node_gunzip =
    "/usr/bin/node -e 'process.stdout.write(require(\"zlib\").gunzipSync("
    "require(\"fs\").readFileSync(0)))'";

/* Decompresses with zlib (inflate, resetting between members), the way a
 * reader that knows nothing of our blocks does. Asserts it is valid and
 * counts the members. */
static uint8_t* zlib_gunzip(const uint8_t* gz, size_t len, size_t* out_len,
                            unsigned* members) {
  z_stream z;
  size_t cap = len * 8 + 1024, n = 0;
  uint8_t* out = malloc(cap);
  int r;
  cr_assert_not_null(out);
  memset(&z, 0, sizeof(z));
  cr_assert_eq(inflateInit2(&z, 15 + 16), Z_OK);
  z.next_in = (Bytef*)gz;
  z.avail_in = (uInt)len;
  *members = 0;
  while (z.avail_in > 0) {
    if (cap - n < 65536) {
      cap *= 2;
      out = realloc(out, cap);
      cr_assert_not_null(out);
    }
    z.next_out = out + n;
    z.avail_out = (uInt)(cap - n);
    r = inflate(&z, Z_NO_FLUSH);
    n = cap - z.avail_out;
    if (r == Z_STREAM_END) {
      (*members)++;
      inflateReset(&z);
      continue;
    }
    cr_assert(r == Z_OK || r == Z_BUF_ERROR, "inflate: %d %s", r,
              z.msg ? z.msg : "");
    cr_assert(r == Z_OK || z.avail_out == 0, "inflate: input ends mid-member");
  }
  inflateEnd(&z);
  *out_len = n;
  return out;
}

/* Compresses data with cfg and checks it decompresses (zlib) to the same
 * bytes, in the expected number of members. Returns the gzip bytes. */
static uint8_t* check_round_trip(const uint8_t* data, size_t len,
                                 const pipe_gzip_config_t* cfg, size_t chunk,
                                 size_t* gz_len) {
  size_t back_len;
  unsigned members, want;
  pipe_gzip_stats_t st;
  uint8_t* gz = gzh_compress(data, len, cfg, chunk, gz_len, &st);
  uint8_t* back = zlib_gunzip(gz, *gz_len, &back_len, &members);
  char what[96];
  snprintf(what, sizeof(what), "round trip of %zu bytes", len);
  gzh_assert_same(back, back_len, data, len, what);
  cr_assert_eq(members, 1, "%zu bytes: %u members, want one", len, members);
  /* One piece per started block, plus one: the last partial block, or an
   * empty piece holding the final block when the input ends on a block
   * boundary (or is empty). */
  want = (unsigned)(len / st.block_size + 1);
  cr_assert_eq(st.blocks, want, "%zu bytes: %llu pieces, want %u", len,
               (unsigned long long)st.blocks, want);
  free(back);
  return gz;
}

static const size_t edge_sizes[] = {
    0,          1,      2,          BS - 1,    BS,         BS + 1,
    2 * BS - 1, 2 * BS, 2 * BS + 1, 65535,     65536,      65537,
    131071,     131072, 131073,     3 * 65536, 5 * BS + 3,
};
#define N_EDGE (sizeof(edge_sizes) / sizeof(edge_sizes[0]))

Test(gzip, empty_input_gives_the_20_byte_member_gzip_writes) {
  static const uint8_t want[20] = {0x1f, 0x8b, 8, 0, 0, 0, 0, 0, 0, 3,
                                   3,    0,    0, 0, 0, 0, 0, 0, 0, 0};
  size_t n, sys_n;
  uint8_t* gz = gzh_compress("", 0, NULL, 0, &n, NULL);
  uint8_t* sys = gzh_cmd("gzip -n -c", "", 0, &sys_n); /* -n: no mtime */
  gzh_assert_same(gz, n, want, sizeof(want), "empty member");
  gzh_assert_same(gz, n, sys, sys_n, "vs gzip < /dev/null");
  free(gz);
  free(sys);
}

Test(gzip, header_is_unix_with_no_mtime_and_no_name) {
  size_t n;
  uint8_t* text = gzh_text(1000, 1);
  uint8_t* gz = gzh_compress(text, 1000, NULL, 0, &n, NULL);
  cr_assert_geq(n, 20);
  cr_assert_eq(gz[0], 0x1f);
  cr_assert_eq(gz[1], 0x8b);
  cr_assert_eq(gz[2], 8);                         /* deflate */
  cr_assert_eq(gz[3], 0);                         /* no FNAME etc. */
  cr_assert_eq(gz[4] | gz[5] | gz[6] | gz[7], 0); /* MTIME 0 */
  cr_assert_eq(gz[9], 3);                         /* OS Unix */
  free(gz);
  free(text);
}

Test(gzip, round_trips_text_at_block_and_buffer_boundaries) {
  size_t i, max = 6 * BS;
  uint8_t* text = gzh_text(max, 2);
  for (i = 0; i < N_EDGE; i++) {
    pipe_gzip_config_t cfg = {6, 2, BS};
    size_t n;
    free(check_round_trip(text, edge_sizes[i], &cfg, 0, &n));
  }
  free(text);
}

Test(gzip, round_trips_random_data_at_block_and_buffer_boundaries) {
  size_t i, max = 6 * BS;
  uint8_t* rnd = th_pattern(max, 3);
  for (i = 0; i < N_EDGE; i++) {
    pipe_gzip_config_t cfg = {6, 2, BS};
    size_t n, len = edge_sizes[i];
    uint8_t* gz = check_round_trip(rnd, len, &cfg, 0, &n);
    /* Incompressible: stored blocks, a few bytes of overhead per member. */
    cr_assert_leq(n, len + 64 * (len / BS + 1), "%zu -> %zu", len, n);
    free(gz);
  }
  free(rnd);
}

Test(gzip, round_trips_whatever_the_upstream_buffer_size) {
  static const size_t chunks[] = {1, 7, 4096, 65536, BS - 1};
  size_t len = 3 * BS + 11, i;
  uint8_t* text = gzh_text(len, 4);
  for (i = 0; i < sizeof(chunks) / sizeof(chunks[0]); i++) {
    pipe_gzip_config_t cfg = {1, 2, BS};
    size_t n;
    size_t l = chunks[i] == 1 ? 20000 : len; /* 1-byte buffers: keep small */
    free(check_round_trip(text, l, &cfg, chunks[i], &n));
  }
  free(text);
}

Test(gzip, highly_compressible_data_shrinks_a_thousandfold) {
  size_t len = 8u << 20, n;
  uint8_t* zeros = calloc(1, len);
  pipe_gzip_config_t cfg = {6, 2, 0};
  uint8_t* gz;
  cr_assert_not_null(zeros);
  gz = check_round_trip(zeros, len, &cfg, 0, &n);
  cr_assert_lt(n, len / 500, "8 MiB of zeros -> %zu bytes", n);
  free(gz);
  free(zeros);
}

Test(gzip, every_level_round_trips_and_higher_levels_are_smaller) {
  size_t len = 3 * BS, n1 = 0, n9 = 0;
  uint8_t* text = gzh_text(len, 5);
  int level;
  for (level = 1; level <= 9; level++) {
    pipe_gzip_config_t cfg = {level, 2, BS};
    size_t n, sys_n;
    uint8_t* gz = check_round_trip(text, len, &cfg, 0, &n);
    uint8_t* sys = gzh_cmd("gzip -dc", gz, n, &sys_n);
    gzh_assert_same(sys, sys_n, text, len, "gzip -d of our output");
    cr_assert_eq(gz[8],
                 level == 1   ? 4
                 : level == 9 ? 2
                              : 0,
                 "XFL at -%d", level);
    if (level == 1) n1 = n;
    if (level == 9) n9 = n;
    free(sys);
    free(gz);
  }
  cr_assert_lt(n9, n1, "level 9 %zu bytes, level 1 %zu", n9, n1);
  free(text);
}

/* Our output, read by the system's tools. */
static void check_system_reader(const char* cmd, const char* prog,
                                size_t nsizes) {
  static const size_t sizes[] = {0, 3 * BS + 5, 1, BS - 1, BS, BS + 1};
  size_t i;
  uint8_t* text = gzh_text(4 * BS, 6);
  uint8_t* rnd = th_pattern(4 * BS, 7);
  if (!gzh_have(prog)) cr_skip_test("%s not installed", prog);
  for (i = 0; i < nsizes && i < sizeof(sizes) / sizeof(sizes[0]); i++) {
    int k;
    for (k = 0; k < 2; k++) {
      const uint8_t* data = k ? rnd : text;
      pipe_gzip_config_t cfg = {6, 2, BS};
      size_t n, back_n;
      uint8_t* gz = gzh_compress(data, sizes[i], &cfg, 0, &n, NULL);
      uint8_t* back = gzh_cmd(cmd, gz, n, &back_n);
      char what[128];
      snprintf(what, sizeof(what), "%s of %zu %s bytes", cmd, sizes[i],
               k ? "random" : "text");
      gzh_assert_same(back, back_n, data, sizes[i], what);
      free(back);
      free(gz);
    }
  }
  free(text);
  free(rnd);
}

Test(gzip, gzip_d_reads_our_output) {
  check_system_reader("gzip -dc", "gzip", 6);
}
Test(gzip, pigz_d_reads_our_output) {
  check_system_reader("pigz -dc", "pigz", 6);
}
Test(gzip, python_zlib_decompressobj_reads_our_output_in_one_call) {
  check_system_reader(py_gunzip, "/usr/bin/python3", 6);
}
Test(gzip, node_gunzipsync_reads_our_output) {
  check_system_reader(node_gunzip, "/usr/bin/node", 6);
}

/* ---- one member at the default block size ------------------------------ */

#define DB PIPE_GZIP_DEFAULT_BLOCK
static const size_t default_sizes[] = {0, 1, DB - 1, DB, DB + 1, 3 * DB + 12345};
#define N_DEFAULT (sizeof(default_sizes) / sizeof(default_sizes[0]))

/* zlib reads gz[0, n) in ONE inflate call as one member: it reaches the end
 * of the stream exactly at the end of the input, with every byte of data. */
static void assert_one_member(const uint8_t* gz, size_t n, const uint8_t* data,
                              size_t len) {
  z_stream z;
  uint8_t* back = malloc(len + 1);
  cr_assert_not_null(back);
  memset(&z, 0, sizeof(z));
  cr_assert_eq(inflateInit2(&z, 15 + 16), Z_OK);
  z.next_in = (Bytef*)gz;
  z.avail_in = (uInt)n;
  z.next_out = back;
  z.avail_out = (uInt)len + 1;
  cr_assert_eq(inflate(&z, Z_FINISH), Z_STREAM_END, "%zu bytes: %s", len,
               z.msg ? z.msg : "stream did not end");
  cr_assert_eq(z.avail_in, 0, "%zu bytes: %u bytes after the first member",
               len, z.avail_in);
  gzh_assert_same(back, z.total_out, data, len, "one inflate call");
  inflateEnd(&z);
  free(back);
}

Test(gzip, output_is_one_member_at_every_size_around_the_default_block) {
  uint8_t* text = gzh_text(3 * DB + 12345, 14);
  uint8_t* rnd = th_pattern(3 * DB + 12345, 15);
  size_t i;
  for (i = 0; i < N_DEFAULT; i++) {
    int k;
    for (k = 0; k < 2; k++) {
      size_t n, len = default_sizes[i];
      pipe_gzip_stats_t st;
      uint8_t* gz = gzh_compress(k ? rnd : text, len, NULL, 0, &n, &st);
      assert_one_member(gz, n, k ? rnd : text, len);
      cr_assert_eq(st.block_size, DB);
      cr_assert_eq(st.blocks, len / DB + 1);
      free(gz);
    }
  }
  free(text);
  free(rnd);
}

/* gzip -l reads ISIZE from the last 4 bytes: with one member it is the
 * size of everything (with several it was the last member's). */
static size_t gzip_l_size(const uint8_t* gz, size_t n) {
  size_t out_n;
  char* out = (char*)gzh_cmd("gzip -lq | awk '{print $2}'", gz, n, &out_n);
  char* end;
  unsigned long long v;
  out = realloc(out, out_n + 1);
  out[out_n] = '\0';
  v = strtoull(out, &end, 10);
  cr_assert(end != out && *end == '\n', "gzip -l said: %s", out);
  free(out);
  return (size_t)v;
}

Test(gzip, every_reader_gets_every_byte_and_gzip_l_the_true_size) {
  static const char* readers[] = {"gzip -dc", "pigz -dc", NULL, NULL};
  uint8_t* text = gzh_text(3 * DB + 12345, 16);
  size_t i, r;
  readers[2] = py_gunzip;
  readers[3] = node_gunzip;
  for (i = 0; i < N_DEFAULT; i++) {
    size_t n, len = default_sizes[i];
    uint8_t* gz = gzh_compress(text, len, NULL, 0, &n, NULL);
    for (r = 0; r < 4; r++) {
      size_t back_n;
      uint8_t* back = gzh_cmd(readers[r], gz, n, &back_n);
      char what[160];
      snprintf(what, sizeof(what), "%.40s of %zu bytes", readers[r], len);
      gzh_assert_same(back, back_n, text, len, what);
      free(back);
    }
    cr_assert_eq(gzip_l_size(gz, n), len, "gzip -l of %zu bytes", len);
    free(gz);
  }
  free(text);
}

Test(gzip, gzip_t_accepts_the_default_block_size_output) {
  size_t len = (5u << 20) + 12345, n, sys_n;
  uint8_t* text = gzh_text(len, 8);
  uint8_t* gz = gzh_compress(text, len, NULL, 0, &n, NULL);
  uint8_t* back = gzh_cmd("gzip -t", gz, n, &sys_n); /* asserts exit 0 */
  cr_assert_eq(sys_n, 0);
  free(back);
  back = gzh_cmd("gzip -dc", gz, n, &sys_n);
  gzh_assert_same(back, sys_n, text, len, "gzip -dc, default config");
  free(back);
  free(gz);
  free(text);
}

Test(gzip, bad_config_is_rejected) {
  pipe_pipeline_t* pl = th_pipeline(NULL);
  pipe_gzip_config_t bad_level = {10, 0, 0}, neg_level = {-1, 0, 0};
  pipe_gzip_config_t bad_threads = {6, -1, 0}, tiny = {6, 1, 100};
  pipe_gzip_config_t huge = {6, 1, (size_t)1 << 30};
  pipe_stage_t* s = (pipe_stage_t*)1;
  cr_assert_eq(pipe_gzip_new(pl, &bad_level, &s), PIPE_EINVAL);
  cr_assert_null(s);
  cr_assert_eq(pipe_gzip_new(pl, &neg_level, NULL), PIPE_EINVAL);
  cr_assert_eq(pipe_gzip_new(pl, &bad_threads, NULL), PIPE_EINVAL);
  cr_assert_eq(pipe_gzip_new(pl, &tiny, NULL), PIPE_EINVAL);
  cr_assert_eq(pipe_gzip_new(pl, &huge, NULL), PIPE_EINVAL);
  th_finish(pl);
}

Test(gzip, default_threads_leave_one_pool_thread_free) {
  pipe_pipeline_t* pl = th_pipeline(NULL);
  pipe_stage_t* s;
  pipe_gzip_stats_t st;
  setenv("UV_THREADPOOL_SIZE", "2", 1); /* this process only */
  cr_assert_eq(pipe_gzip_new(pl, NULL, &s), 0);
  st = pipe_gzip_stats(s);
  cr_assert_eq(st.threads, 1);
  cr_assert_eq(st.slots, 2);
  cr_assert_eq(st.block_size, PIPE_GZIP_DEFAULT_BLOCK);
  th_finish(pl); /* never run: destroy(ECANCELED) frees it all */
}

/* ---- the loop stays responsive ------------------------------------------ */

/* A 1 ms repeating timer that records the longest gap between its ticks,
 * in wall time and in CPU time of the loop thread. The CPU figure is what
 * the loop thread itself did between two ticks: it cannot be inflated by a
 * busy machine (other processes, our own workers), while the wall figure
 * can; a stage compressing on the loop thread shows a whole block's CPU
 * time (~40 ms for 1 MiB at level 9) in both. */
typedef struct {
  uv_timer_t t; /* first */
  uint64_t last, max_gap, ticks;
  uint64_t last_cpu, max_cpu_gap, max_cpu_at;
} ticker_t;

static uint64_t thread_cpu_ns(void) {
  struct timespec ts;
  clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts);
  return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

static void tick(uv_timer_t* t) {
  ticker_t* k = (ticker_t*)t;
  uint64_t now = uv_hrtime(), cpu = thread_cpu_ns();
  if (now - k->last > k->max_gap) k->max_gap = now - k->last;
  /* The first interval also holds the pipeline's start: the source's
   * first pushes and the first touch of the job slots' fresh blocks (page
   * faults, ~10 ms on a VM), paid once. It is left out of the CPU bound. */
  if (k->ticks > 0 && cpu - k->last_cpu > k->max_cpu_gap) {
    k->max_cpu_gap = cpu - k->last_cpu;
    k->max_cpu_at = k->ticks;
  }
  k->last = now;
  k->last_cpu = cpu;
  k->ticks++;
}

Test(gzip, loop_keeps_running_timers_while_blocks_compress) {
  size_t len = 24u << 20;
  uint8_t* text = gzh_text(len, 9);
  pipe_pipeline_t* pl = th_pipeline(NULL);
  pipe_gzip_config_t cfg = {9, 2, 0}; /* slowest level: longest blocks */
  ticker_t k;
  th_sink_t* snk;
  uint64_t t0, elapsed_ms;
  size_t n, back_n;
  unsigned members;
  uint8_t *gz, *back;
  memset(&k, 0, sizeof(k));
  th_source_new(pl, text, len, 65536);
  cr_assert_eq(pipe_gzip_new(pl, &cfg, NULL), 0);
  snk = th_sink_new(pl, 0, 0);
  /* Room for all the output up front, pages touched: the sink's own
   * realloc-and-copy as it grows would otherwise be measured as the loop's
   * work (under ASan, several ms for one doubling). */
  snk->got_cap = len + len / 8 + 4096;
  snk->got = malloc(snk->got_cap);
  cr_assert_not_null(snk->got);
  memset(snk->got, 0, snk->got_cap);
  cr_assert_eq(uv_timer_init(th_loop(), &k.t), 0);
  uv_timer_start(&k.t, tick, 1, 1);
  uv_unref((uv_handle_t*)&k.t); /* the run, not the timer, keeps the loop */
  t0 = uv_hrtime();
  k.last = t0;
  k.last_cpu = thread_cpu_ns();
  cr_assert_eq(th_run(pl), 0);
  elapsed_ms = (uv_hrtime() - t0) / 1000000;
  uv_close((uv_handle_t*)&k.t, NULL);
  gz = th_sink_take(snk, &n);
  th_finish(pl);
  back = zlib_gunzip(gz, n, &back_n, &members);
  gzh_assert_same(back, back_n, text, len, "24 MiB at level 9");
  cr_assert_eq(members, 1);
  cr_log_info(
      "%llu ticks in %llu ms, longest gap %llu ms wall, %llu us of "
      "loop-thread CPU (tick %llu)",
      (unsigned long long)k.ticks, (unsigned long long)elapsed_ms,
      (unsigned long long)(k.max_gap / 1000000),
      (unsigned long long)(k.max_cpu_gap / 1000),
      (unsigned long long)k.max_cpu_at);
  /* No timing claim: only that the loop thread itself never worked long
   * between two ticks, measured in its own CPU time (which the scheduler
   * and other processes do not change). Wall-clock gaps are only logged: on
   * a loaded 2-core machine a wake-up alone can be delayed by 300 ms. The
   * ticks prove the timer ran while the blocks compressed. */
  cr_assert_lt(k.max_cpu_gap, 20 * 1000000ull,
               "the loop thread worked %llu us between two ticks",
               (unsigned long long)(k.max_cpu_gap / 1000));
  cr_assert_geq(k.ticks, 2, "%llu ticks in %llu ms",
                (unsigned long long)k.ticks, (unsigned long long)elapsed_ms);
  free(back);
  free(gz);
  free(text);
}

/* ---- bounded memory under a slow sink ----------------------------------- */

Test(gzip, slow_sink_keeps_pools_and_jobs_within_limits) {
  size_t len = 40 * BS + 99;
  uint8_t* rnd = th_pattern(len, 10); /* big output buffers */
  pipe_pipeline_t* pl = th_pipeline(NULL);
  pipe_gzip_config_t cfg = {6, 2, BS};
  pipe_stage_t* gz;
  th_source_t* src;
  th_sink_t* snk;
  pipe_gzip_stats_t st;
  pipe_pool_stats_t sp;
  size_t n, back_n;
  unsigned members;
  uint8_t *out, *back;
  src = th_source_new(pl, rnd, len, 65536);
  cr_assert_eq(pipe_gzip_new(pl, &cfg, &gz), 0);
  snk = th_sink_new(pl, 2, 1); /* FULL at 2 queued, one buffer per ms */
  cr_assert_eq(th_run(pl), 0);
  st = pipe_gzip_stats(gz);
  sp = pipe_pool_stats(src->stage.pool);
  cr_assert_leq(st.max_inflight, 2, "jobs in flight %u", st.max_inflight);
  cr_assert_eq(st.slots, 3);
  cr_assert_leq(st.out_pool_peak, st.out_pool_limit);
  cr_assert_leq(st.out_pool_limit, st.slots + 1);
  cr_assert_leq(sp.peak, sp.limit);
  cr_assert_gt(src->fulls, 0, "backpressure never reached the source");
  cr_assert_leq(snk->max_qlen, 2);
  cr_assert_eq(snk->writes_while_full, 0);
  cr_assert_eq(snk->writes_after_end, 0);
  cr_assert_eq(st.blocks, 41);
  out = th_sink_take(snk, &n);
  th_finish(pl);
  back = zlib_gunzip(out, n, &back_n, &members);
  gzh_assert_same(back, back_n, rnd, len, "slow sink");
  cr_assert_eq(members, 1);
  free(back);
  free(out);
  free(rnd);
}

/* ---- teardown with jobs in flight --------------------------------------- */

Test(gzip, downstream_failure_with_jobs_in_flight_tears_down_cleanly) {
  size_t len = 16u << 20;
  uint8_t* rnd = th_pattern(len, 11);
  pipe_pipeline_t* pl = th_pipeline(NULL);
  pipe_gzip_config_t cfg = {9, 2, 0};
  th_source_t* src;
  th_fail_t* f;
  th_sink_t* snk;
  src = th_source_new(pl, rnd, len, 65536);
  cr_assert_eq(pipe_gzip_new(pl, &cfg, NULL), 0);
  f = th_fail_new(pl, 2, PIPE_EIO); /* on the second member */
  snk = th_sink_new(pl, 0, 0);
  cr_assert_eq(th_run(pl), PIPE_EIO);
  cr_assert_eq(src->counts.destroys, 1);
  cr_assert_eq(f->counts.destroys, 1);
  cr_assert_eq(snk->counts.destroys, 1);
  cr_assert_eq(snk->counts.destroy_status, PIPE_EIO);
  th_finish(pl); /* ASan: no leak, no use after free from late jobs */
  free(rnd);
}

static void abort_soon(uv_timer_t* t) {
  pipe_pipeline_abort((pipe_pipeline_t*)t->data, PIPE_ECANCELED);
  uv_close((uv_handle_t*)t, NULL);
}

Test(gzip, abort_mid_compression_waits_for_running_jobs) {
  size_t len = 32u << 20;
  uint8_t* text = gzh_text(len, 12);
  pipe_pipeline_t* pl = th_pipeline(NULL);
  pipe_gzip_config_t cfg = {9, 2, 0};
  pipe_stage_t* gz;
  th_sink_t* snk;
  uv_timer_t t;
  th_source_new(pl, text, len, 65536);
  cr_assert_eq(pipe_gzip_new(pl, &cfg, &gz), 0);
  snk = th_sink_new(pl, 0, 0);
  cr_assert_eq(uv_timer_init(th_loop(), &t), 0);
  t.data = pl;
  uv_timer_start(&t, abort_soon, 30, 0);
  cr_assert_eq(th_run(pl), PIPE_ECANCELED);
  cr_assert_eq(snk->counts.destroys, 1);
  cr_assert_lt(gz->stats.bytes_in, len / 2,
               "the run should have been cut "
               "short (%llu bytes in)",
               (unsigned long long)gz->stats.bytes_in);
  cr_assert_geq(pipe_gzip_stats(gz).max_inflight, 1);
  th_finish(pl);
  free(text);
}

Test(gzip, sink_ending_early_with_jobs_in_flight_is_success) {
  size_t len = 16u << 20;
  uint8_t* text = gzh_text(len, 13);
  pipe_pipeline_t* pl = th_pipeline(NULL);
  pipe_gzip_config_t cfg = {6, 2, BS};
  th_sink_t* snk;
  th_source_new(pl, text, len, 65536);
  cr_assert_eq(pipe_gzip_new(pl, &cfg, NULL), 0);
  snk = th_sink_new(pl, 0, 0);
  snk->stop_after = 1; /* like `pipe gzip big | head -c1` */
  cr_assert_eq(th_run(pl), 0);
  cr_assert(snk->stopped);
  th_finish(pl);
  free(text);
}

/* ---- upstream buffers are read, never changed --------------------------- */

/* A pass-through stage that keeps a reference to the first buffers it
 * forwards (as a tee would) and remembers their off/len: a consumer that
 * moved them would break "refs > 1 means read-only" for the other reader. */
#define KEEP 3
typedef struct keeper_s {
  pipe_stage_t stage; /* first */
  pipe_buf_t* kept[KEEP];
  size_t off[KEEP], len[KEEP];
  uint8_t first[KEEP];
  int n, changed;
} keeper_t;

static int keeper_write(pipe_stage_t* s, pipe_buf_t* buf) {
  keeper_t* k = (keeper_t*)s;
  if (k->n < KEEP && buf->len > 0) {
    k->kept[k->n] = pipe_buf_ref(buf);
    k->off[k->n] = buf->off;
    k->len[k->n] = buf->len;
    k->first[k->n] = pipe_buf_data(buf)[0];
    k->n++;
  }
  return pipe_stage_push(s, buf);
}

static void keeper_check(keeper_t* k) {
  int i;
  for (i = 0; i < k->n; i++) {
    if (k->kept[i]->off != k->off[i] || k->kept[i]->len != k->len[i] ||
        pipe_buf_data(k->kept[i])[0] != k->first[i])
      k->changed++;
    pipe_buf_unref(k->kept[i]);
    k->kept[i] = NULL;
  }
  k->n = 0;
}

static int keeper_end(pipe_stage_t* s) {
  keeper_check((keeper_t*)s);
  pipe_stage_end(s);
  return 0;
}

static void keeper_resume(pipe_stage_t* s) {
  pipe_stage_drain(s);
}

static void keeper_destroy(pipe_stage_t* s, int status) {
  int i;
  keeper_t* k = (keeper_t*)s;
  (void)status;
  for (i = 0; i < k->n; i++) pipe_buf_unref(k->kept[i]);
  k->n = 0;
}

static const pipe_stage_ops_t keeper_ops = {
    .name = "keeper",
    .size = sizeof(keeper_t),
    .write = keeper_write,
    .end = keeper_end,
    .resume = keeper_resume,
    .destroy = keeper_destroy,
};

Test(gzip, never_moves_the_offset_or_length_of_an_upstream_buffer) {
  size_t len = 200000, n, back_n;
  uint8_t* text = gzh_text(len, 17);
  pipe_pipeline_t* pl = th_pipeline(NULL);
  pipe_gzip_config_t cfg = {6, 2, 4096}; /* blocks smaller than a buffer */
  pipe_stage_t* ks;
  keeper_t* k;
  th_sink_t* snk;
  unsigned members;
  uint8_t *gz, *back;
  th_source_new(pl, text, len, 10000);
  cr_assert_eq(pipe_stage_new(pl, &keeper_ops, &ks), 0);
  k = (keeper_t*)ks;
  cr_assert_eq(pipe_gzip_new(pl, &cfg, NULL), 0);
  snk = th_sink_new(pl, 0, 0);
  cr_assert_eq(th_run(pl), 0);
  cr_assert_eq(k->changed, 0, "%d kept buffers were changed downstream",
               k->changed);
  gz = th_sink_take(snk, &n);
  th_finish(pl);
  back = zlib_gunzip(gz, n, &back_n, &members);
  gzh_assert_same(back, back_n, text, len, "through the keeper");
  cr_assert_eq(members, 1);
  free(back);
  free(gz);
  free(text);
}

/* ---- in a context: the shared CPU budget ----------------------------------- */

/* Two pipelines in one context with one CPU token, each gzip with 2
 * threads. Every loop iteration samples the context's tokens out. */
typedef struct {
  uv_check_t h; /* first */
  pipe_ctx_t* ctx;
  unsigned max_running;
  size_t max_queued;
} cpu_probe_t;

static void probe(uv_check_t* h) {
  cpu_probe_t* p = (cpu_probe_t*)h;
  unsigned r;
  size_t q;
  pipe_ctx_cpu_stats(p->ctx, &r, &q, NULL);
  if (r > p->max_running) p->max_running = r;
  if (q > p->max_queued) p->max_queued = q;
}

static int ctx_done_calls, ctx_status[2];

static void ctx_done(pipe_pipeline_t* pl, int status) {
  ctx_status[(int)(intptr_t)pipe_pipeline_data(pl)] = status;
  ctx_done_calls++;
}

static void abort_first(uv_timer_t* t) {
  pipe_pipeline_abort((pipe_pipeline_t*)t->data, PIPE_ECANCELED);
  uv_close((uv_handle_t*)t, NULL);
}

/* Runs two gzip pipelines (inputs a and b) in a context of budget 1;
 * abort_ms > 0 aborts the first one then. Fills the outputs of those that
 * succeeded, and the context's counters. */
static void run_two_in_ctx(const uint8_t* a, size_t alen, const uint8_t* b,
                           size_t blen, const pipe_gzip_config_t* cfg,
                           uint64_t abort_ms, uint8_t* out[2], size_t out_len[2],
                           pipe_gzip_stats_t st[2], cpu_probe_t* pr,
                           uint64_t* waited) {
  pipe_ctx_t* ctx;
  pipe_pipeline_t* pl[2];
  th_sink_t* snk[2];
  pipe_stage_t* gz[2];
  uv_timer_t t;
  size_t q;
  unsigned r;
  int i;
  cr_assert_eq(pipe_ctx_new(th_loop(), &ctx), 0);
  pipe_ctx_set_cpu_jobs(ctx, 1);
  for (i = 0; i < 2; i++) {
    cr_assert_eq(pipe_pipeline_new_in(ctx, NULL, &pl[i]), 0);
    pipe_pipeline_set_data(pl[i], (void*)(intptr_t)i);
    th_source_new(pl[i], i ? b : a, i ? blen : alen, 65536);
    cr_assert_eq(pipe_gzip_new(pl[i], cfg, &gz[i]), 0);
    snk[i] = th_sink_new(pl[i], 0, 0);
  }
  memset(pr, 0, sizeof(*pr));
  pr->ctx = ctx;
  cr_assert_eq(uv_check_init(th_loop(), &pr->h), 0);
  cr_assert_eq(uv_check_start(&pr->h, probe), 0);
  uv_unref((uv_handle_t*)&pr->h);
  if (abort_ms > 0) {
    cr_assert_eq(uv_timer_init(th_loop(), &t), 0);
    t.data = pl[0];
    uv_timer_start(&t, abort_first, abort_ms, 0);
  }
  ctx_done_calls = 0;
  for (i = 0; i < 2; i++) cr_assert_eq(pipe_pipeline_run(pl[i], ctx_done), 0);
  uv_run(th_loop(), UV_RUN_DEFAULT);
  cr_assert_eq(ctx_done_calls, 2);
  uv_close((uv_handle_t*)&pr->h, NULL);
  pipe_ctx_cpu_stats(ctx, &r, &q, waited);
  cr_assert_eq(r, 0, "every token came back");
  cr_assert_eq(q, 0, "nothing left waiting");
  for (i = 0; i < 2; i++) {
    st[i] = pipe_gzip_stats(gz[i]);
    out[i] = th_sink_take(snk[i], &out_len[i]);
  }
  pipe_ctx_close(ctx, NULL, NULL);
  pipe_pipeline_free(pl[0]);
  th_finish(pl[1]);
  pipe_ctx_free(ctx);
}

Test(gzip, in_a_context_of_one_cpu_token_two_pipelines_of_two_threads_round_trip) {
  size_t alen = 3u << 20, blen = (5u << 20) + 123;
  uint8_t* a = gzh_text(alen, 21);
  uint8_t* b = th_pattern(blen, 22);
  pipe_gzip_config_t cfg = {6, 2, BS};
  uint8_t* out[2];
  size_t out_len[2], back_len;
  pipe_gzip_stats_t st[2];
  cpu_probe_t pr;
  uint64_t waited;
  unsigned members;
  int i;
  run_two_in_ctx(a, alen, b, blen, &cfg, 0, out, out_len, st, &pr, &waited);
  for (i = 0; i < 2; i++) {
    uint8_t* back;
    cr_assert_eq(ctx_status[i], 0, "pipeline %d: %s", i, pipe_strerror(ctx_status[i]));
    back = zlib_gunzip(out[i], out_len[i], &back_len, &members);
    gzh_assert_same(back, back_len, i ? b : a, i ? blen : alen,
                    i ? "random, budget 1" : "text, budget 1");
    cr_assert_eq(members, 1);
    /* The stage's own cap is still 2 in flight: one on the pool, one
     * waiting for the token. */
    cr_assert_eq(st[i].threads, 2);
    cr_assert_eq(st[i].max_inflight, 2);
    free(back);
    free(out[i]);
  }
  cr_assert_eq(pr.max_running, 1, "one token: at most one job on the pool (%u)",
               pr.max_running);
  cr_assert_geq(pr.max_queued, 1, "jobs waited for the token");
  cr_assert_gt(waited, 0);
  free(a);
  free(b);
}

Test(gzip, abort_with_jobs_waiting_for_a_cpu_token_tears_down_cleanly) {
  size_t len = 24u << 20;
  uint8_t* a = gzh_text(len, 23);
  uint8_t* b = gzh_text(len / 8, 24);
  pipe_gzip_config_t cfg = {9, 2, 0};
  uint8_t* out[2];
  size_t out_len[2], back_len;
  pipe_gzip_stats_t st[2];
  cpu_probe_t pr;
  uint64_t waited;
  unsigned members;
  uint8_t* back;
  /* The first pipeline is aborted with jobs on the pool and in the
   * context's queue: those are cancelled (after_work_cb gets UV_ECANCELED,
   * later), the token goes on to the second pipeline, which completes.
   * ASan: no leak, no use after free. */
  run_two_in_ctx(a, len, b, len / 8, &cfg, 30, out, out_len, st, &pr, &waited);
  cr_assert_eq(ctx_status[0], PIPE_ECANCELED);
  cr_assert_eq(ctx_status[1], 0, "%s", pipe_strerror(ctx_status[1]));
  back = zlib_gunzip(out[1], out_len[1], &back_len, &members);
  gzh_assert_same(back, back_len, b, len / 8, "the pipeline left running");
  cr_assert_eq(pr.max_running, 1);
  cr_assert_geq(pr.max_queued, 1, "jobs did wait for the token");
  free(back);
  free(out[0]);
  free(out[1]);
  free(a);
  free(b);
}
