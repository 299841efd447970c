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

#include "pipe/export.h"

#include <errno.h>
#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

/* XX(name, value, message). Own codes stay stable once released.
 * Every error libuv can hand the library (UV_ERRNO_MAP, getaddrinfo's
 * EAI_* aside: the library resolves no names through libuv) has an entry
 * with libuv's name and message, so pipe_err_name()/pipe_strerror() name
 * whatever a stage passes on; tests/core/test_error.c checks it against
 * uv.h. EOF, ECHARSET and EFTYPE are libuv's own values (no errno). */
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
  XX(E2BIG, -E2BIG, "argument list too long")                                 \
  XX(EADDRINUSE, -EADDRINUSE, "address already in use")                       \
  XX(EADDRNOTAVAIL, -EADDRNOTAVAIL, "address not available")                  \
  XX(EAFNOSUPPORT, -EAFNOSUPPORT, "address family not supported")             \
  XX(EALREADY, -EALREADY, "connection already in progress")                   \
  XX(ECONNABORTED, -ECONNABORTED, "software caused connection abort")         \
  XX(ECONNREFUSED, -ECONNREFUSED, "connection refused")                       \
  XX(ECONNRESET, -ECONNRESET, "connection reset by peer")                     \
  XX(EDESTADDRREQ, -EDESTADDRREQ, "destination address required")             \
  XX(EDQUOT, -EDQUOT, "disk quota exceeded")                                  \
  XX(EFAULT, -EFAULT, "bad address in system call argument")                  \
  XX(EFBIG, -EFBIG, "file too large")                                         \
  XX(EHOSTDOWN, -EHOSTDOWN, "host is down")                                   \
  XX(EHOSTUNREACH, -EHOSTUNREACH, "host is unreachable")                      \
  XX(EILSEQ, -EILSEQ, "illegal byte sequence")                                \
  XX(EINTR, -EINTR, "interrupted system call")                                \
  XX(EISCONN, -EISCONN, "socket is already connected")                        \
  XX(ELOOP, -ELOOP, "too many symbolic links encountered")                    \
  XX(EMFILE, -EMFILE, "too many open files")                                  \
  XX(EMLINK, -EMLINK, "too many links")                                       \
  XX(EMSGSIZE, -EMSGSIZE, "message too long")                                 \
  XX(ENAMETOOLONG, -ENAMETOOLONG, "name too long")                            \
  XX(ENETDOWN, -ENETDOWN, "network is down")                                  \
  XX(ENETUNREACH, -ENETUNREACH, "network is unreachable")                     \
  XX(ENFILE, -ENFILE, "file table overflow")                                  \
  XX(ENOBUFS, -ENOBUFS, "no buffer space available")                          \
  XX(ENODEV, -ENODEV, "no such device")                                       \
  XX(ENONET, -ENONET, "machine is not on the network")                        \
  XX(ENOPROTOOPT, -ENOPROTOOPT, "protocol not available")                     \
  XX(ENOSYS, -ENOSYS, "function not implemented")                             \
  XX(ENOTCONN, -ENOTCONN, "socket is not connected")                          \
  XX(ENOTEMPTY, -ENOTEMPTY, "directory not empty")                            \
  XX(ENOTSOCK, -ENOTSOCK, "socket operation on non-socket")                   \
  XX(ENOTSUP, -ENOTSUP, "operation not supported")                            \
  XX(ENOTTY, -ENOTTY, "inappropriate ioctl for device")                       \
  XX(ENXIO, -ENXIO, "no such device or address")                              \
  XX(EOVERFLOW, -EOVERFLOW, "value too large for defined data type")          \
  XX(EPROTO, -EPROTO, "protocol error")                                       \
  XX(EPROTONOSUPPORT, -EPROTONOSUPPORT, "protocol not supported")             \
  XX(EPROTOTYPE, -EPROTOTYPE, "protocol wrong type for socket")               \
  XX(ERANGE, -ERANGE, "result too large")                                     \
  XX(EREMOTEIO, -EREMOTEIO, "remote I/O error")                               \
  XX(EROFS, -EROFS, "read-only file system")                                  \
  XX(ESHUTDOWN, -ESHUTDOWN, "cannot send after transport endpoint shutdown")  \
  XX(ESOCKTNOSUPPORT, -ESOCKTNOSUPPORT, "socket type not supported")          \
  XX(ESPIPE, -ESPIPE, "invalid seek")                                         \
  XX(ESRCH, -ESRCH, "no such process")                                        \
  XX(ETIMEDOUT, -ETIMEDOUT, "connection timed out")                           \
  XX(ETXTBSY, -ETXTBSY, "text file is busy")                                  \
  XX(EXDEV, -EXDEV, "cross-device link not permitted")                        \
  XX(EOF, -4095, "end of file")                                               \
  XX(ECHARSET, -4080, "invalid Unicode character")                            \
  XX(EFTYPE, -4028, "inappropriate file type or format")                      \
  XX(ECSV, -5001, "malformed CSV")                                            \
  XX(EUTF8, -5002, "invalid UTF-8")                                           \
  XX(EFIELDS, -5003, "wrong number of fields")                                \
  XX(EGZIP, -5010, "malformed gzip data")                                     \
  XX(ETRUNC, -5011, "truncated input")                                        \
  XX(ELIMIT, -5020, "limit exceeded")                                         \
  XX(EUSAGE, -5030, "invalid usage")                                          \
  XX(ES3, -5040, "S3 request failed")                                         \
  XX(ENOCREDS, -5041, "no S3 credentials")                                    \
  XX(ENET, -5042, "network error")                                            \
  XX(EINTEGRITY, -5043, "stored data does not match what was sent")           \
  XX(ES3NOTFOUND, -5044, "no such S3 bucket or key")                          \
  XX(ES3DENIED, -5045, "S3 access denied")                                    \
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
  XX(EMPFILESIZE, -5116, "multipart file too large")                          \
  XX(EHTTP, -5200, "malformed HTTP request")                                  \
  XX(ECLOSED, -5202, "client closed the connection")

enum {
  PIPE_OK = 0,  /* done / keep going */
  PIPE_FULL = 1, /* accepted, stop until resumed (Node's write() === false) */
#define XX(name, value, msg) PIPE_##name = (value),
  PIPE_ERRNO_MAP(XX)
#undef XX
  PIPE_EMAX_ = -5999
};

/** Human-readable message for an error code ("malformed CSV"). Never NULL. */
PIPE_EXTERN const char* pipe_strerror(int err);
/** Symbolic name for an error code ("ECSV"). Never NULL. */
PIPE_EXTERN const char* pipe_err_name(int err);

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
  int http_status;     /* a remote server's HTTP status (S3), 0 if none */
  char remote_code[64]; /* a remote server's error code ("NoSuchBucket"), or "" */
  char request_id[64];  /* the remote request id (x-amz-request-id), or "" */
} pipe_error_t;

/** Fills err with code and a printf-style message. Returns code. */
PIPE_EXTERN int pipe_error_set(pipe_error_t* err, int code, const char* fmt, ...)
#if defined(__GNUC__)
    __attribute__((format(printf, 3, 4)))
#endif
    ;

#ifdef __cplusplus
}
#endif
#endif /* PIPE_ERROR_H */
