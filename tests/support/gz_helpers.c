/* Test helpers for gzip/gunzip (see gz_helpers.h). */
#include "gz_helpers.h"

#include <criterion/criterion.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

uint8_t* gzh_compress(const void* data, size_t len,
                      const pipe_gzip_config_t* cfg, size_t chunk,
                      size_t* out_len, pipe_gzip_stats_t* st) {
  pipe_pipeline_t* pl = th_pipeline(NULL);
  pipe_stage_t* gz = NULL;
  th_sink_t* snk;
  uint8_t* out;
  int status;
  th_source_new(pl, data, len, chunk ? chunk : 65536);
  cr_assert_eq(pipe_gzip_new(pl, cfg, &gz), 0);
  snk = th_sink_new(pl, 0, 0);
  status = th_run(pl);
  cr_assert_eq(status, 0, "gzip run failed: %s (%s)", pipe_strerror(status),
               pipe_pipeline_error(pl)->msg);
  cr_assert_eq(snk->writes_while_full + snk->writes_after_end, 0);
  if (st != NULL) *st = pipe_gzip_stats(gz);
  out = th_sink_take(snk, out_len);
  th_finish(pl);
  if (out == NULL) out = malloc(1);
  return out;
}

/* Pushes pool buffers filled from the pattern until done, downstream is
 * full or the pool is empty (as th_source does). */
static void repeat_pump(gzh_repeat_t* m) {
  pipe_stage_t* s = &m->stage;
  while (!pipe_stage_stopping(s) && !s->blocked && m->pos < m->total) {
    pipe_buf_t* b = pipe_pool_acquire(s->pool); /* ours until pushed */
    size_t room;
    if (b == NULL) {
      pipe_stage_wait_pool(s, s->pool); /* resume() continues */
      return;
    }
    room = pipe_buf_room(b);
    if ((uint64_t)room > m->total - m->pos) room = (size_t)(m->total - m->pos);
    while (room > 0) {
      size_t at = (size_t)(m->pos % m->plen), n = m->plen - at;
      if (n > room) n = room;
      memcpy(pipe_buf_tail(b), m->pattern + at, n);
      b->len += n;
      m->pos += n;
      room -= n;
    }
    if (pipe_stage_push(s, b) < 0) return; /* gives b away */
  }
  if (m->pos == m->total && !pipe_stage_stopping(s)) pipe_stage_end(s);
}

static int repeat_start(pipe_stage_t* s) {
  repeat_pump((gzh_repeat_t*)s);
  return 0;
}

static void repeat_resume(pipe_stage_t* s) {
  repeat_pump((gzh_repeat_t*)s);
}

static const pipe_stage_ops_t repeat_ops = {
    .name = "gzh_repeat",
    .size = sizeof(gzh_repeat_t),
    .start = repeat_start,
    .resume = repeat_resume,
};

gzh_repeat_t* gzh_repeat_new(pipe_pipeline_t* pl, const uint8_t* pattern,
                             size_t plen, uint64_t total) {
  pipe_stage_t* s;
  gzh_repeat_t* m;
  cr_assert_gt(plen, 0);
  cr_assert_eq(pipe_stage_new(pl, &repeat_ops, &s), 0);
  m = (gzh_repeat_t*)s;
  m->pattern = pattern;
  m->plen = plen;
  m->total = total;
  return m;
}

gzh_result_t gzh_gunzip(const void* gz, size_t len, size_t chunk) {
  gzh_result_t r;
  pipe_pipeline_t* pl = th_pipeline(NULL);
  th_sink_t* snk;
  memset(&r, 0, sizeof(r));
  th_source_new(pl, gz, len, chunk ? chunk : 65536);
  cr_assert_eq(pipe_gunzip_new(pl, NULL), 0);
  snk = th_sink_new(pl, 0, 0);
  r.status = th_run(pl);
  r.err = *pipe_pipeline_error(pl);
  cr_assert_eq(snk->writes_while_full + snk->writes_after_end, 0);
  r.out = th_sink_take(snk, &r.out_len);
  th_finish(pl);
  return r;
}

uint8_t* gzh_cmd(const char* cmd, const void* in, size_t len, size_t* out_len) {
  char* dir = th_tmpdir();
  char* inp = th_path(dir, "in");
  char* outp = th_path(dir, "out");
  size_t n = strlen(cmd) + strlen(inp) + strlen(outp) + 32;
  char* line = malloc(n);
  uint8_t* out;
  int rc;
  cr_assert_not_null(line);
  th_write_file(inp, in, len);
  snprintf(line, n, "(%s) < '%s' > '%s'", cmd, inp, outp);
  rc = system(line);
  cr_assert(rc != -1 && WIFEXITED(rc) && WEXITSTATUS(rc) == 0,
            "command failed (status %d): %s", rc, cmd);
  out = th_read_file(outp, out_len);
  cr_assert_not_null(out);
  unlink(inp);
  unlink(outp);
  rmdir(dir);
  free(line);
  free(inp);
  free(outp);
  free(dir);
  return out;
}

int gzh_have(const char* prog) {
  char line[256];
  snprintf(line, sizeof(line), "command -v %s >/dev/null 2>&1", prog);
  return system(line) == 0;
}

uint8_t* gzh_text(size_t n, uint32_t seed) {
  static const char* words[] = {"order",   "shipped", "Vienna", "card",
                                "stock",   "red",     "gift",   "warranty",
                                "address", "claim",   "bank",   "discount"};
  uint8_t* p = malloc(n ? n : 1);
  uint32_t x = seed * 2654435761u + 7;
  size_t i = 0;
  unsigned rec = 0;
  cr_assert_not_null(p);
  while (i < n) {
    char line[256];
    int k, w = 0;
    x ^= x << 13;
    x ^= x >> 17;
    x ^= x << 5;
    k = snprintf(line, sizeof(line),
                 "{\"id\":\"%u\",\"price\":\"%u.%02u\",\"qty\":\"%u\","
                 "\"text\":\"",
                 ++rec, x % 20000, x % 100, (x >> 8) % 50);
    for (w = 0; w < 6; w++) {
      x ^= x << 13;
      x ^= x >> 17;
      x ^= x << 5;
      k += snprintf(line + k, sizeof(line) - (size_t)k, "%s%s", w ? " " : "",
                    words[x % 12]);
    }
    k += snprintf(line + k, sizeof(line) - (size_t)k, "\"}\n");
    if ((size_t)k > n - i) k = (int)(n - i);
    memcpy(p + i, line, (size_t)k);
    i += (size_t)k;
  }
  return p;
}

void gzh_assert_same(const uint8_t* a, size_t alen, const uint8_t* b,
                     size_t blen, const char* what) {
  size_t i, n = alen < blen ? alen : blen;
  for (i = 0; i < n && a[i] == b[i]; i++) {
  }
  cr_assert(alen == blen && i == n,
            "%s: lengths %zu vs %zu, first difference at byte %zu", what, alen,
            blen, i);
}
