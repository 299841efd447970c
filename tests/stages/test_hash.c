/* The hash stage: digests equal to sha256sum / md5sum / OpenSSL one-shot,
 * whatever the buffer split; the same buffer goes on (no copy); PIPE_FULL
 * and drains pass straight through; empty input has the empty digest. */
#include <criterion/criterion.h>
#include <openssl/evp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "codec/crc32c.h"
#include "support/harness.h"

TestSuite(hash, .init = th_loop_init, .fini = th_loop_fini);

#define SHA256_EMPTY \
  "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"
#define MD5_EMPTY "d41d8cd98f00b204e9800998ecf8427e"

/* Runs `data` through source -> hash(algo) -> sink in chunks of `chunk`;
 * returns the hex digest (malloc'd) and checks the bytes arrived intact. */
static char* digest_via_stage(const void* data, size_t len, size_t chunk,
                              pipe_hash_algo_t algo) {
  pipe_pipeline_t* pl = th_pipeline(NULL);
  pipe_stage_t* h = NULL;
  th_sink_t* snk;
  char* hex;
  th_source_new(pl, data, len, chunk);
  cr_assert_eq(pipe_hash_new(pl, algo, &h), 0);
  snk = th_sink_new(pl, 0, 0);
  cr_assert_eq(th_run(pl), 0);
  cr_assert_eq(snk->got_len, len);
  cr_assert(len == 0 || memcmp(snk->got, data, len) == 0);
  cr_assert_not_null(pipe_hash_hex(h));
  hex = strdup(pipe_hash_hex(h));
  th_finish(pl);
  return hex;
}

static void expect_digest(const void* data, size_t len, size_t chunk,
                          pipe_hash_algo_t algo, const char* want) {
  char* got = digest_via_stage(data, len, chunk, algo);
  cr_expect_str_eq(got, want, "%s of %zu bytes in chunks of %zu",
                   pipe_hash_algo_name(algo), len, chunk);
  free(got);
}

static void hex_of(const uint8_t* d, size_t n, char* out) {
  size_t i;
  for (i = 0; i < n; i++) snprintf(out + 2 * i, 3, "%02x", d[i]);
}

/* OpenSSL's one-shot digest: the oracle for multi-buffer input. */
static void one_shot(const EVP_MD* md, const void* data, size_t len,
                     char* out) {
  uint8_t d[EVP_MAX_MD_SIZE];
  unsigned n = 0;
  cr_assert_eq(EVP_Digest(data, len, d, &n, md, NULL), 1);
  hex_of(d, n, out);
}

/* ---- names --------------------------------------------------------------- */

Test(hash, algo_names_parse_and_print) {
  pipe_hash_algo_t a = 0;
  cr_assert_eq(pipe_hash_algo_parse("sha256", &a), 0);
  cr_assert_eq(a, PIPE_HASH_SHA256);
  cr_assert_eq(pipe_hash_algo_parse("md5", &a), 0);
  cr_assert_eq(a, PIPE_HASH_MD5);
  cr_assert_eq(pipe_hash_algo_parse("CRC32C", &a), 0);
  cr_assert_eq(a, PIPE_HASH_CRC32C);
  cr_assert_eq(pipe_hash_algo_parse("sha1", &a), PIPE_EINVAL);
  cr_assert_eq(pipe_hash_algo_parse("", &a), PIPE_EINVAL);
  cr_assert_eq(pipe_hash_algo_parse(NULL, &a), PIPE_EINVAL);
  cr_assert_str_eq(pipe_hash_algo_name(PIPE_HASH_SHA256), "sha256");
  cr_assert_str_eq(pipe_hash_algo_name(PIPE_HASH_MD5), "md5");
  cr_assert_str_eq(pipe_hash_algo_name(PIPE_HASH_CRC32C), "crc32c");
  cr_assert_null(pipe_hash_algo_name((pipe_hash_algo_t)0));
  cr_assert_null(pipe_hash_algo_name((pipe_hash_algo_t)99));
}

Test(hash, new_refuses_an_unknown_algorithm) {
  pipe_pipeline_t* pl = th_pipeline(NULL);
  pipe_stage_t* s = (pipe_stage_t*)1;
  cr_assert_eq(pipe_hash_new(pl, (pipe_hash_algo_t)42, &s), PIPE_EINVAL);
  cr_assert_null(s);
  cr_assert_null(pipe_pipeline_first(pl), "nothing was added");
  th_finish(pl);
}

/* ---- known vectors ------------------------------------------------------- */

Test(hash, empty_input_has_the_empty_digests) {
  expect_digest("", 0, 1, PIPE_HASH_SHA256, SHA256_EMPTY);
  expect_digest("", 0, 1, PIPE_HASH_MD5, MD5_EMPTY);
  expect_digest("", 0, 1, PIPE_HASH_CRC32C, "00000000");
}

