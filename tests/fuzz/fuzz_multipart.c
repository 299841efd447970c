/* libFuzzer target for the multipart/form-data parser
 * (src/codec/multipart.c).
 *
 * Input layout: byte 0 = options (bits 0-1 boundary: 0 = the body's first
 * line after "--", 1 "AaB03x", 2 "-", 3 "b d"; bits 2-4 a limits profile;
 * bit 5 pause at every event in the cut run), bytes 1-2 = seed for the cut
 * point and the random pieces; the rest is the body.
 *
 * The body is parsed twice: in one feed, and cut at a fuzzer-chosen point
 * and then into random pieces of 1..97 bytes (optionally pausing at every
 * event). Both runs must give the same events (data concatenated per part),
 * the same final status and the same error offset. The callbacks check the
 * event grammar (begin, data*, end; end once; nothing after an error) and the
 * part fields; feed must never over-consume or pause unasked. The whole input
 * also goes through pipe__mp_boundary_parse, whose answer must be a valid
 * boundary that pipe__mp_new accepts. Any disagreement or sanitizer report is
 * a bug. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "codec/multipart.h"

#include "fuzz_util.h"

typedef struct {
  fz_buf_t ev;
  int inpart, ended, pause;
  uint64_t psize;
} fz_rec_t;

static void fz_u64(fz_buf_t* b, uint64_t v) { fz_add(b, &v, sizeof(v)); }

static int fz_begin(void* ud, const pipe_mp_part_t* p) {
  fz_rec_t* r = ud;
  size_t i;
  if (r->inpart || r->ended) __builtin_trap();
  if (p->name == NULL || p->name[p->name_len] != '\0') __builtin_trap();
  if (memchr(p->name, 0, p->name_len) != NULL) __builtin_trap();
  if (p->is_file != (p->filename != NULL)) __builtin_trap();
  if (p->filename && p->filename[p->filename_len] != '\0') __builtin_trap();
  r->inpart = 1;
  r->psize = 0;
  fz_add(&r->ev, "B", 1);
  fz_u64(&r->ev, p->index);
  fz_u64(&r->ev, p->name_len);
  fz_add(&r->ev, p->name, p->name_len);
  fz_u64(&r->ev, p->filename ? p->filename_len : UINT64_MAX);
  if (p->filename) fz_add(&r->ev, p->filename, p->filename_len);
  fz_u64(&r->ev, p->content_type ? p->content_type_len : UINT64_MAX);
  if (p->content_type) fz_add(&r->ev, p->content_type, p->content_type_len);
  fz_u64(&r->ev, p->nheaders);
  for (i = 0; i < p->nheaders; i++) {
    fz_u64(&r->ev, p->headers[i].name_len);
    fz_add(&r->ev, p->headers[i].name, p->headers[i].name_len);
    fz_u64(&r->ev, p->headers[i].value_len);
    fz_add(&r->ev, p->headers[i].value, p->headers[i].value_len);
  }
  return r->pause;
}

static int fz_data(void* ud, const uint8_t* d, size_t n) {
  fz_rec_t* r = ud;
  if (!r->inpart || n == 0) __builtin_trap();
  fz_add(&r->ev, d, n); /* concatenated: the cut changes slices, not bytes */
  r->psize += n;
  return r->pause;
}

static int fz_part_end(void* ud) {
  fz_rec_t* r = ud;
  if (!r->inpart) __builtin_trap();
  r->inpart = 0;
  fz_add(&r->ev, "E", 1);
  fz_u64(&r->ev, r->psize);
  return r->pause;
}

static int fz_end(void* ud) {
  fz_rec_t* r = ud;
  if (r->inpart || r->ended) __builtin_trap();
  r->ended = 1;
  fz_add(&r->ev, "Z", 1);
  return r->pause;
}

static const pipe_mp_callbacks_t fz_cb = {fz_begin, fz_data, fz_part_end,
                                          fz_end};

