/* The S3 sink and source as library stages, against Swift
 * (tests/support/swift.h): stage-owned pools and their bound, flow control
 * both ways, the context's one client shared by two pipelines. */
#include <criterion/criterion.h>
#include <string.h>

#include "codec/sigv4.h"
#include "support/harness.h"
#include "support/swift.h"

TestSuite(s3_stages, .init = th_loop_init, .fini = th_loop_fini, .timeout = 180);

#define MIB (1024 * 1024)

static pipe_ctx_t* make_ctx(const swift_t* sw) {
  pipe_ctx_t* ctx;
  pipe_s3_config_t cfg;
  memset(&cfg, 0, sizeof(cfg));
  cfg.access_key_id = SWIFT_ACCESS_KEY;
  cfg.secret_access_key = SWIFT_SECRET_KEY;
  cfg.region = SWIFT_REGION;
  cfg.endpoint_url = (char*)sw->endpoint;
  cfg.verify_ssl = 1;
  cfg.max_attempts = 3;
  cfg.retry_timeout = 30;
  cr_assert_eq(pipe_ctx_new(th_loop(), &ctx), 0);
  cr_assert_eq(pipe_ctx_set_s3_config(ctx, &cfg), 0);
  return ctx;
}

static void close_ctx(pipe_ctx_t* ctx) {
  pipe_ctx_close(ctx, NULL, NULL);
  uv_run(th_loop(), UV_RUN_DEFAULT);
  pipe_ctx_free(ctx);
}

static size_t pool_bytes_peak(const pipe_stage_t* s) {
  size_t i, total = 0;
  pipe_pool_t* p;
  for (i = 0; (p = pipe_stage_pool_at(s, i)) != NULL; i++) {
    pipe_pool_stats_t st = pipe_pool_stats(p);
    total += st.peak * st.size;
  }
  return total;
}

/* gzip's output pool is about 1 MiB, a part 5 MiB: a sink that held gzip's
 * buffers while a part fills would deadlock. The sink copies into its own
 * pool instead: the run ends, every pool stays within its limit, and the
 * sum of what all pools held stays within part x (concurrency + 1) + 16 MiB. */
Test(s3_stages, gzip_into_s3_never_stalls_on_pool_chunks_and_stays_in_bound) {
  swift_t sw;
  pipe_ctx_t* ctx;
  pipe_pipeline_t* pl;
  pipe_stage_t* gz;
  pipe_stage_t* sink;
  pipe_error_t err;
  pipe_s3_sink_config_t kc;
  pipe_gzip_config_t gc;
  const pipe_s3_receipt_t* rc;
  pipe_pool_stats_t own;
  size_t len = 24 * MIB, total = 0;
  uint8_t* data = th_pattern(len, 3);
  pipe_stage_t* s;
  swift_start(&sw, NULL);
  ctx = make_ctx(&sw);
  cr_assert_eq(pipe_pipeline_new_in(ctx, NULL, &pl), 0);
  cr_assert_eq(pipe_pipeline_ctx(pl), ctx);
  th_source_new(pl, data, len, 64 * 1024);
  memset(&gc, 0, sizeof(gc));
  gc.level = 1;
  cr_assert_eq(pipe_gzip_new(pl, &gc, &gz), 0);
  memset(&kc, 0, sizeof(kc));
  kc.url = "s3://test/gz";
  kc.part_size = 5 * MIB;
  kc.concurrency = 2;
  kc.size = -1;
  memset(&err, 0, sizeof(err));
  cr_assert_eq(pipe_s3_sink_new(pl, &kc, &sink, &err), 0, "%s", err.msg);
  cr_assert_eq(th_run(pl), 0, "%s", pipe_pipeline_error(pl)->msg);
  rc = pipe_s3_sink_receipt(sink);
  cr_assert_not_null(rc);
  cr_expect_gt(rc->parts, 1, "multipart: %u parts", rc->parts);
  cr_expect(strchr(rc->etag, '-') != NULL, "%s", rc->etag);
  /* The sink's own pool: part-size chunks, at most concurrency + 1. */
  cr_assert_not_null(pipe_stage_pool_at(sink, 1), "the part pool is visible");
  own = pipe_pool_stats(pipe_stage_pool_at(sink, 1));
  cr_expect_eq(own.size, 5 * MIB);
  cr_expect_eq(own.limit, 3);
  cr_expect_leq(own.peak, 3);
  cr_expect_eq(own.out, 0, "every part buffer came back");
  cr_expect_eq(pipe_pool_stats(gz->pool).out, 0, "the sink holds no gzip buffer");
  for (s = pipe_pipeline_first(pl); s != NULL; s = s->next) total += pool_bytes_peak(s);
  cr_expect_leq(total, 5 * MIB * 3 + 16 * MIB, "pools held %zu bytes at most", total);
  close_ctx(ctx); /* its client's handles, then the loop must close */
  th_finish(pl);
  free(data);
  swift_stop(&sw);
}