Test(hash, known_vectors_match) {
  expect_digest(
      "abc", 3, 64, PIPE_HASH_SHA256,
      "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");
  expect_digest("abc", 3, 1, PIPE_HASH_MD5, "900150983cd24fb0d6963f7d28e17f72");
  expect_digest("123456789", 9, 2, PIPE_HASH_CRC32C, "e3069283");
  /* RFC 3720 B.4: 32 zero bytes. */
  {
    uint8_t z[32] = {0};
    expect_digest(z, sizeof(z), 5, PIPE_HASH_CRC32C, "8a9136aa");
  }
}

/* ---- multi-buffer -------------------------------------------------------- */

Test(hash, multi_buffer_input_matches_openssl_one_shot) {
  size_t n = 3 * 1024 * 1024 + 17;
  uint8_t* data = th_pattern(n, 11);
  size_t chunks[] = {1000, 65536, 4093};
  char want_sha[65], want_md5[33], want_crc[9];
  size_t i;
  one_shot(EVP_sha256(), data, n, want_sha);
  one_shot(EVP_md5(), data, n, want_md5);
  snprintf(want_crc, sizeof(want_crc), "%08x",
           (unsigned)pipe__crc32c_sw(0, data, n));
  for (i = 0; i < sizeof(chunks) / sizeof(*chunks); i++) {
    expect_digest(data, n, chunks[i], PIPE_HASH_SHA256, want_sha);
    expect_digest(data, n, chunks[i], PIPE_HASH_MD5, want_md5);
    expect_digest(data, n, chunks[i], PIPE_HASH_CRC32C, want_crc);
  }
  free(data);
}

/* The coreutils tools, when the machine has them: the digest a user will
 * compare ours with. Reads the first word of `tool path`. */
static int tool_digest(const char* tool, const char* path, char* out,
                       size_t cap) {
  char cmd[512];
  FILE* f;
  int ok;
  snprintf(cmd, sizeof(cmd), "%s '%s' 2>/dev/null", tool, path);
  f = popen(cmd, "r");
  if (f == NULL) return -1;
  ok = fscanf(f, "%127s", out) == 1 && strlen(out) < cap;
  return pclose(f) == 0 && ok ? 0 : -1;
}

Test(hash, file_digests_match_sha256sum_and_md5sum) {
  size_t n = 1024 * 1024 + 333;
  uint8_t* data = th_pattern(n, 99);
  char* dir = th_tmpdir();
  char* path = th_path(dir, "in.bin");
  char want[128];
  char* got;
  th_write_file(path, data, n);
  if (tool_digest("sha256sum", path, want, sizeof(want)) == 0) {
    got = digest_via_stage(data, n, 65536, PIPE_HASH_SHA256);
    cr_expect_str_eq(got, want, "sha256sum");
    free(got);
  } else {
    cr_log_warn("sha256sum not found: not compared");
  }
  if (tool_digest("md5sum", path, want, sizeof(want)) == 0) {
    got = digest_via_stage(data, n, 65536, PIPE_HASH_MD5);
    cr_expect_str_eq(got, want, "md5sum");
    free(got);
  } else {
    cr_log_warn("md5sum not found: not compared");
  }
  unlink(path);
  rmdir(dir);
  free(path);
  free(dir);
  free(data);
}

/* ---- pass-through: no copy ----------------------------------------------- */

/* Records the address of every buffer that passes (a probe before the hash
 * stage) or arrives (the sink after it). */
typedef struct rec_s {
  pipe_stage_t stage; /* first */
  const pipe_buf_t* seen[256];
  const uint8_t* data[256];
  size_t n;
} rec_t;

static void rec_note(rec_t* r, const pipe_buf_t* b) {
  cr_assert_lt(r->n, 256);
  r->seen[r->n] = b;
  r->data[r->n] = pipe_buf_data(b);
  r->n++;
}

static int probe_write(pipe_stage_t* s, pipe_buf_t* b) {
  rec_note((rec_t*)s, b);
  return pipe_stage_push(s, b);
}
static int probe_end(pipe_stage_t* s) {
  pipe_stage_end(s);
  return 0;
}
static void probe_resume(pipe_stage_t* s) {
  pipe_stage_drain(s);
}
static const pipe_stage_ops_t probe_ops = {
    .name = "probe",
    .size = sizeof(rec_t),
    .write = probe_write,
    .end = probe_end,
    .resume = probe_resume,
};

static int rsink_write(pipe_stage_t* s, pipe_buf_t* b) {
  rec_note((rec_t*)s, b);
  pipe_buf_unref(b);
  return PIPE_OK;
}
static int rsink_end(pipe_stage_t* s) {
  pipe_stage_end(s);
  return 0;
}
static const pipe_stage_ops_t rsink_ops = {
    .name = "rsink",
    .size = sizeof(rec_t),
    .write = rsink_write,
    .end = rsink_end,
};

