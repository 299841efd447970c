/* Small helpers of the S3 client: just enough XML for S3's answers (flat
 * elements, entities, no attributes that matter), base64, hex, ISO times. */
#include <openssl/evp.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

#include "s3/client.h"

static size_t decode_entities(const char* s, size_t n, char* out, size_t cap) {
  size_t i = 0, o = 0;
  while (i < n && o + 1 < cap) {
    char ch = s[i];
    if (ch == '&') {
      static const struct { const char* e; char c; } ents[] = {
          {"&amp;", '&'}, {"&lt;", '<'}, {"&gt;", '>'}, {"&quot;", '"'},
          {"&apos;", '\''}, {"&#34;", '"'}, {"&#39;", '\''}, {"&#x27;", '\''},
          {"&#13;", '\r'}, {"&#10;", '\n'}, {"&#9;", '\t'}};
      size_t k;
      int done = 0;
      for (k = 0; k < sizeof(ents) / sizeof(ents[0]); k++) {
        size_t l = strlen(ents[k].e);
        if (i + l <= n && memcmp(s + i, ents[k].e, l) == 0) {
          out[o++] = ents[k].c;
          i += l;
          done = 1;
          break;
        }
      }
      if (done) continue;
    }
    out[o++] = ch;
    i++;
  }
  if (cap > 0) out[o] = '\0';
  return o;
}

static const char* find(const char* h, size_t hn, const char* n, size_t nn) {
  size_t i;
  if (nn == 0 || hn < nn) return NULL;
  for (i = 0; i + nn <= hn; i++)
    if (h[i] == n[0] && memcmp(h + i, n, nn) == 0) return h + i;
  return NULL;
}

int pipe__s3_xml_span(const char* xml, size_t len, size_t* pos, const char* tag,
                      size_t* start, size_t* end) {
  char open[80], close[80];
  size_t on, cn;
  const char* a;
  const char* b;
  if (*pos >= len) return 0;
  on = (size_t)snprintf(open, sizeof(open), "<%s", tag);
  cn = (size_t)snprintf(close, sizeof(close), "</%s>", tag);
  for (a = xml + *pos;; a += on) {
    a = find(a, len - (size_t)(a - xml), open, on);
    if (a == NULL) return 0;
    /* "<Key" must not match "<KeyMarker": the name ends at '>', '/' or a blank. */
    if (a[on] == '>' || a[on] == ' ' || a[on] == '/') break;
  }
  a = memchr(a, '>', len - (size_t)(a - xml));
  if (a == NULL) return 0;
  if (a[-1] == '/') { /* <Tag/> */
    *start = *end = (size_t)(a + 1 - xml);
    *pos = *end;
    return 1;
  }
  a++;
  b = find(a, len - (size_t)(a - xml), close, cn);
  if (b == NULL) return 0;
  *start = (size_t)(a - xml);
  *end = (size_t)(b - xml);
  *pos = *end + cn;
  return 1;
}

int pipe__s3_xml_get(const char* xml, size_t len, size_t* pos, const char* tag,
                     char* out, size_t cap) {
  size_t a, b;
  if (!pipe__s3_xml_span(xml, len, pos, tag, &a, &b)) return 0;
  if (out != NULL && cap > 0) decode_entities(xml + a, b - a, out, cap);
  return 1;
}

void pipe__s3_xml_escape(const char* s, char* out, size_t cap) {
  size_t o = 0;
  for (; *s != '\0' && o + 7 < cap; s++) {
    const char* e = NULL;
    switch (*s) {
      case '&': e = "&amp;"; break;
      case '<': e = "&lt;"; break;
      case '>': e = "&gt;"; break;
      case '"': e = "&quot;"; break;
      default: break;
    }
    if (e != NULL) {
      memcpy(out + o, e, strlen(e));
      o += strlen(e);
    } else {
      out[o++] = *s;
    }
  }
  if (cap > 0) out[o] = '\0';
}

void pipe__s3_base64(const uint8_t* p, size_t n, char* out, size_t cap) {
  if (cap < 4 * ((n + 2) / 3) + 1) {
    if (cap > 0) out[0] = '\0';
    return;
  }
  EVP_EncodeBlock((unsigned char*)out, p, (int)n);
}

void pipe__s3_hex(const uint8_t* p, size_t n, char* out) {
  static const char d[] = "0123456789abcdef";
  size_t i;
  for (i = 0; i < n; i++) {
    out[2 * i] = d[p[i] >> 4];
    out[2 * i + 1] = d[p[i] & 15];
  }
  out[2 * n] = '\0';
}

int64_t pipe__s3_parse_time(const char* iso) {
  struct tm tm;
  int y, mo, d, h, mi, s;
  memset(&tm, 0, sizeof(tm));
  if (sscanf(iso, "%d-%d-%dT%d:%d:%d", &y, &mo, &d, &h, &mi, &s) != 6) return -1;
  tm.tm_year = y - 1900;
  tm.tm_mon = mo - 1;
  tm.tm_mday = d;
  tm.tm_hour = h;
  tm.tm_min = mi;
  tm.tm_sec = s;
  return (int64_t)timegm(&tm);
}