/* Parses body[0,n); cut == SIZE_MAX means one piece. */
static void fz_parse(const char* b, size_t bl, const pipe_mp_config_t* cfg,
                     const uint8_t* body, size_t n, size_t cut, uint64_t seed,
                     int pause, fz_rec_t* r) {
  pipe_mp_t* mp;
  size_t start = 0;
  int rc = 0;
  memset(r, 0, sizeof(*r));
  r->pause = pause;
  if (pipe__mp_new(b, bl, cfg, &fz_cb, r, &mp) != 0) __builtin_trap();
  while (start < n && rc >= 0) {
    size_t end = n;
    if (cut != SIZE_MAX) {
      if (start < cut)
        end = cut;
      else
        end = start + 1 + fz_rand(&seed) % (n - start < 97 ? n - start : 97);
    }
    while (start < end) {
      size_t used = SIZE_MAX;
      size_t before = r->ev.len;
      /* An exact-size copy: ASan sees a read past the piece. */
      uint8_t* piece = malloc(end - start);
      if (piece == NULL) __builtin_trap();
      memcpy(piece, body + start, end - start);
      rc = pipe__mp_feed(mp, piece, end - start, &used);
      free(piece);
      if (used > end - start) __builtin_trap();
      start += used;
      if (rc < 0) break;
      if (rc == PIPE_OK && start != end) __builtin_trap();
      if (rc == PIPE_FULL && !pause) __builtin_trap();
      if (rc == PIPE_FULL && used == 0 && r->ev.len == before) __builtin_trap();
      if (rc != PIPE_OK && rc != PIPE_FULL) __builtin_trap();
    }
  }
  if (rc >= 0) rc = pipe__mp_finish(mp);
  if (rc == 0 && !r->ended) __builtin_trap();
  if (rc == 0 && !pipe__mp_done(mp)) __builtin_trap();
  fz_add(&r->ev, "R", 1);
  fz_u64(&r->ev, (uint64_t)(int64_t)rc);
  if (rc < 0) {
    const pipe_error_t* e = pipe__mp_error(mp);
    size_t used = 0;
    if (e->code != rc || !e->has_offset || e->offset > n) __builtin_trap();
    fz_u64(&r->ev, e->offset);
    if (pipe__mp_feed(mp, body, n, &used) != rc || used != 0) __builtin_trap();
  }
  pipe__mp_free(mp);
}

static void fz_limits(int profile, pipe_mp_config_t* c) {
  pipe__mp_config_init(c);
  switch (profile) {
    case 1: c->max_header_size = 64; break;
    case 2: c->max_header_pairs = 2; break;
    case 3: c->max_parts = 2; break;
    case 4: c->max_files = 1; c->max_fields = 1; break;
    case 5: c->max_field_size = 3; c->max_file_size = 5; break;
    case 6: c->max_files = 0; c->max_header_size = 200; break;
    default: break;
  }
}

int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  static const char* fixed[4] = {"AaB03x", "AaB03x", "-", "b d"};
  char bound[PIPE_MP_BOUNDARY_MAX + 1];
  const char* b;
  size_t bl, cut;
  pipe_mp_config_t cfg;
  fz_rec_t one, cutrun;
  uint64_t seed;
  int opt, rc;

  /* The whole input as a Content-Type value. */
  rc = pipe__mp_boundary_parse((const char*)data, size, bound, &bl);
  if (rc == 0) {
    pipe_mp_t* mp;
    if (bl == 0 || bl > PIPE_MP_BOUNDARY_MAX || bound[bl] != '\0') __builtin_trap();
    if (pipe__mp_new(bound, bl, NULL, &fz_cb, NULL, &mp) != 0) __builtin_trap();
    pipe__mp_free(mp);
  } else if (rc != PIPE_EMPBOUNDARY && rc != PIPE_EMPMEDIA) {
    __builtin_trap();
  } else if (bl != 0 || bound[0] != '\0') {
    __builtin_trap();
  }

  if (size < 3) return 0;
  opt = data[0];
  seed = ((uint64_t)data[1] << 8 | data[2]) + 1;
  data += 3;
  size -= 3;
  b = fixed[opt & 3];
  bl = strlen(b);
  if ((opt & 3) == 0 && size > 2 && data[0] == '-' && data[1] == '-') {
    size_t e = 2;
    pipe_mp_t* mp;
    while (e < size && e < 2 + PIPE_MP_BOUNDARY_MAX + 1 && data[e] != '\r') e++;
    if (pipe__mp_new((const char*)data + 2, e - 2, NULL, &fz_cb, NULL, &mp) == 0) {
      memcpy(bound, data + 2, e - 2);
      bound[e - 2] = '\0';
      b = bound;
      bl = e - 2;
      pipe__mp_free(mp);
    }
  }
  fz_limits((opt >> 2) & 7, &cfg);
  cut = size ? (size_t)(fz_rand(&seed) % (size + 1)) : 0;
  fz_parse(b, bl, &cfg, data, size, SIZE_MAX, 0, 0, &one);
  fz_parse(b, bl, &cfg, data, size, cut, seed, (opt >> 5) & 1, &cutrun);
  if (one.ev.len != cutrun.ev.len) __builtin_trap();
  if (one.ev.len && memcmp(one.ev.p, cutrun.ev.p, one.ev.len) != 0) __builtin_trap();
  free(one.ev.p);
  free(cutrun.ev.p);
  return 0;
}
