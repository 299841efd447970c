/* S3 pieces of the CLI: the shared S3 options, the context, the upload
 * receipt, and `pipe s3 ls` / `pipe s3 cleanup`. */
#include <ctype.h>
#include <stdlib.h>
#include <string.h>

#include "cli.h"

/* --name VALUE or --name=VALUE at argv[*i]: *val, moving *i past it.
 * Returns 1 matched, 0 not this option, -1 value missing (printed). */
static int opt_val(const char* cmd, int argc, char** argv, int* i, const char* name,
                   const char** val) {
  const char* a = argv[*i];
  size_t n = strlen(name);
  if (strncmp(a, name, n) != 0) return 0;
  if (a[n] == '=') {
    *val = a + n + 1;
    return 1;
  }
  if (a[n] != '\0') return 0;
  if (*i + 1 >= argc) {
    cli_usage_error(cmd, "option '%s' needs a value", name);
    return -1;
  }
  *val = argv[++*i];
  return 1;
}

/* "8M", "5242880", "16MiB" -> bytes. Returns 0 or -1. */
static int parse_bytes(const char* s, uint64_t* out) {
  char* end;
  unsigned long long v;
  uint64_t mul = 1;
  if (!isdigit((unsigned char)s[0])) return -1;
  v = strtoull(s, &end, 10);
  switch (toupper((unsigned char)*end)) {
    case 'K': mul = 1024; end++; break;
    case 'M': mul = 1024 * 1024; end++; break;
    case 'G': mul = 1024ull * 1024 * 1024; end++; break;
    default: break;
  }
  if (mul > 1 && (strcmp(end, "iB") == 0 || strcmp(end, "ib") == 0 ||
                  strcmp(end, "B") == 0))
    end += strlen(end);
  if (*end != '\0') return -1;
  *out = (uint64_t)v * mul;
  return 0;
}

int cli_s3_option(const char* cmd, int argc, char** argv, int* i, cli_s3_t* o) {
  const char* v = NULL;
  int m;
  if (strcmp(argv[*i], "--no-verify-ssl") == 0) {
    o->opt.no_verify_ssl = 1;
    return 1;
  }
#define STR_OPT(name, field)                                 \
  m = opt_val(cmd, argc, argv, i, name, &v);                 \
  if (m != 0) {                                              \
    if (m > 0) o->opt.field = v;                             \
    return m;                                                \
  }
  STR_OPT("--endpoint-url", endpoint_url)
  STR_OPT("--region", region)
  STR_OPT("--profile", profile)
  STR_OPT("--ca-bundle", ca_bundle)
#undef STR_OPT
  m = opt_val(cmd, argc, argv, i, "--max-attempts", &v);
  if (m != 0) {
    char* end;
    long n;
    if (m < 0) return -1;
    n = strtol(v, &end, 10);
    if (*end != '\0' || n < 1 || n > 1000) {
      cli_usage_error(cmd, "--max-attempts must be 1..1000, got '%s'", v);
      return -1;
    }
    o->opt.max_attempts = (int)n;
    return 1;
  }
  m = opt_val(cmd, argc, argv, i, "--retry-timeout", &v);
  if (m != 0) {
    char* end;
    double d;
    if (m < 0) return -1;
    d = strtod(v, &end);
    if (*end != '\0' || !(d > 0) || d > 86400 * 7) {
      cli_usage_error(cmd, "--retry-timeout must be seconds > 0, got '%s'", v);
      return -1;
    }
    o->opt.retry_timeout = d;
    return 1;
  }
  m = opt_val(cmd, argc, argv, i, "--part-size", &v);
  if (m != 0) {
    uint64_t b;
    if (m < 0) return -1;
    if (parse_bytes(v, &b) < 0 || b < PIPE_S3_MIN_PART_SIZE || b > PIPE_S3_MAX_PART_SIZE) {
      cli_usage_error(cmd, "--part-size must be 5M..5G, got '%s'", v);
      return -1;
    }
    o->part_size = (size_t)b;
    return 1;
  }
  m = opt_val(cmd, argc, argv, i, "--concurrency", &v);
  if (m != 0) {
    char* end;
    long n;
    if (m < 0) return -1;
    n = strtol(v, &end, 10);
    if (*end != '\0' || n < 1 || n > 64) {
      cli_usage_error(cmd, "--concurrency must be 1..64, got '%s'", v);
      return -1;
    }
    o->concurrency = (unsigned)n;
    return 1;
  }
  return 0;
}

