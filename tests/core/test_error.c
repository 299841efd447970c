/* Error names and messages: every error the library can return — its own
 * codes and whatever libuv hands a stage — has a name and a message. */
#include <criterion/criterion.h>
#include <errno.h>
#include <string.h>
#include <uv.h>

#include "pipe/error.h"

Test(error, every_libuv_error_has_its_libuv_name_and_a_message) {
  /* UV_ERRNO_MAP is libuv's own list: a stage passes any of these on from
   * uv_fs_*, uv_write, uv_read_start... (EAI_*: getaddrinfo, which the
   * library never calls through libuv; UNKNOWN: not an error code). */
  int missing = 0;
#define XX(name, msg)                                                       \
  if (strncmp(#name, "EAI_", 4) != 0 && strcmp(#name, "UNKNOWN") != 0) {    \
    const char* n = pipe_err_name(UV_##name);                               \
    if (strcmp(n, #name) != 0) {                                            \
      cr_log_error("%s (%d): pipe_err_name says %s", #name, UV_##name, n);  \
      missing++;                                                            \
    }                                                                       \
    cr_expect_str_neq(pipe_strerror(UV_##name), "unknown error", "%s",      \
                      #name);                                               \
  }
  UV_ERRNO_MAP(XX)
#undef XX
  cr_assert_eq(missing, 0, "%d libuv errors without a name", missing);
}

Test(error, errnos_a_file_or_socket_stage_returns_are_named) {
  static const struct { int code; const char* name; } want[] = {
      {-ENAMETOOLONG, "ENAMETOOLONG"}, {-EMFILE, "EMFILE"},
      {-ENFILE, "ENFILE"},             {-ECONNRESET, "ECONNRESET"},
      {-ETIMEDOUT, "ETIMEDOUT"},       {-ECONNREFUSED, "ECONNREFUSED"},
      {-EPIPE, "EPIPE"},               {-ENOTDIR, "ENOTDIR"},
      {-EISDIR, "EISDIR"},             {-EROFS, "EROFS"},
      {-EXDEV, "EXDEV"},               {-EFBIG, "EFBIG"},
      {-EDQUOT, "EDQUOT"},             {-ELOOP, "ELOOP"},
      {-ENXIO, "ENXIO"},               {-EINTR, "EINTR"},
      {-ENOSPC, "ENOSPC"},             {-ENOTEMPTY, "ENOTEMPTY"},
  };
  size_t i;
  for (i = 0; i < sizeof(want) / sizeof(want[0]); i++) {
    cr_expect_str_eq(pipe_err_name(want[i].code), want[i].name);
    cr_expect_str_neq(pipe_strerror(want[i].code), "unknown error", "%s",
                      want[i].name);
  }
}

Test(error, own_codes_have_names_and_an_unknown_code_is_said_to_be_so) {
  cr_assert_str_eq(pipe_err_name(PIPE_ECSV), "ECSV");
  cr_assert_str_eq(pipe_strerror(PIPE_ECSV), "malformed CSV");
  cr_assert_str_eq(pipe_err_name(PIPE_EUSAGE), "EUSAGE");
  cr_assert_str_eq(pipe_err_name(0), "OK");
  cr_assert_str_eq(pipe_err_name(-5555), "UNKNOWN");
  cr_assert_str_eq(pipe_strerror(-5555), "unknown error");
}
