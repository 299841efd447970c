/* The S3 client: libcurl's multi interface driven by libuv.
 *
 * curl tells us which sockets to watch (CURLMOPT_SOCKETFUNCTION: one
 * uv_poll_t per socket, created on first use, closed on CURL_POLL_REMOVE)
 * and when to call it back (CURLMOPT_TIMERFUNCTION: one uv_timer_t); we
 * call curl_multi_socket_action from those callbacks and then collect
 * finished transfers with curl_multi_info_read. Every request therefore
 * runs on the loop thread, many at once, and the multi handle's connection
 * cache reuses connections across requests, stages and pipelines.
 *
 * Each request (client.h) has its own retry loop. An attempt is signed at
 * the moment it starts (SigV4 dates are only valid for 15 minutes, and the
 * backoff can be long), and a finished attempt is classified:
 *   - success: 2xx (and, for Complete, a body that is not <Error>);
 *   - transient: a network failure (refused, reset, timeout, stall,
 *     truncated body), HTTP 500/502/503/504, 429, 408, or an S3 code that
 *     means "try again" (SlowDown, RequestTimeout, InternalError...) ->
 *     retried after 0.25 s * 2^(n-1) (capped at 20 s) with equal jitter,
 *     while attempts < max_attempts and the retry deadline is not passed;
 *   - final: anything else, or transient with the budget spent.
 * A GET that fails midway resumes from the byte where it stopped (Range).
 *
 * Callbacks never run inside curl's callbacks for the same handle: on_done
 * is called from check_done(), after curl_multi_info_read, where removing
 * or adding handles is allowed.
 */
#include <curl/curl.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>
#include <unistd.h>
#include <uv.h>

#include "codec/sigv4.h"
#include "s3/client.h"

/* A transfer that moves fewer than 1 byte per second for this long is
 * stalled: fail it (a timeout, retried) instead of waiting forever. */
#define STALL_SECONDS 20L
#define CONNECT_TIMEOUT_MS 10000L
#define BACKOFF_BASE_MS 250.0
#define BACKOFF_CAP_MS 20000.0
#define RESP_LIMIT (32u * 1024 * 1024)

typedef struct sock_s {
  uv_poll_t poll;
  curl_socket_t fd;
  pipe_s3_client_t* c;
  struct sock_s* next;
  struct sock_s* prev;
  int closing;
} sock_t;

struct pipe_s3_client_s {
  uv_loop_t* loop;
  const pipe_s3_config_t* cfg;
  CURLM* multi;
  uv_timer_t timer;
  int https;
  char host[256];       /* host[:port] of the endpoint, as sent in Host */
  char scheme[8];
  int virtual_host;     /* AWS: bucket.s3.region.amazonaws.com */
  uint64_t rng;         /* xorshift state for jitter */
  pipe__s3_req_t* reqs; /* live requests */
  sock_t* socks;
  unsigned open;        /* handles not yet closed (timer, polls, req timers) */
  int closing;
  int in_curl;          /* inside a curl call that runs our callbacks */
  uv_timer_t kick;      /* starts attempts queued while in_curl */
  pipe__s3_req_t* pending; /* attempts to start, linked by pend_next */
  pipe_s3_client_close_cb close_cb;
  void* close_data;
};

static void check_done(pipe_s3_client_t* c);
static void attempt_start(pipe__s3_req_t* r);

/* vsnprintf into a message buffer: messages are cut at its size (a long
 * key makes a long message), which is fine for a human reading it. */
static void msgf(char* out, size_t cap, const char* fmt, ...)
    __attribute__((format(printf, 3, 4)));
static void msgf(char* out, size_t cap, const char* fmt, ...) {
  va_list ap;
  va_start(ap, fmt);
  vsnprintf(out, cap, fmt, ap);
  va_end(ap);
}

const pipe_s3_config_t* pipe__s3_client_config(const pipe_s3_client_t* c) {
  return c->cfg;
}

/* ---- closing ------------------------------------------------------------- */

static void maybe_closed(pipe_s3_client_t* c) {
  if (!c->closing || c->open > 0 || c->reqs != NULL) return;
  if (c->close_cb != NULL) c->close_cb(c, c->close_data);
  free(c);
}

static void handle_closed(uv_handle_t* h) {
  pipe_s3_client_t* c = h->data;
  c->open--;
  maybe_closed(c);
}

static void sock_closed(uv_handle_t* h) {
  sock_t* s = (sock_t*)h;
  pipe_s3_client_t* c = s->c;
  free(s);
  c->open--;
  maybe_closed(c);
}

static void sock_close(sock_t* s) {
  pipe_s3_client_t* c = s->c;
  if (s->closing) return;
  s->closing = 1;
  if (s->prev != NULL) s->prev->next = s->next;
  else c->socks = s->next;
  if (s->next != NULL) s->next->prev = s->prev;
  uv_poll_stop(&s->poll);
  uv_close((uv_handle_t*)&s->poll, sock_closed);
}

/* ---- curl <-> uv --------------------------------------------------------- */