Test(hash, forwards_the_same_buffer_without_copying) {
  size_t n = 40 * 1000;
  uint8_t* data = th_pattern(n, 1);
  pipe_pipeline_t* pl = th_pipeline(NULL);
  pipe_stage_t *probe, *h, *sink;
  rec_t *before, *after;
  size_t i;
  th_source_new(pl, data, n, 1000);
  cr_assert_eq(pipe_stage_new(pl, &probe_ops, &probe), 0);
  cr_assert_eq(pipe_hash_new(pl, PIPE_HASH_SHA256, &h), 0);
  cr_assert_eq(pipe_stage_new(pl, &rsink_ops, &sink), 0);
  cr_assert_eq(th_run(pl), 0);
  before = (rec_t*)probe;
  after = (rec_t*)sink;
  cr_assert_eq(before->n, 40);
  cr_assert_eq(after->n, before->n);
  for (i = 0; i < before->n; i++) {
    cr_assert_eq(after->seen[i], before->seen[i], "buffer %zu was replaced", i);
    cr_assert_eq(after->data[i], before->data[i], "buffer %zu moved", i);
  }
  cr_assert_eq(pipe_pool_stats(h->pool).acquires, 0,
               "the hash stage took no buffer of its own");
  cr_assert_eq(h->stats.bytes_in, n);
  cr_assert_eq(h->stats.bytes_out, n);
  th_finish(pl);
  free(data);
}

/* ---- flow ---------------------------------------------------------------- */

Test(hash, backpressure_passes_through_to_the_source) {
  size_t n = 2 * 1024 * 1024;
  uint8_t* data = th_pattern(n, 4);
  pipe_pipeline_config_t cfg = {.buf_size = 16 * 1024, .pool_limit = 4};
  pipe_pipeline_t* pl = th_pipeline(&cfg);
  th_source_t* src = th_source_new(pl, data, n, 16 * 1024);
  pipe_stage_t* h = NULL;
  th_sink_t* snk;
  char want[65];
  pipe_pool_stats_t ps;
  cr_assert_eq(pipe_hash_new(pl, PIPE_HASH_SHA256, &h), 0);
  snk = th_sink_new(pl, 2, 1); /* FULL at 2 queued, one buffer per ms */
  cr_assert_eq(th_run(pl), 0);

  cr_assert_gt(src->fulls, 0, "the source saw PIPE_FULL through hash");
  cr_assert_gt(snk->fulls, 0);
  cr_assert_gt(snk->drains, 0);
  cr_assert_eq(snk->writes_while_full, 0, "hash wrote while the sink was full");
  cr_assert_eq(snk->writes_after_end, 0);
  cr_assert_leq(snk->max_qlen, 2);
  ps = pipe_pool_stats(src->stage.pool);
  cr_assert_leq(ps.peak, cfg.pool_limit, "source pool peak %zu > limit",
                ps.peak);
  cr_assert_gt(h->stats.waits, 0, "hash was blocked by the sink");
  cr_assert_eq(snk->got_len, n);
  cr_assert(memcmp(snk->got, data, n) == 0);
  one_shot(EVP_sha256(), data, n, want);
  cr_assert_str_eq(pipe_hash_hex(h), want);
  th_finish(pl);
  free(data);
}

Test(hash, a_failure_downstream_tears_down_without_a_digest) {
  size_t n = 100 * 1000;
  uint8_t* data = th_pattern(n, 8);
  pipe_pipeline_t* pl = th_pipeline(NULL);
  th_source_t* src = th_source_new(pl, data, n, 1000);
  pipe_stage_t* h = NULL;
  th_fail_t* f;
  th_sink_t* snk;
  cr_assert_eq(pipe_hash_new(pl, PIPE_HASH_MD5, &h), 0);
  f = th_fail_new(pl, 5, PIPE_EIO);
  snk = th_sink_new(pl, 0, 0);
  cr_assert_eq(th_run(pl), PIPE_EIO);
  cr_assert_null(pipe_hash_hex(h), "no digest for a run that never ended");
  cr_assert_eq(src->counts.destroys, 1);
  cr_assert_eq(f->counts.destroys, 1);
  cr_assert_eq(snk->counts.destroys, 1);
  cr_assert_str_eq(pipe_pipeline_error(pl)->stage, "th_fail");
  th_finish(pl);
  free(data);
}

Test(hash, hex_is_null_before_the_end_and_for_other_stages) {
  pipe_pipeline_t* pl = th_pipeline(NULL);
  th_source_t* src = th_source_new(pl, "x", 1, 1);
  pipe_stage_t* h = NULL;
  cr_assert_eq(pipe_hash_new(pl, PIPE_HASH_CRC32C, &h), 0);
  th_sink_new(pl, 0, 0);
  cr_assert_null(pipe_hash_hex(h));
  cr_assert_null(pipe_hash_hex(&src->stage));
  cr_assert_null(pipe_hash_hex(NULL));
  cr_assert_eq(pipe_hash_algo(h), PIPE_HASH_CRC32C);
  cr_assert_eq(pipe_hash_algo(&src->stage), 0);
  cr_assert_eq(th_run(pl), 0);
  {
    char want[9];
    snprintf(want, sizeof(want), "%08x", (unsigned)pipe__crc32c_sw(0, "x", 1));
    cr_assert_str_eq(pipe_hash_hex(h), want);
  }
  th_finish(pl);
}
