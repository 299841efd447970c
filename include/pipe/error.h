/* pipe — error codes and the error context.
 *
 * Every function that can fail returns a negative integer, like libuv: the
 * negated errno where one exists (PIPE_ENOENT == -ENOENT), and our own codes
 * from -5000 down for conditions errno has no name for (bad CSV, bad gzip,
 * S3 errors, limits). 0 is success; PIPE_FULL (1) is the flow-control answer
 * "accepted, now stop until resumed" and never an error.
 *
 * The code says *what kind* of failure; the human detail (file, line, column,
 * byte offset, HTTP status, S3 error code) travels in a pipe_error_t beside it.
 */
#ifndef PIPE_ERROR_H
#define PIPE_ERROR_H

#include <errno.h>
#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

/* XX(name, value, message). Own codes stay stable once released. */
#define PIPE_ERRNO_MAP(XX)                                                    \
  XX(EPERM, -EPERM, "operation not permitted")                                \
  XX(ENOENT, -ENOENT, "no such file or directory")                            \
  XX(EIO, -EIO, "i/o error")                                                  \
  XX(EBADF, -EBADF, "bad file descriptor")                                    \
  XX(EAGAIN, -EAGAIN, "resource temporarily unavailable")                     \
  XX(ENOMEM, -ENOMEM, "out of memory")                                        \
  XX(EACCES, -EACCES, "permission denied")                                    \
  XX(EEXIST, -EEXIST, "file already exists")                                  \
  XX(EISDIR, -EISDIR, "is a directory")                                       \
  XX(ENOTDIR, -ENOTDIR, "not a directory")                                    \
  XX(EINVAL, -EINVAL, "invalid argument")                                     \
  XX(ENOSPC, -ENOSPC, "no space left on device")                              \
  XX(EPIPE, -EPIPE, "broken pipe")                                            \
  XX(ECANCELED, -ECANCELED, "operation canceled")                             \
  XX(EBUSY, -EBUSY, "resource busy")                                          \
  XX(ECSV, -5001, "malformed CSV")                                            \
  XX(EUTF8, -5002, "invalid UTF-8")                                           \
  XX(EFIELDS, -5003, "wrong number of fields")                                \
  XX(EGZIP, -5010, "malformed gzip data")                                     \
  XX(ETRUNC, -5011, "truncated input")                                        \
  XX(ELIMIT, -5020, "limit exceeded")                                         \
  XX(EUSAGE, -5030, "invalid usage")                                          \
  XX(EMPTRUNC, -5100, "multipart body ends before the closing boundary")      \
  XX(EMPBOUNDARY, -5101, "bad or missing multipart boundary")                 \
  XX(EMPMEDIA, -5102, "not multipart/form-data")                              \
  XX(EMPSYNTAX, -5103, "malformed multipart body")                            \
  XX(EMPNODISP, -5104, "multipart part without form-data disposition")        \
  XX(EMPNONAME, -5105, "multipart part without a name")                       \
  XX(EMPHDRSIZE, -5110, "multipart part headers too large")                   \
  XX(EMPHDRPAIRS, -5111, "too many headers in a multipart part")              \
  XX(EMPPARTS, -5112, "too many multipart parts")                             \
  XX(EMPFILES, -5113, "too many files in the multipart body")                 \
  XX(EMPFIELDS, -5114, "too many fields in the multipart body")               \
  XX(EMPFIELDSIZE, -5115, "multipart field value too large")                  \
  XX(EMPFILESIZE, -5116, "multipart file too large")

enum {
  PIPE_OK = 0,  /* done / keep going */
  PIPE_FULL = 1, /* accepted, stop until resumed (Node's write() === false) */
#define XX(name, value, msg) PIPE_##name = (value),
  PIPE_ERRNO_MAP(XX)
#undef XX
  PIPE_EMAX_ = -5999
};

/** Human-readable message for an error code ("malformed CSV"). Never NULL. */
const char* pipe_strerror(int err);
/** Symbolic name for an error code ("ECSV"). Never NULL. */
const char* pipe_err_name(int err);

/** Where and why a run failed: filled by the stage that failed first.
 *  Fields that do not apply are 0 / empty. */
typedef struct pipe_error_s {
  int code;            /* PIPE_E*, 0 when no error */
  char stage[32];      /* name of the stage that failed ("csv2json") */
  char msg[512];       /* complete sentence for the user, without "error:" */
  uint64_t line;       /* 1-based input line, 0 if not applicable */
  uint64_t column;     /* 1-based field (CSV) or byte column, 0 if n/a */
  uint64_t record;     /* 1-based record number, 0 if n/a */
  uint64_t offset;     /* byte offset into the stage's input, if known */
  int has_offset;      /* offset is meaningful (it may legitimately be 0) */
} pipe_error_t;

/** Fills err with code and a printf-style message. Returns code. */
int pipe_error_set(pipe_error_t* err, int code, const char* fmt, ...)
#if defined(__GNUC__)
    __attribute__((format(printf, 3, 4)))
#endif
    ;

#ifdef __cplusplus
}
#endif
#endif /* PIPE_ERROR_H */