static void poll_cb(uv_poll_t* h, int status, int events) {
  sock_t* s = (sock_t*)h;
  pipe_s3_client_t* c = s->c;
  int flags = 0, running;
  if (status < 0) flags = CURL_CSELECT_ERR;
  if (events & UV_READABLE) flags |= CURL_CSELECT_IN;
  if (events & UV_WRITABLE) flags |= CURL_CSELECT_OUT;
  c->in_curl++;
  curl_multi_socket_action(c->multi, s->fd, flags, &running);
  c->in_curl--;
  check_done(c);
}

static int socket_cb(CURL* e, curl_socket_t fd, int what, void* userp,
                     void* socketp) {
  pipe_s3_client_t* c = userp;
  sock_t* s = socketp;
  int events = 0;
  (void)e;
  if (what == CURL_POLL_REMOVE) {
    if (s != NULL) {
      if (!c->closing) curl_multi_assign(c->multi, fd, NULL);
      sock_close(s);
    }
    return 0;
  }
  if (s == NULL) {
    s = calloc(1, sizeof(*s));
    if (s == NULL) return -1;
    s->fd = fd;
    s->c = c;
    if (uv_poll_init_socket(c->loop, &s->poll, fd) != 0) {
      free(s);
      return -1;
    }
    c->open++;
    s->next = c->socks;
    if (c->socks != NULL) c->socks->prev = s;
    c->socks = s;
    curl_multi_assign(c->multi, fd, s);
  }
  if (what & CURL_POLL_IN) events |= UV_READABLE;
  if (what & CURL_POLL_OUT) events |= UV_WRITABLE;
  uv_poll_start(&s->poll, events, poll_cb);
  return 0;
}

static void timeout_cb(uv_timer_t* t) {
  pipe_s3_client_t* c = t->data;
  int running;
  c->in_curl++;
  curl_multi_socket_action(c->multi, CURL_SOCKET_TIMEOUT, 0, &running);
  c->in_curl--;
  check_done(c);
}

static int timer_cb(CURLM* m, long timeout_ms, void* userp) {
  pipe_s3_client_t* c = userp;
  (void)m;
  if (c->closing) return 0;
  if (timeout_ms < 0) uv_timer_stop(&c->timer);
  else uv_timer_start(&c->timer, timeout_cb, (uint64_t)timeout_ms, 0);
  return 0;
}

/* ---- client -------------------------------------------------------------- */

static int parse_endpoint(pipe_s3_client_t* c, pipe_error_t* err) {
  const pipe_s3_config_t* cfg = c->cfg;
  const char* u = cfg->endpoint_url;
  const char* p;
  size_t n;
  if (u == NULL || u[0] == '\0') {
    c->https = 1;
    c->virtual_host = 1;
    snprintf(c->scheme, sizeof(c->scheme), "https");
    snprintf(c->host, sizeof(c->host), "s3.%s.amazonaws.com",
             cfg->region ? cfg->region : "us-east-1");
    return 0;
  }
  if (strncasecmp(u, "http://", 7) == 0) {
    snprintf(c->scheme, sizeof(c->scheme), "http");
    p = u + 7;
  } else if (strncasecmp(u, "https://", 8) == 0) {
    snprintf(c->scheme, sizeof(c->scheme), "https");
    c->https = 1;
    p = u + 8;
  } else {
    return pipe_error_set(err ? err : &(pipe_error_t){0}, PIPE_EUSAGE,
                          "endpoint URL '%s' must start with http:// or "
                          "https://", u);
  }
  n = strcspn(p, "/?#");
  if (n == 0 || n >= sizeof(c->host))
    return pipe_error_set(err ? err : &(pipe_error_t){0}, PIPE_EUSAGE,
                          "endpoint URL '%s' has no host", u);
  memcpy(c->host, p, n);
  c->host[n] = '\0';
  return 0;
}

int pipe_s3_client_new(uv_loop_t* loop, const pipe_s3_config_t* cfg,
                       pipe_s3_client_t** out, pipe_error_t* err) {
  pipe_s3_client_t* c;
  int r;
  *out = NULL;
  if (curl_global_init(CURL_GLOBAL_DEFAULT) != CURLE_OK)
    return pipe_error_set(err ? err : &(pipe_error_t){0}, PIPE_ENOMEM,
                          "cannot initialize libcurl");
  c = calloc(1, sizeof(*c));
  if (c == NULL) return PIPE_ENOMEM;
  c->loop = loop;
  c->cfg = cfg;
  r = parse_endpoint(c, err);
  if (r < 0) {
    free(c);
    return r;
  }
  c->multi = curl_multi_init();
  if (c->multi == NULL) {
    free(c);
    return PIPE_ENOMEM;
  }
  c->rng = uv_hrtime() ^ (uint64_t)(uintptr_t)c;
  if (c->rng == 0) c->rng = 88172645463325252ull;
  curl_multi_setopt(c->multi, CURLMOPT_SOCKETFUNCTION, socket_cb);
  curl_multi_setopt(c->multi, CURLMOPT_SOCKETDATA, c);
  curl_multi_setopt(c->multi, CURLMOPT_TIMERFUNCTION, timer_cb);
  curl_multi_setopt(c->multi, CURLMOPT_TIMERDATA, c);
  curl_multi_setopt(c->multi, CURLMOPT_MAX_HOST_CONNECTIONS, 0L);
  uv_timer_init(loop, &c->timer);
  c->timer.data = c;
  uv_timer_init(loop, &c->kick);
  c->kick.data = c;
  c->open = 2;
  *out = c;
  return 0;
}