int cli_s3_ctx(uv_loop_t* loop, const cli_s3_t* o, pipe_ctx_t** out) {
  pipe_s3_config_t cfg;
  pipe_error_t err;
  pipe_ctx_t* ctx;
  int r;
  *out = NULL;
  memset(&err, 0, sizeof(err));
  memset(&cfg, 0, sizeof(cfg));
  if (pipe_ctx_new(loop, &ctx) < 0) return CLI_EXIT_IO;
  cli_ctx_cpu_budget(ctx);
  r = pipe_s3_config_load(&cfg, &o->opt, NULL, NULL, &err);
  if (r < 0) {
    fprintf(stderr, "pipe: %s\n", err.msg[0] ? err.msg : pipe_strerror(r));
    pipe_ctx_free(ctx);
    return r == PIPE_EUSAGE ? CLI_EXIT_USAGE : CLI_EXIT_IO;
  }
  r = pipe_ctx_set_s3_config(ctx, &cfg);
  pipe_s3_config_free(&cfg);
  if (r < 0) {
    pipe_ctx_free(ctx);
    return CLI_EXIT_IO;
  }
  pipe_ctx_set_s3_transfer(ctx, o->part_size, o->concurrency);
  *out = ctx;
  return 0;
}

void cli_s3_ctx_free(uv_loop_t* loop, pipe_ctx_t* ctx) {
  if (ctx == NULL) return;
  pipe_ctx_close(ctx, NULL, NULL);
  uv_run(loop, UV_RUN_DEFAULT);
  pipe_ctx_free(ctx);
}

/* The file name a download of the key would get (its last segment), for
 * a receipt line `sha256sum -c` can check next to that download. */
static const char* base_name(const char* key) {
  const char* s = strrchr(key, '/');
  return s && s[1] ? s + 1 : key;
}

void cli_s3_after_run(pipe_pipeline_t* pl, int status) {
  pipe_stage_t* s;
  const pipe_s3_receipt_t* rc;
  for (s = pipe_pipeline_first(pl); s != NULL && s->next != NULL; s = s->next) continue;
  rc = pipe_s3_sink_receipt(s);
  if (rc == NULL) return;
  if (status == 0) {
    /* The receipt: what was stored, in sha256sum --tag form (so the line
     * checks a download of the object with `sha256sum -c`). */
    fprintf(stderr, "pipe: stored %llu bytes, ETag \"%s\"", (unsigned long long)rc->bytes,
            rc->etag);
    if (rc->parts > 0) fprintf(stderr, " (%u parts)", rc->parts);
    fputc('\n', stderr);
    fprintf(stderr, "SHA256 (%s) = %s\n", base_name(pipe_s3_sink_key(s)), rc->sha256);
    return;
  }
  if (rc->leftover_upload[0] != '\0') {
    fprintf(stderr,
            "pipe: the multipart upload %s could not be aborted (%s); remove it "
            "with 'pipe s3 cleanup s3://%s/%s'\n",
            rc->leftover_upload, rc->abort_error, pipe_s3_sink_bucket(s),
            pipe_s3_sink_key(s));
  } else if (rc->upload_id[0] != '\0') {
    fprintf(stderr, "pipe: the multipart upload %s was aborted\n", rc->upload_id);
  }
}

/* ---- pipe s3 ls / cleanup ------------------------------------------------- */

typedef struct s3run_s {
  int status;
  pipe_error_t err;
  uint64_t count, aborted, kept;
  const char* bucket;
  pipe_ctx_t* ctx;
} s3run_t;

static void ls_entry(void* data, const pipe_s3_entry_t* e) {
  s3run_t* r = data;
  char when[20] = "";
  /* 2026-12-02T19:00:00.000Z -> 2026-12-02 19:00:00, as aws s3 ls. */
  if (strlen(e->last_modified) >= 19) {
    memcpy(when, e->last_modified, 19);
    when[10] = ' ';
    when[19] = '\0';
  }
  printf("%s %10llu %s\n", when, (unsigned long long)e->size, e->key);
  r->count++;
}

static void cleanup_entry(void* data, const pipe_s3_entry_t* e) {
  s3run_t* r = data;
  if (e->aborted) {
    printf("aborted %s s3://%s/%s (initiated %s)\n", e->upload_id, r->bucket, e->key,
           e->initiated);
    r->aborted++;
  } else {
    printf("kept    %s s3://%s/%s (initiated %s)\n", e->upload_id, r->bucket, e->key,
           e->initiated);
    r->kept++;
  }
}

