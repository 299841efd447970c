/* Error names and messages, generated from PIPE_ERRNO_MAP (libuv's scheme). */
#include "pipe/error.h"

#include <stdarg.h>
#include <stdio.h>
#include <string.h>

const char* pipe_strerror(int err) {
  switch (err) {
    case PIPE_OK: return "success";
#define XX(name, value, msg) case PIPE_##name: return msg;
    PIPE_ERRNO_MAP(XX)
#undef XX
    default: break;
  }
  /* A negated errno we have no name for: the C library knows it. */
  if (err < 0 && err > -4096) return strerror(-err);
  return "unknown error";
}

const char* pipe_err_name(int err) {
  switch (err) {
    case PIPE_OK: return "OK";
#define XX(name, value, msg) case PIPE_##name: return #name;
    PIPE_ERRNO_MAP(XX)
#undef XX
    default: return "UNKNOWN";
  }
}

int pipe_error_set(pipe_error_t* err, int code, const char* fmt, ...) {
  va_list ap;
  if (err == NULL) return code;
  err->code = code;
  va_start(ap, fmt);
  vsnprintf(err->msg, sizeof(err->msg), fmt, ap);
  va_end(ap);
  return code;
}
