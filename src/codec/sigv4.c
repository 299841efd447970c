/* AWS Signature Version 4 (see sigv4.h for the contract).
 *
 * The signature is four steps (AWS "Signature Calculations for the
 * Authorization Header: Transferring Payload in a Single Chunk"):
 *   1. the canonical request:
 *        METHOD \n PATH \n QUERY \n HEADERS (name:value\n each) \n
 *        SIGNED-HEADER-NAMES \n PAYLOAD-HASH
 *      with the query pairs sorted by name then value and the headers
 *      sorted by lowercase name;
 *   2. the string to sign: "AWS4-HMAC-SHA256" \n DATE-TIME \n SCOPE \n
 *      hex(SHA-256(canonical request)), SCOPE =
 * date/region/service/aws4_request;
 *   3. the signing key: HMAC chained from "AWS4" + secret over date,
 *      region, service and "aws4_request";
 *   4. the signature: hex(HMAC(signing key, string to sign)).
 *
 * Everything is built in fixed buffers on the stack (the canonical request
 * is at most CANON_CAP bytes): the signer allocates nothing itself and
 * keeps no state, so any thread may call it. OpenSSL's one-shot HMAC() and
 * SHA256() are used: they are not deprecated in OpenSSL 3 (the HMAC_CTX /
 * SHA256_Init families are).
 *
 * Sorting is an insertion sort of small index arrays: a request has a
 * handful of headers and query pairs, and insertion sort is stable, which
 * keeps repeated header values in the order given. */
#include "codec/sigv4.h"

#include <openssl/evp.h>
#include <openssl/hmac.h>
#include <openssl/sha.h>
#include <string.h>
#include <time.h>

#include "pipe/error.h"

#define CANON_CAP (32 * 1024)
#define MAX_HDRS 64    /* extra headers */
#define MAX_PARAMS 128 /* query pairs */
#define NFIXED 4       /* host, x-amz-content-sha256, x-amz-date, token */
#define SECRET_MAX 512

/* An append-only string in a caller buffer; once something did not fit,
 * `over` stays set and nothing more is written (one check at the end). */
typedef struct wbuf_s {
  char* p;
  size_t len, cap;
  int over;
} wbuf_t;

static void w_mem(wbuf_t* w, const char* s, size_t n) {
  if (w->over || n >= w->cap - w->len) { /* keep room for the NUL */
    w->over = 1;
    return;
  }
  memcpy(w->p + w->len, s, n);
  w->len += n;
  w->p[w->len] = '\0';
}

static void w_str(wbuf_t* w, const char* s) {
  w_mem(w, s, strlen(s));
}

static void w_chr(wbuf_t* w, char c) {
  w_mem(w, &c, 1);
}

static void hex(const unsigned char* in, size_t n, char* out) {
  static const char digits[] = "0123456789abcdef";
  size_t i;
  for (i = 0; i < n; i++) {
    out[2 * i] = digits[in[i] >> 4];
    out[2 * i + 1] = digits[in[i] & 15];
  }
  out[2 * n] = '\0';
}

static int lower(int c) {
  return c >= 'A' && c <= 'Z' ? c + 32 : c;
}

/* RFC 9110 tchar. */
static int is_tchar(int c) {
  if ((c >= '0' && c <= '9') || (c >= 'a' && c <= 'z') ||
      (c >= 'A' && c <= 'Z'))
    return 1;
  return c != '\0' && strchr("!#$%&'*+-.^_`|~", c) != NULL;
}

static int is_unreserved(int c) {
  return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'z') ||
         (c >= 'A' && c <= 'Z') || c == '-' || c == '.' || c == '_' || c == '~';
}