static void req_detach(pipe__s3_req_t* r);

void pipe_s3_client_close(pipe_s3_client_t* c, pipe_s3_client_close_cb cb,
                          void* data) {
  if (c->closing) return;
  c->close_cb = cb;
  c->close_data = data;
  /* Requests still live are the callers' bugs or abandoned work: cancel
   * them; their memory goes with their timers. */
  while (c->reqs != NULL) pipe__s3_req_free(c->reqs);
  c->closing = 1;
  curl_multi_cleanup(c->multi);
  c->multi = NULL;
  while (c->socks != NULL) sock_close(c->socks);
  uv_timer_stop(&c->timer);
  uv_close((uv_handle_t*)&c->timer, handle_closed);
  uv_timer_stop(&c->kick);
  uv_close((uv_handle_t*)&c->kick, handle_closed);
}

/* ---- requests ------------------------------------------------------------ */

int pipe__s3_req_new(pipe_s3_client_t* c, const char* method, const char* bucket,
                     const char* key, const char* query, pipe__s3_req_t** out) {
  pipe__s3_req_t* r = calloc(1, sizeof(*r));
  *out = NULL;
  if (r == NULL) return PIPE_ENOMEM;
  r->c = c;
  r->method = method;
  r->bucket = strdup(bucket);
  r->key = strdup(key ? key : "");
  r->query = query ? strdup(query) : NULL;
  r->range_start = r->range_end = -1;
  r->body_fd = -1;
  r->content_length = r->total_size = -1;
  if (r->bucket == NULL || r->key == NULL || (query && r->query == NULL)) {
    free(r->bucket);
    free(r->key);
    free(r->query);
    free(r);
    return PIPE_ENOMEM;
  }
  uv_timer_init(c->loop, &r->timer);
  r->timer.data = r;
  c->open++;
  r->next = c->reqs;
  if (c->reqs != NULL) c->reqs->prev = r;
  c->reqs = r;
  *out = r;
  return 0;
}

void pipe__s3_url(const pipe__s3_req_t* r, char* out, size_t cap) {
  snprintf(out, cap, "s3://%s%s%s", r->bucket, r->key[0] ? "/" : "", r->key);
}

static void req_closed(uv_handle_t* h) {
  pipe__s3_req_t* r = h->data;
  pipe_s3_client_t* c = r->c;
  free(r->resp);
  free(r->bucket);
  free(r->key);
  free(r->query);
  free(r);
  c->open--;
  maybe_closed(c);
}

/* Takes r out of curl (if an attempt runs) and off the backoff timer. */
static void req_detach(pipe__s3_req_t* r) {
  if (r->easy != NULL) {
    if (r->in_multi && r->c->multi != NULL)
      curl_multi_remove_handle(r->c->multi, r->easy);
    curl_easy_cleanup(r->easy);
    r->easy = NULL;
  }
  r->in_multi = 0;
  if (r->hdrs != NULL) {
    curl_slist_free_all(r->hdrs);
    r->hdrs = NULL;
  }
  if (r->waiting) {
    uv_timer_stop(&r->timer);
    r->waiting = 0;
  }
  if (r->pend) {
    pipe__s3_req_t** pp = &r->c->pending;
    while (*pp != NULL && *pp != r) pp = &(*pp)->pend_next;
    if (*pp == r) *pp = r->pend_next;
    r->pend = 0;
    r->pend_next = NULL;
  }
}

void pipe__s3_req_free(pipe__s3_req_t* r) {
  pipe_s3_client_t* c;
  if (r == NULL || r->freed) return;
  c = r->c;
  r->freed = 1;
  req_detach(r);
  if (r->prev != NULL) r->prev->next = r->next;
  else c->reqs = r->next;
  if (r->next != NULL) r->next->prev = r->prev;
  uv_close((uv_handle_t*)&r->timer, req_closed);
}

void pipe__s3_req_resume(pipe__s3_req_t* r) {
  if (r->freed || !r->paused || r->easy == NULL) return;
  r->paused = 0;
  r->c->in_curl++;
  /* May call write_cb at once with the data curl held back, which may
   * pause again: both are fine here (we are not inside a curl callback). */
  curl_easy_pause(r->easy, CURLPAUSE_CONT);
  r->c->in_curl--;
  check_done(r->c);
}

/* ---- curl callbacks for one request ---------------------------------------- */

