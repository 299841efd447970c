/* pipe cp SRC DST: copies between files, standard streams and S3.
 *
 *   pipe cp big.csv s3://bucket/big.csv       upload (multipart past 8 MiB)
 *   pipe cp s3://bucket/big.csv copy.csv      download (ranged, in parallel)
 *   producer | pipe cp - s3://bucket/stream   upload a stream of unknown size
 *   pipe cp s3://bucket/k -                   download to standard output
 *
 * Only assembles the pipeline: source (file, stdin or S3), an optional
 * hash stage (--checksum), sink (file, stdout or S3); cli_run does the
 * rest (progress, signals, errors, exit codes). */
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>

#include "cli.h"

static int is_s3(const char* s) { return strncmp(s, "s3://", 5) == 0; }
static int is_std(const char* s) { return strcmp(s, "-") == 0; }

int cli_cp_command(const cli_command_t* cmd, int argc, char** argv) {
  cli_common_t c = {NULL, NULL, NULL, -1, NULL};
  cli_s3_t o;
  const char* src = NULL;
  const char* dst = NULL;
  uv_loop_t loop;
  pipe_ctx_t* ctx = NULL;
  pipe_pipeline_t* pl = NULL;
  pipe_error_t err;
  int i, r, rc;
  memset(&o, 0, sizeof(o));
  for (i = 1; i < argc; i++) {
    const char* a = argv[i];
    int m;
    if (strcmp(a, "-h") == 0 || strcmp(a, "--help") == 0) {
      printf("%s", cmd->usage);
      return CLI_EXIT_OK;
    }
    if (strcmp(a, "--progress") == 0) { c.progress = 1; continue; }
    if (strcmp(a, "--no-progress") == 0) { c.progress = 0; continue; }
    if (strcmp(a, "--checksum") == 0 || strncmp(a, "--checksum=", 11) == 0) {
      if (a[10] == '=') c.checksum = a + 11;
      else if (++i < argc) c.checksum = argv[i];
      else return cli_usage_error("cp", "option '--checksum' needs a value");
      if (pipe_hash_algo_parse(c.checksum, NULL) < 0)
        return cli_usage_error("cp", "unknown checksum '%s': use sha256, md5 or crc32c",
                               c.checksum);
      continue;
    }
    m = cli_s3_option("cp", argc, argv, &i, &o);
    if (m < 0) return CLI_EXIT_USAGE;
    if (m > 0) continue;
    if (strcmp(a, "--") == 0) {
      for (i++; i < argc; i++) {
        if (src == NULL) src = argv[i];
        else if (dst == NULL) dst = argv[i];
        else return cli_usage_error("cp", "unexpected argument '%s'", argv[i]);
      }
      break;
    }
    if (a[0] == '-' && a[1] != '\0') return cli_usage_error("cp", "unknown option '%s'", a);
    if (src == NULL) src = a;
    else if (dst == NULL) dst = a;
    else return cli_usage_error("cp", "unexpected argument '%s'", a);
  }
  if (src == NULL || dst == NULL)
    return cli_usage_error("cp", "usage: pipe cp SRC DST (a path, '-' or s3://bucket/key)");
  if (src[0] == '\0' || dst[0] == '\0')
    return cli_usage_error("cp", "empty path");
  if (is_s3(src) && is_s3(dst) && strcmp(src, dst) == 0)
    return cli_usage_error("cp", "%s is both source and destination", src);
  c.input = src;
  c.output = dst;

  uv_loop_init(&loop);
  if (is_s3(src) || is_s3(dst)) {
    rc = cli_s3_ctx(&loop, &o, &ctx);
    if (rc != 0) {
      uv_loop_close(&loop);
      return rc;
    }
    c.ctx = ctx;
    r = pipe_pipeline_new_in(ctx, NULL, &pl);
  } else {
    r = pipe_pipeline_new(&loop, NULL, &pl);
  }
  memset(&err, 0, sizeof(err));
  if (r < 0) goto fail;
  if (is_s3(src)) {
    pipe_s3_source_config_t sc;
    memset(&sc, 0, sizeof(sc));
    sc.url = src;
    sc.part_size = o.part_size;
    sc.concurrency = o.concurrency;
    r = pipe_s3_source_new(pl, &sc, NULL, &err);
  } else if (is_std(src)) {
    r = pipe_stdin_source_new(pl, NULL);
  } else {
    pipe_file_source_config_t fc = {src};
    r = pipe_file_source_new(pl, &fc, NULL);
  }
  if (r < 0) goto fail;
  /* An S3 upload hashes what it stores itself (the receipt's SHA-256): a
   * hash stage is only needed for another algorithm or destination. */
  if (c.checksum != NULL && !(is_s3(dst) && strcasecmp(c.checksum, "sha256") == 0)) {
    pipe_hash_algo_t algo;
    pipe_hash_algo_parse(c.checksum, &algo);
    r = pipe_hash_new(pl, algo, NULL);
    if (r < 0) goto fail;
  }
  if (is_s3(dst)) {
    pipe_s3_sink_config_t kc;
    struct stat st;
    memset(&kc, 0, sizeof(kc));
    kc.url = dst;
    kc.part_size = o.part_size;
    kc.concurrency = o.concurrency;
    kc.size = -1;
    if (!is_s3(src) && !is_std(src) && stat(src, &st) == 0 && S_ISREG(st.st_mode)) {
      kc.size = st.st_size;
      /* A regular file: parts are read from it when sent (no part buffers).
       * PIPE_S3_COPY_PARTS=1 forces the copying path (tests, comparison). */
      if (getenv("PIPE_S3_COPY_PARTS") == NULL) kc.reread_path = src;
    }
    r = pipe_s3_sink_new(pl, &kc, NULL, &err);
  } else if (is_std(dst)) {
    r = pipe_stdout_sink_new(pl, NULL);
  } else {
    pipe_file_sink_config_t fc = {.path = dst, .fsync = 1};
    r = pipe_file_sink_new(pl, &fc, NULL);
  }
  if (r < 0) goto fail;
  rc = cli_run(&loop, pl, &c);
  cli_s3_ctx_free(&loop, ctx);
  uv_loop_close(&loop);
  return rc;

fail:
  if (err.msg[0] != '\0') fprintf(stderr, "pipe: cp: %s\n", err.msg);
  else fprintf(stderr, "pipe: cp: cannot set up the copy: %s\n", pipe_strerror(r));
  pipe_pipeline_free(pl);
  uv_run(&loop, UV_RUN_DEFAULT);
  cli_s3_ctx_free(&loop, ctx);
  uv_loop_close(&loop);
  return r == PIPE_EUSAGE ? CLI_EXIT_USAGE : cli_exit_code(r);
}