size_t pipe__sigv4_uri_encode(const char* in, size_t n, int encode_slash,
                              char* out, size_t cap) {
  static const char digits[] = "0123456789ABCDEF";
  size_t i, len = 0;
  for (i = 0; i < n; i++) {
    unsigned char c = (unsigned char)in[i];
    if (is_unreserved(c) || (c == '/' && !encode_slash)) {
      if (len + 1 < cap) out[len] = (char)c;
      len++;
    } else {
      if (len + 3 < cap) {
        out[len] = '%';
        out[len + 1] = digits[c >> 4];
        out[len + 2] = digits[c & 15];
      } else if (len < cap) {
        cap = len + 1; /* never write part of an escape */
      }
      len += 3;
    }
  }
  if (cap > 0) out[len < cap ? len : cap - 1] = '\0';
  return len;
}

void pipe__sigv4_sha256_hex(const void* p, size_t n, char out[65]) {
  unsigned char md[SHA256_DIGEST_LENGTH];
  SHA256(n ? (const unsigned char*)p : (const unsigned char*)"", n, md);
  hex(md, sizeof(md), out);
}

/* Case-insensitive comparison of header names (the canonical form is
 * lowercase, so this is the canonical order). */
static int name_cmp(const char* a, const char* b) {
  for (;; a++, b++) {
    int ca = lower((unsigned char)*a), cb = lower((unsigned char)*b);
    if (ca != cb || ca == 0) return ca - cb;
  }
}

/* Bytewise comparison of two (pointer, length) strings, shorter first on a
 * common prefix (as strcmp, and as Python sorts the encoded strings). */
static int span_cmp(const char* a, size_t na, const char* b, size_t nb) {
  int r = memcmp(a, b, na < nb ? na : nb);
  if (r != 0) return r;
  return na < nb ? -1 : na > nb;
}

typedef struct qpair_s {
  const char* name;
  size_t nname;
  const char* value; /* may be empty */
  size_t nvalue;
} qpair_t;

static int qpair_cmp(const qpair_t* a, const qpair_t* b) {
  int r = span_cmp(a->name, a->nname, b->name, b->nname);
  return r ? r : span_cmp(a->value, a->nvalue, b->value, b->nvalue);
}

/* Splits query on '&' into pairs (a piece without '=' has an empty value;
 * empty pieces, as in "a&&b", are skipped) and writes them sorted,
 * "name=value" joined by '&'. */
static int write_query(wbuf_t* w, const char* query) {
  qpair_t q[MAX_PARAMS];
  size_t n = 0, i, j;
  const char* p = query;
  while (p && *p) {
    const char* end = strchr(p, '&');
    const char* eq;
    size_t len = end ? (size_t)(end - p) : strlen(p);
    if (len > 0) {
      if (n == MAX_PARAMS) return PIPE_ENOSPC;
      eq = memchr(p, '=', len);
      q[n].name = p;
      q[n].nname = eq ? (size_t)(eq - p) : len;
      q[n].value = eq ? eq + 1 : p + len;
      q[n].nvalue = eq ? len - q[n].nname - 1 : 0;
      n++;
    }
    p = end ? end + 1 : NULL;
  }
  for (i = 1; i < n; i++) {
    qpair_t t = q[i];
    for (j = i; j > 0 && qpair_cmp(&q[j - 1], &t) > 0; j--) q[j] = q[j - 1];
    q[j] = t;
  }
  for (i = 0; i < n; i++) {
    if (i) w_chr(w, '&');
    w_mem(w, q[i].name, q[i].nname);
    w_chr(w, '=');
    w_mem(w, q[i].value, q[i].nvalue);
  }
  return 0;
}

/* A header value the SigV4 way ("Trimall"): leading and trailing blanks
 * dropped, each inner run of blanks one space. Blanks are space and tab
 * (botocore's str.split() also folds other whitespace; a header value
 * holds no CR or LF). */
static void write_value(wbuf_t* w, const char* v) {
  int pending = 0, any = 0;
  for (; *v; v++) {
    if (*v == ' ' || *v == '\t') {
      pending = any;
      continue;
    }
    if (pending) w_chr(w, ' ');
    pending = 0;
    any = 1;
    w_chr(w, *v);
  }
}