static size_t read_cb(char* buf, size_t size, size_t nitems, void* userp) {
  pipe__s3_req_t* r = userp;
  size_t n = size * nitems, left = r->body_len - r->body_off;
  if (n > left) n = left;
  if (n > 0 && r->body_fd >= 0) {
    /* A part of a regular file, read when sent (it was read, and hashed,
     * moments ago: the page cache has it). */
    ssize_t got = pread(r->body_fd, buf, n, (off_t)(r->body_fd_off + (int64_t)r->body_off));
    if (got <= 0) return CURL_READFUNC_ABORT;
    n = (size_t)got;
  } else if (n > 0) {
    memcpy(buf, r->body + r->body_off, n);
  }
  r->body_off += n;
  return n;
}

static int seek_cb(void* userp, curl_off_t off, int origin) {
  pipe__s3_req_t* r = userp;
  if (origin != SEEK_SET || off < 0 || (uint64_t)off > r->body_len)
    return CURL_SEEKFUNC_CANTSEEK;
  r->body_off = (size_t)off;
  return CURL_SEEKFUNC_OK;
}

static int resp_append(pipe__s3_req_t* r, const char* p, size_t n) {
  if (r->resp_len + n + 1 > r->resp_cap) {
    size_t cap = r->resp_cap ? r->resp_cap : 4096;
    char* np;
    while (cap < r->resp_len + n + 1) cap *= 2;
    if (cap > RESP_LIMIT) return -1;
    np = realloc(r->resp, cap);
    if (np == NULL) return -1;
    r->resp = np;
    r->resp_cap = cap;
  }
  memcpy(r->resp + r->resp_len, p, n);
  r->resp_len += n;
  r->resp[r->resp_len] = '\0';
  return 0;
}

static size_t write_cb(char* p, size_t size, size_t nmemb, void* userp) {
  pipe__s3_req_t* r = userp;
  size_t n = size * nmemb;
  long code = 0;
  curl_easy_getinfo(r->easy, CURLINFO_RESPONSE_CODE, &code);
  if (r->on_data != NULL && code >= 200 && code < 300) {
    int rc;
    if (n == 0) return 0;
    rc = r->on_data(r, p, n);
    if (rc == PIPE_FULL) {
      r->paused = 1;
      return CURL_WRITEFUNC_PAUSE;
    }
    if (rc < 0) {
      r->result = rc;
      return 0; /* CURLE_WRITE_ERROR: final */
    }
    r->received += (int64_t)n;
    return n;
  }
  if (resp_append(r, p, n) < 0) return 0;
  return n;
}

static void copy_value(const char* v, size_t n, char* out, size_t cap) {
  while (n > 0 && (v[n - 1] == '\r' || v[n - 1] == '\n' || v[n - 1] == ' '))
    n--;
  while (n > 0 && (*v == ' ' || *v == '\t')) {
    v++;
    n--;
  }
  if (n >= 2 && v[0] == '"' && v[n - 1] == '"') {
    v++;
    n -= 2;
  }
  if (n >= cap) n = cap - 1;
  memcpy(out, v, n);
  out[n] = '\0';
}

static size_t header_cb(char* p, size_t size, size_t nitems, void* userp) {
  pipe__s3_req_t* r = userp;
  size_t n = size * nitems;
  char tmp[128];
  if (n > 5 && strncmp(p, "HTTP/", 5) == 0) { /* a new response (100, 200) */
    r->etag[0] = '\0';
    r->etag_not_md5 = 0;
    r->content_length = -1;
    return n;
  }
  if (n > 5 && strncasecmp(p, "ETag:", 5) == 0) {
    copy_value(p + 5, n - 5, r->etag, sizeof(r->etag));
  } else if (n > 17 && strncasecmp(p, "x-amz-request-id:", 17) == 0) {
    copy_value(p + 17, n - 17, r->request_id, sizeof(r->request_id));
  } else if (n > 29 && strncasecmp(p, "x-amz-server-side-encryption:", 29) == 0) {
    copy_value(p + 29, n - 29, tmp, sizeof(tmp));
    if (strncasecmp(tmp, "aws:kms", 7) == 0) r->etag_not_md5 = 1;
  } else if (n > 47 &&
             strncasecmp(p, "x-amz-server-side-encryption-customer-algorithm:", 47) == 0) {
    r->etag_not_md5 = 1;
  } else if (n > 15 && strncasecmp(p, "Content-Length:", 15) == 0) {
    copy_value(p + 15, n - 15, tmp, sizeof(tmp));
    r->content_length = strtoll(tmp, NULL, 10);
  } else if (n > 14 && strncasecmp(p, "Content-Range:", 14) == 0) {
    const char* slash;
    copy_value(p + 14, n - 14, tmp, sizeof(tmp));
    slash = strrchr(tmp, '/');
    if (slash != NULL && slash[1] != '*') r->total_size = strtoll(slash + 1, NULL, 10);
  }
  return n;
}

/* ---- attempts ------------------------------------------------------------ */

static void enc_path(const pipe__s3_req_t* r, int virt, char* out, size_t cap) {
  size_t n = 0;
  out[0] = '\0';
  if (!virt) {
    n = (size_t)snprintf(out, cap, "/");
    n += pipe__sigv4_uri_encode(r->bucket, strlen(r->bucket), 1, out + n,
                                cap > n ? cap - n : 0);
    if (r->key[0] != '\0' && n + 1 < cap) {
      out[n++] = '/';
      out[n] = '\0';
    }
  } else {
    n = (size_t)snprintf(out, cap, "/");
  }
  if (n < cap)
    pipe__sigv4_uri_encode(r->key, strlen(r->key), 0, out + n, cap - n);
}

