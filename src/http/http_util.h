/* Small helpers of the HTTP service (internal): a growing byte string,
 * JSON string escaping, percent-decoding, constant-time comparison. */
#ifndef PIPE_HTTP_UTIL_H
#define PIPE_HTTP_UTIL_H

#include <stddef.h>
#include <stdint.h>

/** A growing NUL-terminated byte string; zeroed is empty. On allocation
 *  failure `oom` is set and further appends do nothing. */
typedef struct pipe_sbuf_s {
  char* p;
  size_t len, cap;
  int oom;
} pipe_sbuf_t;

void pipe__sbuf_add(pipe_sbuf_t* b, const void* data, size_t len);
void pipe__sbuf_puts(pipe_sbuf_t* b, const char* s);
void pipe__sbuf_printf(pipe_sbuf_t* b, const char* fmt, ...)
#if defined(__GNUC__)
    __attribute__((format(printf, 2, 3)))
#endif
    ;
/** Appends s[0,len) as a JSON string with its quotes (control bytes as
 *  \u00XX; bytes >= 0x80 as they are: keys and names are UTF-8 or
 *  opaque). */
void pipe__sbuf_json(pipe_sbuf_t* b, const char* s, size_t len);
void pipe__sbuf_reset(pipe_sbuf_t* b);
void pipe__sbuf_free(pipe_sbuf_t* b);

/** Percent-decodes s[0,len) into out (cap >= len + 1), '+' as a space when
 *  plus_space. Returns the decoded length, or -1 for a bad escape. */
long pipe__pct_decode(const char* s, size_t len, char* out, int plus_space);

/** 1 when a[0,alen) equals b[0,blen), in time that depends only on the
 *  lengths. */
int pipe__ct_equal(const char* a, size_t alen, const char* b, size_t blen);

#endif /* PIPE_HTTP_UTIL_H */
