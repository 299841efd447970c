/* The library context: loop, S3 configuration, the shared S3 client and
 * the CPU-job budget of its pipelines.
 *
 * The client is created lazily, at the first pipe_ctx_s3(): a context whose
 * pipelines never touch S3 opens no handle and loads no configuration. The
 * configuration is a deep copy, so the caller's strings may go at once.
 * The CPU budget (work.c) opens no handle either: closing a context that
 * never used S3 completes at once. */
#include <stdlib.h>
#include <string.h>
#include <uv.h>

#include "core/internal.h"
#include "pipe/ctx.h"
#include "pipe/s3.h"

struct pipe_ctx_s {
  uv_loop_t* loop;
  pipe_s3_config_t s3cfg;
  int has_cfg;
  pipe_s3_client_t* s3;
  size_t part_size;
  unsigned concurrency;
  pipe__cpu_t cpu; /* CPU jobs of all our pipelines (work.c) */
  int closing;
  pipe_ctx_close_cb close_cb;
  void* close_data;
};

int pipe_ctx_new(uv_loop_t* loop, pipe_ctx_t** out) {
  pipe_ctx_t* ctx = calloc(1, sizeof(*ctx));
  *out = NULL;
  if (ctx == NULL) return PIPE_ENOMEM;
  ctx->loop = loop;
  pipe__cpu_init(&ctx->cpu, loop);
  *out = ctx;
  return 0;
}

uv_loop_t* pipe_ctx_loop(const pipe_ctx_t* ctx) { return ctx->loop; }

pipe__cpu_t* pipe__ctx_cpu(pipe_ctx_t* ctx) { return &ctx->cpu; }

void pipe_ctx_set_cpu_jobs(pipe_ctx_t* ctx, unsigned n) {
  ctx->cpu.limit = n;
  pipe__cpu_dispatch(&ctx->cpu); /* a bigger budget frees waiting jobs now */
}

unsigned pipe_ctx_cpu_jobs(const pipe_ctx_t* ctx) {
  return pipe__cpu_budget(&ctx->cpu);
}

void pipe_ctx_cpu_stats(const pipe_ctx_t* ctx, unsigned* running,
                        size_t* queued, uint64_t* waited_total) {
  if (running != NULL) *running = ctx->cpu.running;
  if (queued != NULL) *queued = ctx->cpu.queued;
  if (waited_total != NULL) *waited_total = ctx->cpu.waited;
}

/* NULL stays NULL; returns -1 when malloc failed. */
static int dup_str(char** dst, const char* src) {
  *dst = NULL;
  if (src == NULL) return 0;
  *dst = strdup(src);
  return *dst == NULL ? -1 : 0;
}

int pipe_ctx_set_s3_config(pipe_ctx_t* ctx, const pipe_s3_config_t* cfg) {
  pipe_s3_config_t c;
  if (ctx->s3 != NULL) return PIPE_EBUSY;
  memset(&c, 0, sizeof(c));
  c.verify_ssl = cfg->verify_ssl;
  c.max_attempts = cfg->max_attempts;
  c.retry_timeout = cfg->retry_timeout;
  if (dup_str(&c.access_key_id, cfg->access_key_id) < 0 ||
      dup_str(&c.secret_access_key, cfg->secret_access_key) < 0 ||
      dup_str(&c.session_token, cfg->session_token) < 0 ||
      dup_str(&c.region, cfg->region) < 0 ||
      dup_str(&c.endpoint_url, cfg->endpoint_url) < 0 ||
      dup_str(&c.ca_bundle, cfg->ca_bundle) < 0 ||
      dup_str(&c.profile, cfg->profile) < 0) {
    pipe_s3_config_free(&c);
    return PIPE_ENOMEM;
  }
  if (ctx->has_cfg) pipe_s3_config_free(&ctx->s3cfg);
  ctx->s3cfg = c;
  ctx->has_cfg = 1;
  return 0;
}

void pipe_ctx_set_s3_transfer(pipe_ctx_t* ctx, size_t part_size,
                              unsigned concurrency) {
  ctx->part_size = part_size;
  ctx->concurrency = concurrency;
}

void pipe_ctx_s3_transfer(const pipe_ctx_t* ctx, size_t* part_size,
                          unsigned* concurrency) {
  if (part_size != NULL) *part_size = ctx->part_size;
  if (concurrency != NULL) *concurrency = ctx->concurrency;
}

int pipe_ctx_s3(pipe_ctx_t* ctx, pipe_s3_client_t** out, pipe_error_t* err) {
  int r;
  *out = NULL;
  if (ctx->closing) return PIPE_ECANCELED;
  if (ctx->s3 == NULL) {
    if (!ctx->has_cfg) {
      r = pipe_s3_config_load(&ctx->s3cfg, NULL, NULL, NULL, err);
      if (r < 0) return r;
      ctx->has_cfg = 1;
    }
    r = pipe_s3_client_new(ctx->loop, &ctx->s3cfg, &ctx->s3, err);
    if (r < 0) return r;
  }
  *out = ctx->s3;
  return 0;
}

static void client_closed(pipe_s3_client_t* c, void* data) {
  pipe_ctx_t* ctx = data;
  ctx->s3 = NULL;
  if (ctx->close_cb != NULL) ctx->close_cb(ctx, ctx->close_data);
}

void pipe_ctx_close(pipe_ctx_t* ctx, pipe_ctx_close_cb cb, void* data) {
  if (ctx->closing) return;
  ctx->closing = 1;
  ctx->close_cb = cb;
  ctx->close_data = data;
  pipe__cpu_close(&ctx->cpu); /* queued jobs: after(UV_ECANCELED), later */
  if (ctx->s3 != NULL) {
    pipe_s3_client_close(ctx->s3, client_closed, ctx);
    return;
  }
  if (cb != NULL) cb(ctx, data);
}

void pipe_ctx_free(pipe_ctx_t* ctx) {
  if (ctx == NULL) return;
  pipe__cpu_detach(&ctx->cpu); /* jobs left (a broken contract) outlive us */
  if (ctx->has_cfg) pipe_s3_config_free(&ctx->s3cfg);
  free(ctx);
}

int pipe_pipeline_new_in(pipe_ctx_t* ctx, const pipe_pipeline_config_t* cfg,
                         pipe_pipeline_t** out) {
  int r = pipe_pipeline_new(ctx->loop, cfg, out);
  if (r < 0) return r;
  pipe__pipeline_set_ctx(*out, ctx);
  return 0;
}