static int add_hdr(pipe__s3_req_t* r, const char* name, const char* value) {
  char line[2048];
  struct curl_slist* l;
  snprintf(line, sizeof(line), "%s: %s", name, value);
  l = curl_slist_append(r->hdrs, line);
  if (l == NULL) return -1;
  r->hdrs = l;
  return 0;
}

static int add_if_match(pipe__s3_req_t* r) {
  char v[160];
  snprintf(v, sizeof(v), "\"%s\"", r->if_match);
  return add_hdr(r, "If-Match", v);
}

static int fail_now(pipe__s3_req_t* r, int code, const char* fmt, const char* a) {
  char url[1024];
  pipe__s3_url(r, url, sizeof(url));
  memset(&r->err, 0, sizeof(r->err));
  r->err.code = code;
  msgf(r->err.msg, sizeof(r->err.msg), fmt, r->what ? r->what : r->method, url, a);
  r->result = code;
  return code;
}

/* Builds and starts one attempt: URL, signature, headers, body. */
static int attempt_setup(pipe__s3_req_t* r) {
  pipe_s3_client_t* c = r->c;
  const pipe_s3_config_t* cfg = c->cfg;
  char path[4096], url[8192], host[512], range[64];
  pipe__sigv4_hdr_t sh[2];
  size_t nsh = 0;
  pipe__sigv4_req_t sr;
  pipe__sigv4_out_t so;
  int virt = c->virtual_host && strchr(r->bucket, '.') == NULL;
  int bodyful = strcmp(r->method, "PUT") == 0 || strcmp(r->method, "POST") == 0;
  CURL* e;

  if (virt) snprintf(host, sizeof(host), "%s.%s", r->bucket, c->host);
  else snprintf(host, sizeof(host), "%s", c->host);
  enc_path(r, virt, path, sizeof(path));
  snprintf(url, sizeof(url), "%s://%s%s%s%s", c->scheme, host, path,
           r->query && r->query[0] ? "?" : "", r->query ? r->query : "");

  if (r->content_md5[0] != '\0') {
    sh[nsh].name = "content-md5";
    sh[nsh++].value = r->content_md5;
  }
  memset(&sr, 0, sizeof(sr));
  sr.method = r->method;
  sr.host = host;
  sr.path = path;
  sr.query = r->query;
  sr.headers = sh;
  sr.nheaders = nsh;
  sr.payload_hash = bodyful && r->body_len > 0 ? PIPE_SIGV4_UNSIGNED
                                                : PIPE_SIGV4_EMPTY_SHA256;
  sr.region = cfg->region ? cfg->region : "us-east-1";
  sr.service = "s3";
  sr.access_key = cfg->access_key_id;
  sr.secret_key = cfg->secret_access_key;
  sr.session_token = cfg->session_token;
  sr.now = (int64_t)time(NULL);
  if (pipe__sigv4_sign(&sr, &so) != 0)
    return fail_now(r, PIPE_EINVAL, "%s %s: cannot sign the request%s", "");

  e = curl_easy_init();
  if (e == NULL) return PIPE_ENOMEM;
  r->easy = e;
  if (add_hdr(r, "Host", host) < 0 || add_hdr(r, "x-amz-date", so.amz_date) < 0 ||
      add_hdr(r, "x-amz-content-sha256", sr.payload_hash) < 0 ||
      add_hdr(r, "Authorization", so.authorization) < 0 ||
      (cfg->session_token && cfg->session_token[0] &&
       add_hdr(r, "x-amz-security-token", cfg->session_token) < 0) ||
      (r->content_md5[0] && add_hdr(r, "Content-MD5", r->content_md5) < 0) ||
      (r->if_match && r->if_match[0] && add_if_match(r) < 0) ||
      (r->content_type && add_hdr(r, "Content-Type", r->content_type) < 0) ||
      /* A name with nothing after the colon removes curl's own header
       * (POST's form type, Expect: 100-continue, Accept). */
      (!r->content_type &&
       (r->hdrs = curl_slist_append(r->hdrs, "Content-Type:")) == NULL) ||
      (r->hdrs = curl_slist_append(r->hdrs, "Expect:")) == NULL ||
      (r->hdrs = curl_slist_append(r->hdrs, "Accept:")) == NULL)
    return PIPE_ENOMEM;
  curl_easy_setopt(e, CURLOPT_URL, url);
  curl_easy_setopt(e, CURLOPT_HTTPHEADER, r->hdrs);
  curl_easy_setopt(e, CURLOPT_PATH_AS_IS, 1L);
  curl_easy_setopt(e, CURLOPT_NOSIGNAL, 1L);
  curl_easy_setopt(e, CURLOPT_PRIVATE, r);
  curl_easy_setopt(e, CURLOPT_WRITEFUNCTION, write_cb);
  curl_easy_setopt(e, CURLOPT_WRITEDATA, r);
  curl_easy_setopt(e, CURLOPT_HEADERFUNCTION, header_cb);
  curl_easy_setopt(e, CURLOPT_HEADERDATA, r);
  curl_easy_setopt(e, CURLOPT_CONNECTTIMEOUT_MS, CONNECT_TIMEOUT_MS);
  curl_easy_setopt(e, CURLOPT_LOW_SPEED_LIMIT, 1L);
  curl_easy_setopt(e, CURLOPT_LOW_SPEED_TIME, STALL_SECONDS);
  curl_easy_setopt(e, CURLOPT_TCP_KEEPALIVE, 1L);
  if (c->https) {
    if (cfg->ca_bundle != NULL) curl_easy_setopt(e, CURLOPT_CAINFO, cfg->ca_bundle);
    if (!cfg->verify_ssl) {
      curl_easy_setopt(e, CURLOPT_SSL_VERIFYPEER, 0L);
      curl_easy_setopt(e, CURLOPT_SSL_VERIFYHOST, 0L);
    }
  }
  if (strcmp(r->method, "PUT") == 0) {
    curl_easy_setopt(e, CURLOPT_UPLOAD, 1L);
    curl_easy_setopt(e, CURLOPT_INFILESIZE_LARGE, (curl_off_t)r->body_len);
  } else if (strcmp(r->method, "POST") == 0) {
    curl_easy_setopt(e, CURLOPT_POST, 1L);
    curl_easy_setopt(e, CURLOPT_POSTFIELDSIZE_LARGE, (curl_off_t)r->body_len);
  } else if (strcmp(r->method, "HEAD") == 0) {
    curl_easy_setopt(e, CURLOPT_NOBODY, 1L);
  } else if (strcmp(r->method, "GET") != 0) {
    curl_easy_setopt(e, CURLOPT_CUSTOMREQUEST, r->method);
  }
  if (bodyful) {
    r->body_off = 0;
    curl_easy_setopt(e, CURLOPT_READFUNCTION, read_cb);
    curl_easy_setopt(e, CURLOPT_READDATA, r);
    curl_easy_setopt(e, CURLOPT_SEEKFUNCTION, seek_cb);
    curl_easy_setopt(e, CURLOPT_SEEKDATA, r);
  }
  /* A GET resumes where the last attempt stopped. */
  if (r->range_start >= 0 || r->received > 0) {
    int64_t from = (r->range_start >= 0 ? r->range_start : 0) + r->received;
    if (r->range_end >= 0)
      snprintf(range, sizeof(range), "%lld-%lld", (long long)from,
               (long long)r->range_end);
    else
      snprintf(range, sizeof(range), "%lld-", (long long)from);
    curl_easy_setopt(e, CURLOPT_RANGE, range);
  }
  r->resp_len = 0;
  if (r->resp) r->resp[0] = '\0';
  r->status = 0;
  r->etag[0] = '\0';
  r->request_id[0] = '\0';
  r->content_length = -1;
  r->attempt_received = r->received;
  r->paused = 0;
  r->attempts++;
  if (curl_multi_add_handle(c->multi, e) != CURLM_OK) return PIPE_ENOMEM;
  r->in_multi = 1;
  return 0;
}