/* A slow sink pauses the download: one streaming GET (concurrency 1) into
 * a sink that answers FULL after one buffer; the bytes arrive whole. Then
 * ranged GETs (concurrency 3, 1 MiB ranges) into the same slow sink. Both
 * pipelines share the context's one client. */
Test(s3_stages, a_slow_sink_pauses_the_download_and_the_bytes_arrive_in_order) {
  swift_t sw;
  pipe_ctx_t* ctx;
  pipe_s3_client_t* c1;
  pipe_s3_client_t* c2;
  size_t len = 6 * MIB + 5, got_len, mode;
  uint8_t* data = th_pattern(len, 11);
  char* tmp = cli_tmpdir();
  char path[512], args[1024];
  cli_result_t r;
  swift_start(&sw, NULL);
  snprintf(path, sizeof(path), "%s/obj", tmp);
  cr_assert_eq(cli_write_file(path, data, len), 0);
  snprintf(args, sizeof(args), "s3 cp %s s3://test/obj", path);
  r = swift_aws(&sw, args, NULL);
  cr_assert_eq(r.status, 0, "%s", r.err);
  cli_result_free(&r);
  ctx = make_ctx(&sw);
  cr_assert_eq(pipe_ctx_s3(ctx, &c1, NULL), 0);
  cr_assert_eq(pipe_ctx_s3(ctx, &c2, NULL), 0);
  cr_expect_eq(c1, c2, "one client per context");
  for (mode = 0; mode < 2; mode++) {
    pipe_pipeline_t* pl;
    pipe_stage_t* src;
    th_sink_t* k;
    uint8_t* got;
    pipe_s3_source_config_t sc;
    pipe_error_t err;
    cr_assert_eq(pipe_pipeline_new_in(ctx, NULL, &pl), 0);
    memset(&sc, 0, sizeof(sc));
    sc.url = "s3://test/obj";
    sc.concurrency = mode == 0 ? 1 : 3;
    sc.part_size = MIB;
    memset(&err, 0, sizeof(err));
    cr_assert_eq(pipe_s3_source_new(pl, &sc, &src, &err), 0, "%s", err.msg);
    k = th_sink_new(pl, 1, 1);
    cr_assert_eq(th_run(pl), 0, "%s", pipe_pipeline_error(pl)->msg);
    cr_expect_eq(pipe_s3_source_size(src), (int64_t)len);
    got = th_sink_take(k, &got_len);
    cr_assert_eq(got_len, len, "mode %zu", mode);
    cr_expect(memcmp(got, data, len) == 0, "mode %zu: same bytes in order", mode);
    cr_expect_gt(src->stats.waits, 0, "mode %zu: the source waited", mode);
    free(got);
    pipe_pipeline_free(pl);
  }
  close_ctx(ctx);
  free(data);
  cli_rmtree(tmp);
  free(tmp);
  swift_stop(&sw);
}
