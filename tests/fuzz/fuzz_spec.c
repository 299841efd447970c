/* libFuzzer target for the pipeline spec parser (src/spec/spec.c).
 *
 * The input (at most 4096 bytes) is the spec, NUL-terminated (an embedded
 * NUL just ends it early). A parse that succeeds is walked (count, stage
 * names, source, sink) and freed; a parse that fails must honour the
 * contract of include/pipe/spec.h: PIPE_EUSAGE, *out NULL, err->code set,
 * and when has_offset, offset <= strlen(spec) and column >= 1 — then the
 * error is rendered with pipe_spec_format_error. Nothing is built (no I/O).
 * Any broken contract traps; sanitizer reports are bugs too. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "pipe/error.h"
#include "pipe/spec.h"

int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size);

static void fz_walk(const pipe_spec_t* spec) {
  size_t n = pipe_spec_count(spec), i;
  const char* src = pipe_spec_source(spec);
  const char* sink = pipe_spec_sink(spec);
  if (n < 2) __builtin_trap();
  if (src == NULL || sink == NULL) __builtin_trap();
  (void)strlen(src);
  (void)strlen(sink);
  for (i = 0; i < n; i++) {
    const char* name = pipe_spec_stage_name(spec, i);
    if (name == NULL || name[0] == '\0') __builtin_trap();
  }
  if (pipe_spec_stage_name(spec, n) != NULL) __builtin_trap();
}

static void fz_check_error(const char* s, int rc, const pipe_error_t* err) {
  static char out[8192];
  size_t len = strlen(s);
  int n;
  if (rc != PIPE_EUSAGE || err->code != PIPE_EUSAGE) __builtin_trap();
  if (err->msg[0] == '\0') __builtin_trap();
  if (err->has_offset) {
    if (err->offset > len) __builtin_trap();
    if (err->column < 1 || err->column > len + 1) __builtin_trap();
  }
  n = pipe_spec_format_error(s, err, out, sizeof(out));
  if (memchr(out, '\0', sizeof(out)) == NULL) __builtin_trap();
  if (err->has_offset) {
    size_t olen = strlen(out);
    if (n < 0) __builtin_trap();
    if ((size_t)n < sizeof(out) ? olen != (size_t)n
                                : olen != sizeof(out) - 1)
      __builtin_trap();
  } else if (n >= 0 || out[0] != '\0') {
    __builtin_trap();
  }
}

int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  char* s;
  pipe_spec_t* spec = NULL;
  pipe_error_t err;
  int rc;
  if (size > 4096) return -1; /* not added to the corpus */
  s = malloc(size + 1);
  if (s == NULL) return 0;
  if (size) memcpy(s, data, size);
  s[size] = '\0';
  memset(&err, 0, sizeof(err));
  rc = pipe_spec_parse(s, &spec, &err);
  if (rc == 0) {
    if (spec == NULL) __builtin_trap();
    fz_walk(spec);
    pipe_spec_free(spec);
  } else {
    if (spec != NULL) __builtin_trap();
    fz_check_error(s, rc, &err);
  }
  free(s);
  return 0;
}