static void kick_cb(uv_timer_t* t) {
  pipe_s3_client_t* c = t->data;
  while (c->pending != NULL) {
    pipe__s3_req_t* r = c->pending;
    c->pending = r->pend_next;
    r->pend_next = NULL;
    r->pend = 0;
    attempt_start(r);
  }
}

static void attempt_start(pipe__s3_req_t* r) {
  int rc;
  if (r->c->in_curl) {
    /* Called from inside a curl callback (a GET's data pushed down to an
     * upload sink): curl refuses curl_multi_add_handle there. Start it from
     * the loop in a moment. */
    pipe__s3_req_t** pp = &r->c->pending;
    while (*pp != NULL) pp = &(*pp)->pend_next;
    *pp = r;
    r->pend = 1;
    uv_timer_start(&r->c->kick, kick_cb, 0, 0);
    return;
  }
  rc = attempt_setup(r);
  if (rc < 0) {
    req_detach(r);
    if (r->err.code == 0) fail_now(r, rc, "%s %s: %s", pipe_strerror(rc));
    r->on_done(r);
  }
}

static void backoff_cb(uv_timer_t* t) {
  pipe__s3_req_t* r = t->data;
  r->waiting = 0;
  attempt_start(r);
}

int pipe__s3_req_start(pipe__s3_req_t* r) {
  const pipe_s3_config_t* cfg = r->c->cfg;
  if (r->c->closing) return fail_now(r, PIPE_ECANCELED, "%s %s: %s", "client closed");
  if (cfg->access_key_id == NULL || cfg->secret_access_key == NULL ||
      cfg->access_key_id[0] == '\0')
    return fail_now(r, PIPE_ENOCREDS,
                    "%s %s: no S3 credentials%s (set AWS_ACCESS_KEY_ID and "
                    "AWS_SECRET_ACCESS_KEY, or a profile in ~/.aws/credentials)",
                    "");
  r->started_ms = uv_now(r->c->loop);
  r->attempts = 0;
  r->result = 0;
  attempt_start(r);
  return 0;
}

