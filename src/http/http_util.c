/* Helpers of the HTTP service (see http_util.h). */
#include "http/http_util.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static int grow(pipe_sbuf_t* b, size_t more) {
  size_t need, cap;
  char* np;
  if (b->oom) return -1;
  need = b->len + more + 1;
  if (need <= b->cap) return 0;
  cap = b->cap ? b->cap : 256;
  while (cap < need) cap *= 2;
  np = realloc(b->p, cap);
  if (np == NULL) {
    b->oom = 1;
    return -1;
  }
  b->p = np;
  b->cap = cap;
  return 0;
}

void pipe__sbuf_add(pipe_sbuf_t* b, const void* data, size_t len) {
  if (grow(b, len) < 0) return;
  if (len > 0) memcpy(b->p + b->len, data, len);
  b->len += len;
  b->p[b->len] = '\0';
}

void pipe__sbuf_puts(pipe_sbuf_t* b, const char* s) {
  pipe__sbuf_add(b, s, strlen(s));
}

void pipe__sbuf_printf(pipe_sbuf_t* b, const char* fmt, ...) {
  va_list ap;
  int n;
  va_start(ap, fmt);
  n = vsnprintf(NULL, 0, fmt, ap);
  va_end(ap);
  if (n < 0 || grow(b, (size_t)n) < 0) return;
  va_start(ap, fmt);
  vsnprintf(b->p + b->len, (size_t)n + 1, fmt, ap);
  va_end(ap);
  b->len += (size_t)n;
}

void pipe__sbuf_json(pipe_sbuf_t* b, const char* s, size_t len) {
  size_t i;
  pipe__sbuf_add(b, "\"", 1);
  for (i = 0; i < len; i++) {
    unsigned char c = (unsigned char)s[i];
    if (c == '"' || c == '\\') {
      char e[2] = {'\\', (char)c};
      pipe__sbuf_add(b, e, 2);
    } else if (c == '\n') {
      pipe__sbuf_add(b, "\\n", 2);
    } else if (c == '\t') {
      pipe__sbuf_add(b, "\\t", 2);
    } else if (c == '\r') {
      pipe__sbuf_add(b, "\\r", 2);
    } else if (c < 0x20 || c == 0x7f) {
      pipe__sbuf_printf(b, "\\u%04x", c);
    } else {
      pipe__sbuf_add(b, &s[i], 1);
    }
  }
  pipe__sbuf_add(b, "\"", 1);
}

void pipe__sbuf_reset(pipe_sbuf_t* b) {
  b->len = 0;
  b->oom = 0;
  if (b->p != NULL) b->p[0] = '\0';
}

void pipe__sbuf_free(pipe_sbuf_t* b) {
  free(b->p);
  memset(b, 0, sizeof(*b));
}

static int hexval(char c) {
  if (c >= '0' && c <= '9') return c - '0';
  if (c >= 'a' && c <= 'f') return c - 'a' + 10;
  if (c >= 'A' && c <= 'F') return c - 'A' + 10;
  return -1;
}

long pipe__pct_decode(const char* s, size_t len, char* out, int plus_space) {
  size_t i, n = 0;
  for (i = 0; i < len; i++) {
    if (s[i] == '%') {
      int hi, lo;
      if (i + 2 >= len) return -1;
      hi = hexval(s[i + 1]);
      lo = hexval(s[i + 2]);
      if (hi < 0 || lo < 0) return -1;
      out[n++] = (char)(hi * 16 + lo);
      i += 2;
    } else if (plus_space && s[i] == '+') {
      out[n++] = ' ';
    } else {
      out[n++] = s[i];
    }
  }
  out[n] = '\0';
  return (long)n;
}

int pipe__ct_equal(const char* a, size_t alen, const char* b, size_t blen) {
  unsigned char diff = (unsigned char)(alen != blen);
  size_t i, n = alen > blen ? alen : blen;
  for (i = 0; i < n; i++) {
    unsigned char x = i < alen ? (unsigned char)a[i] : 0;
    unsigned char y = i < blen ? (unsigned char)b[i] : 0;
    diff |= (unsigned char)(x ^ y);
  }
  return diff == 0;
}