static void write_name(wbuf_t* w, const char* s) {
  for (; *s; s++) w_chr(w, (char)lower((unsigned char)*s));
}

static int reserved_name(const char* name) {
  static const char* const names[] = {"host", "x-amz-date",
                                      "x-amz-content-sha256",
                                      "x-amz-security-token", "authorization"};
  size_t i;
  for (i = 0; i < sizeof(names) / sizeof(*names); i++)
    if (name_cmp(name, names[i]) == 0) return 1;
  return 0;
}

/* HMAC-SHA256 of msg under key into out; out may be the key (the chain
 * of step 3 reuses one buffer), so the digest goes through md. */
static int hmac(const void* key, size_t nkey, const void* msg, size_t nmsg,
                unsigned char out[32]) {
  unsigned char md[EVP_MAX_MD_SIZE];
  unsigned int len = 0;
  if (HMAC(EVP_sha256(), key, (int)nkey, msg, nmsg, md, &len) == NULL ||
      len != 32)
    return PIPE_EINVAL;
  memcpy(out, md, 32);
  OPENSSL_cleanse(md, sizeof(md));
  return 0;
}

int pipe__sigv4_sign(const pipe__sigv4_req_t* req, pipe__sigv4_out_t* out) {
  char canon[CANON_CAP];
  char sts[256];
  char auth[sizeof(out->authorization)];
  char amz_date[17], date[9];
  char secret[4 + SECRET_MAX];
  char canon_hash[65], sig_hex[65];
  unsigned char k[32];
  pipe__sigv4_hdr_t h[MAX_HDRS + NFIXED];
  size_t nh = 0, i, j, nsecret;
  const int has_token = req && req->session_token && req->session_token[0];
  wbuf_t w = {canon, 0, sizeof(canon), 0};
  wbuf_t a = {auth, 0, sizeof(auth), 0};
  wbuf_t s = {sts, 0, sizeof(sts), 0};
  struct tm tm;
  time_t t;
  int rc = PIPE_EINVAL;

  if (!req || !out || !req->method || !req->method[0] || !req->host ||
      !req->host[0] || !req->path || req->path[0] != '/' ||
      !req->payload_hash || !req->payload_hash[0] || !req->region ||
      !req->region[0] || !req->service || !req->service[0] ||
      !req->access_key || !req->access_key[0] || !req->secret_key ||
      (req->nheaders > 0 && !req->headers))
    goto fail;
  if (req->now < 0 || req->now > 253402300799LL) goto fail; /* 9999-12-31 */
  t = (time_t)req->now;
  if (!gmtime_r(&t, &tm)) goto fail;
  if (strftime(amz_date, sizeof(amz_date), "%Y%m%dT%H%M%SZ", &tm) != 16)
    goto fail;
  memcpy(date, amz_date, 8);
  date[8] = '\0';

  /* The headers to sign: ours, then the caller's, checked. */
  rc = PIPE_ENOSPC;
  if (req->nheaders > MAX_HDRS) goto fail;
  rc = PIPE_EINVAL;
  h[nh++] = (pipe__sigv4_hdr_t){"host", req->host};
  h[nh++] = (pipe__sigv4_hdr_t){"x-amz-content-sha256", req->payload_hash};
  h[nh++] = (pipe__sigv4_hdr_t){"x-amz-date", amz_date};
  if (has_token)
    h[nh++] = (pipe__sigv4_hdr_t){"x-amz-security-token", req->session_token};
  for (i = 0; i < req->nheaders; i++) {
    const char* name = req->headers[i].name;
    const char* c;
    if (!name || !name[0] || !req->headers[i].value) goto fail;
    for (c = name; *c; c++)
      if (!is_tchar((unsigned char)*c)) goto fail;
    for (c = req->headers[i].value; *c; c++)
      if (*c == '\r' || *c == '\n') goto fail;
    if (reserved_name(name)) goto fail;
    h[nh++] = req->headers[i];
  }
  for (i = 1; i < nh; i++) {
    pipe__sigv4_hdr_t tmp = h[i];
    for (j = i; j > 0 && name_cmp(h[j - 1].name, tmp.name) > 0; j--)
      h[j] = h[j - 1];
    h[j] = tmp;
  }

  /* 1. The canonical request. */
  w_str(&w, req->method);
  w_chr(&w, '\n');
  w_str(&w, req->path);
  w_chr(&w, '\n');
  rc = write_query(&w, req->query);
  if (rc < 0) goto fail;
  w_chr(&w, '\n');
  for (i = 0; i < nh; i++) {
    if (i > 0 && name_cmp(h[i - 1].name, h[i].name) == 0) {
      w_chr(&w, ','); /* a repeated header: one line, values joined */
    } else {
      if (i > 0) w_chr(&w, '\n');
      write_name(&w, h[i].name);
      w_chr(&w, ':');
    }
    write_value(&w, h[i].value);
  }
  w_str(&w, "\n\n");
  /* The signed header names go in the canonical request and, the same,
   * in the Authorization value: write them to both. */
  w_str(&a, "AWS4-HMAC-SHA256 Credential=");
  w_str(&a, req->access_key);
  w_chr(&a, '/');
  w_str(&a, date);
  w_chr(&a, '/');
  w_str(&a, req->region);
  w_chr(&a, '/');
  w_str(&a, req->service);
  w_str(&a, "/aws4_request, SignedHeaders=");
  for (i = 0; i < nh; i++) {
    if (i > 0 && name_cmp(h[i - 1].name, h[i].name) == 0) continue;
    if (i > 0) {
      w_chr(&w, ';');
      w_chr(&a, ';');
    }
    write_name(&w, h[i].name);
    write_name(&a, h[i].name);
  }
  w_chr(&w, '\n');
  w_str(&w, req->payload_hash);
  rc = PIPE_ENOSPC;
  if (w.over) goto fail;

  /* 2. The string to sign. */
  pipe__sigv4_sha256_hex(canon, w.len, canon_hash);
  w_str(&s, "AWS4-HMAC-SHA256\n");
  w_str(&s, amz_date);
  w_chr(&s, '\n');
  w_str(&s, date);
  w_chr(&s, '/');
  w_str(&s, req->region);
  w_chr(&s, '/');
  w_str(&s, req->service);
  w_str(&s, "/aws4_request\n");
  w_str(&s, canon_hash);
  if (s.over) goto fail;

  /* 3. The signing key, 4. the signature. */
  nsecret = strlen(req->secret_key);
  if (nsecret > SECRET_MAX) goto fail;
  memcpy(secret, "AWS4", 4);
  memcpy(secret + 4, req->secret_key, nsecret);
  rc = hmac(secret, 4 + nsecret, date, 8, k);
  OPENSSL_cleanse(secret, sizeof(secret));
  if (rc < 0) goto fail;
  if ((rc = hmac(k, 32, req->region, strlen(req->region), k)) < 0 ||
      (rc = hmac(k, 32, req->service, strlen(req->service), k)) < 0 ||
      (rc = hmac(k, 32, "aws4_request", 12, k)) < 0 ||
      (rc = hmac(k, 32, sts, s.len, k)) < 0)
    goto fail;
  hex(k, 32, sig_hex);
  w_str(&a, ", Signature=");
  w_str(&a, sig_hex);
  rc = PIPE_ENOSPC;
  if (a.over) goto fail;

  memcpy(out->amz_date, amz_date, sizeof(out->amz_date));
  memcpy(out->authorization, auth, a.len + 1);
  rc = 0;
fail:
  OPENSSL_cleanse(k, sizeof(k));
  return rc;
}