/* ---- outcome ------------------------------------------------------------- */

static int retryable_code(const char* code) {
  static const char* const codes[] = {
      "SlowDown", "RequestTimeout", "InternalError", "ServiceUnavailable",
      "Throttling", "ThrottlingException", "RequestTimeTooSkewed",
      "ExpiredToken", "OperationAborted", NULL};
  int i;
  for (i = 0; codes[i] != NULL; i++)
    if (strcmp(code, codes[i]) == 0) return 1;
  return 0;
}

static int retryable_curl(CURLcode cc) {
  switch (cc) {
    case CURLE_COULDNT_CONNECT:
    case CURLE_OPERATION_TIMEDOUT:
    case CURLE_SEND_ERROR:
    case CURLE_RECV_ERROR:
    case CURLE_GOT_NOTHING:
    case CURLE_PARTIAL_FILE:
    case CURLE_HTTP2:
    case CURLE_HTTP2_STREAM:
    case CURLE_SSL_CONNECT_ERROR:
    case CURLE_COULDNT_RESOLVE_HOST:
      return 1;
    default:
      return 0;
  }
}

static uint64_t rng_next(pipe_s3_client_t* c) {
  uint64_t x = c->rng;
  x ^= x << 13;
  x ^= x >> 7;
  x ^= x << 17;
  c->rng = x;
  return x;
}

/* Fills r->err from an S3 error body (or the status alone). */
static int http_error(pipe__s3_req_t* r, char* code_out, size_t cap) {
  char url[1024], code[64] = "", msg[256] = "", reqid[64] = "", extra[256] = "";
  size_t pos = 0;
  int err;
  const char* what = r->what ? r->what : r->method;
  pipe__s3_url(r, url, sizeof(url));
  if (r->resp_len > 0) {
    pipe__s3_xml_get(r->resp, r->resp_len, &pos, "Code", code, sizeof(code));
    pos = 0;
    pipe__s3_xml_get(r->resp, r->resp_len, &pos, "Message", msg, sizeof(msg));
    pos = 0;
    pipe__s3_xml_get(r->resp, r->resp_len, &pos, "RequestId", reqid, sizeof(reqid));
  }
  if (reqid[0] == '\0') snprintf(reqid, sizeof(reqid), "%s", r->request_id);
  if (code[0] == '\0') {
    switch (r->status) {
      case 404: snprintf(code, sizeof(code), "%s",
                         r->key[0] ? "NoSuchKey" : "NoSuchBucket"); break;
      case 403: snprintf(code, sizeof(code), "AccessDenied"); break;
      case 503: snprintf(code, sizeof(code), "ServiceUnavailable"); break;
      default: snprintf(code, sizeof(code), "HTTP%ld", r->status); break;
    }
  }
  if (msg[0] == '\0') {
    if (strcmp(code, "NoSuchKey") == 0) snprintf(msg, sizeof(msg), "The specified key does not exist.");
    else if (strcmp(code, "NoSuchBucket") == 0) snprintf(msg, sizeof(msg), "The specified bucket does not exist.");
    else if (strcmp(code, "AccessDenied") == 0) snprintf(msg, sizeof(msg), "Access denied.");
    else snprintf(msg, sizeof(msg), "HTTP status %ld.", r->status);
  }
  if (strcmp(code, "NoSuchBucket") == 0 || strcmp(code, "NoSuchKey") == 0 ||
      strcmp(code, "NoSuchUpload") == 0 || r->status == 404)
    err = PIPE_ES3NOTFOUND;
  else if (r->status == 403 || strcmp(code, "InvalidAccessKeyId") == 0 ||
           strcmp(code, "SignatureDoesNotMatch") == 0)
    err = PIPE_ES3DENIED;
  else
    err = PIPE_ES3;
  if (strcmp(code, "InvalidAccessKeyId") == 0 || strcmp(code, "SignatureDoesNotMatch") == 0)
    snprintf(extra, sizeof(extra), " (check the access key and secret)");
  memset(&r->err, 0, sizeof(r->err));
  r->err.code = err;
  r->err.http_status = (int)r->status;
  snprintf(r->err.remote_code, sizeof(r->err.remote_code), "%s", code);
  snprintf(r->err.request_id, sizeof(r->err.request_id), "%s", reqid);
  msgf(r->err.msg, sizeof(r->err.msg), "%s %s: %s: %s%s (HTTP %ld%s%s)",
           what, url, code, msg, extra, r->status, reqid[0] ? ", request id " : "",
           reqid);
  if (code_out) snprintf(code_out, cap, "%s", code);
  return err;
}