static void op_done(void* data, int status, const pipe_error_t* err) {
  s3run_t* r = data;
  r->status = status;
  if (err != NULL) r->err = *err;
  pipe_ctx_close(r->ctx, NULL, NULL); /* nothing more to do: let uv_run return */
}

/* "90", "30s", "10m", "2h", "7d" -> seconds. */
static int parse_duration(const char* s, double* out) {
  char* end;
  double v = strtod(s, &end);
  if (end == s || v < 0) return -1;
  if (*end == 's' || *end == '\0') {
  } else if (*end == 'm') {
    v *= 60;
  } else if (*end == 'h') {
    v *= 3600;
  } else if (*end == 'd') {
    v *= 86400;
  } else {
    return -1;
  }
  if (*end != '\0' && end[1] != '\0') return -1;
  *out = v;
  return 0;
}

int cli_s3_command(const cli_command_t* cmd, int argc, char** argv) {
  cli_s3_t o;
  const char* sub;
  const char* url = NULL;
  const char* prefix;
  char bucket[256];
  double older = 0;
  uv_loop_t loop;
  pipe_ctx_t* ctx;
  pipe_s3_client_t* c;
  s3run_t run;
  pipe_error_t err;
  int i, r, rc;
  memset(&o, 0, sizeof(o));
  if (argc < 2 || strcmp(argv[1], "-h") == 0 || strcmp(argv[1], "--help") == 0) {
    printf("%s", cmd->usage);
    return argc < 2 ? CLI_EXIT_USAGE : CLI_EXIT_OK;
  }
  sub = argv[1];
  if (strcmp(sub, "ls") != 0 && strcmp(sub, "cleanup") != 0)
    return cli_usage_error("s3", "unknown s3 command '%s' (ls or cleanup)", sub);
  for (i = 2; i < argc; i++) {
    const char* v;
    int m = cli_s3_option("s3", argc, argv, &i, &o);
    if (m < 0) return CLI_EXIT_USAGE;
    if (m > 0) continue;
    if (strcmp(sub, "cleanup") == 0 &&
        (m = opt_val("s3", argc, argv, &i, "--older-than", &v)) != 0) {
      if (m < 0) return CLI_EXIT_USAGE;
      if (parse_duration(v, &older) < 0)
        return cli_usage_error("s3", "--older-than wants a duration such as 90s, "
                                     "30m, 2h or 7d, got '%s'", v);
      continue;
    }
    if (argv[i][0] == '-' && argv[i][1] != '\0')
      return cli_usage_error("s3", "unknown option '%s'", argv[i]);
    if (url != NULL) return cli_usage_error("s3", "unexpected argument '%s'", argv[i]);
    url = argv[i];
  }
  if (url == NULL || pipe_s3_url_parse(url, bucket, sizeof(bucket), &prefix, 1) < 0)
    return cli_usage_error("s3", "%s wants s3://bucket[/prefix]", sub);
  uv_loop_init(&loop);
  rc = cli_s3_ctx(&loop, &o, &ctx);
  if (rc != 0) {
    uv_loop_close(&loop);
    return rc;
  }
  memset(&err, 0, sizeof(err));
  memset(&run, 0, sizeof(run));
  run.bucket = bucket;
  run.ctx = ctx;
  r = pipe_ctx_s3(ctx, &c, &err);
  if (r >= 0) {
    if (strcmp(sub, "ls") == 0)
      r = pipe_s3_list(c, bucket, prefix, ls_entry, op_done, &run);
    else
      r = pipe_s3_cleanup(c, bucket, prefix, older, cleanup_entry, op_done, &run);
    if (r >= 0) {
      uv_run(&loop, UV_RUN_DEFAULT); /* until the op is done: then only idle handles */
      r = run.status;
      err = run.err;
    }
  }
  cli_s3_ctx_free(&loop, ctx);
  uv_loop_close(&loop);
  if (r < 0) {
    fprintf(stderr, "pipe: %s\n", err.msg[0] ? err.msg : pipe_strerror(r));
    return cli_exit_code(r);
  }
  if (strcmp(sub, "cleanup") == 0)
    fprintf(stderr, "pipe: %llu upload%s aborted, %llu kept\n",
            (unsigned long long)run.aborted, run.aborted == 1 ? "" : "s",
            (unsigned long long)run.kept);
  return CLI_EXIT_OK;
}