/* One attempt finished with cc. Decides: done, retry or fail. */
static void attempt_done(pipe__s3_req_t* r, CURLcode cc) {
  pipe_s3_client_t* c = r->c;
  const pipe_s3_config_t* cfg = c->cfg;
  int max = r->max_attempts > 0 ? r->max_attempts : cfg->max_attempts;
  double budget = r->retry_timeout > 0 ? r->retry_timeout : cfg->retry_timeout;
  int retry = 0;
  char reason[300] = "";
  long code = 0;
  if (max <= 0) max = PIPE_S3_DEFAULT_MAX_ATTEMPTS;
  if (budget <= 0) budget = PIPE_S3_DEFAULT_RETRY_TIMEOUT;
  curl_easy_getinfo(r->easy, CURLINFO_RESPONSE_CODE, &code);
  r->status = code;
  if (r->result < 0 && cc == CURLE_WRITE_ERROR) { /* on_data refused */
    req_detach(r);
    if (r->err.code == 0) fail_now(r, r->result, "%s %s: %s", pipe_strerror(r->result));
    r->on_done(r);
    return;
  }
  if (cc != CURLE_OK) {
    char url[1024];
    pipe__s3_url(r, url, sizeof(url));
    retry = retryable_curl(cc);
    /* A name that does not resolve is more often a typo than an outage:
     * give it three tries, not the whole budget. */
    if (cc == CURLE_COULDNT_RESOLVE_HOST && r->attempts >= 3) retry = 0;
    memset(&r->err, 0, sizeof(r->err));
    r->err.code = PIPE_ENET;
    if (cc == CURLE_PEER_FAILED_VERIFICATION || cc == CURLE_SSL_CACERT_BADFILE ||
        cc == CURLE_SSL_CERTPROBLEM)
      snprintf(reason, sizeof(reason), "%s (use --ca-bundle FILE for a private CA, "
               "or --no-verify-ssl)", curl_easy_strerror(cc));
    else if (cc == CURLE_OPERATION_TIMEDOUT)
      snprintf(reason, sizeof(reason), "%s (stalled or too slow)", curl_easy_strerror(cc));
    else
      snprintf(reason, sizeof(reason), "%s", curl_easy_strerror(cc));
    msgf(r->err.msg, sizeof(r->err.msg), "%s %s: %s", r->what ? r->what : r->method,
             url, reason);
  } else if (code >= 200 && code < 300) {
    size_t pos = 0;
    char ecode[64] = "";
    if (r->body_error_check && r->resp_len > 0 &&
        pipe__s3_xml_get(r->resp, r->resp_len, &pos, "Error", NULL, 0)) {
      http_error(r, ecode, sizeof(ecode));
      retry = 1; /* S3 documents these as retryable (InternalError...) */
    } else if (r->on_data != NULL && r->content_length >= 0 &&
               r->received - r->attempt_received != r->content_length) {
      char url[1024];
      pipe__s3_url(r, url, sizeof(url));
      memset(&r->err, 0, sizeof(r->err));
      r->err.code = PIPE_ENET;
      msgf(r->err.msg, sizeof(r->err.msg),
               "%s %s: the body ended after %lld of %lld bytes",
               r->what ? r->what : r->method, url,
               (long long)(r->received - r->attempt_received),
               (long long)r->content_length);
      retry = 1;
    } else {
      if (r->total_size < 0 && code == 200) r->total_size = r->content_length;
      req_detach(r);
      r->result = 0;
      memset(&r->err, 0, sizeof(r->err));
      r->on_done(r);
      return;
    }
  } else {
    char ecode[64] = "";
    http_error(r, ecode, sizeof(ecode));
    retry = code >= 500 || code == 429 || code == 408 || retryable_code(ecode);
  }
  req_detach(r);
  if (retry && r->attempts < max) {
    double d = BACKOFF_BASE_MS;
    int i;
    uint64_t wait_ms, now = uv_now(c->loop);
    for (i = 1; i < r->attempts && d < BACKOFF_CAP_MS; i++) d *= 2;
    if (d > BACKOFF_CAP_MS) d = BACKOFF_CAP_MS;
    /* Equal jitter: half fixed, half random. */
    wait_ms = (uint64_t)(d / 2 + (double)(rng_next(c) % 1000) / 1000.0 * d / 2);
    if ((double)(now - r->started_ms + wait_ms) <= budget * 1000.0) {
      r->waiting = 1;
      uv_timer_start(&r->timer, backoff_cb, wait_ms, 0);
      return;
    }
  }
  if (retry || r->attempts > 1) {
    size_t n = strlen(r->err.msg);
    snprintf(r->err.msg + n, sizeof(r->err.msg) - n, " (gave up after %d attempt%s in %.1f s)",
             r->attempts, r->attempts == 1 ? "" : "s",
             (double)(uv_now(c->loop) - r->started_ms) / 1000.0);
  }
  r->result = r->err.code;
  r->on_done(r);
}

static void check_done(pipe_s3_client_t* c) {
  CURLMsg* m;
  int left;
  if (c->multi == NULL) return;
  while ((m = curl_multi_info_read(c->multi, &left)) != NULL) {
    pipe__s3_req_t* r = NULL;
    if (m->msg != CURLMSG_DONE) continue;
    curl_easy_getinfo(m->easy_handle, CURLINFO_PRIVATE, (char**)&r);
    if (r == NULL || r->freed) continue;
    attempt_done(r, m->data.result);
    if (c->multi == NULL) return; /* closed from a callback */
  }
}
