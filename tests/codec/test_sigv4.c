/* SigV4: AWS's published S3 examples, every case of issue 11 signed again
 * by an independent implementation (Debian botocore's S3SigV4Auth, run
 * at test time through tests/codec/sigv4_botocore.py) and compared, URI
 * encoding edge cases, and the errors. */
#include <criterion/criterion.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "codec/sigv4.h"
#include "pipe/error.h"
#include "support/cli_exec.h"

#define AWS_KEY "AKIAIOSFODNN7EXAMPLE"
#define AWS_SECRET "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY"
#define AWS_HOST "examplebucket.s3.amazonaws.com"
#define AWS_NOW 1369353600 /* 2013-05-24T00:00:00Z */

static const char* signature_of(const pipe__sigv4_out_t* out) {
  const char* s = strstr(out->authorization, "Signature=");
  cr_assert(s, "no Signature in %s", out->authorization);
  return s + 10;
}

static pipe__sigv4_req_t aws_example(const char* method, const char* path,
                                     const char* query) {
  pipe__sigv4_req_t r = {.method = method,
                         .host = AWS_HOST,
                         .path = path,
                         .query = query,
                         .payload_hash = PIPE_SIGV4_EMPTY_SHA256,
                         .region = "us-east-1",
                         .service = "s3",
                         .access_key = AWS_KEY,
                         .secret_key = AWS_SECRET,
                         .now = AWS_NOW};
  return r;
}

/* ---- the published examples ("Signature Calculations for the
 * Authorization Header: Transferring Payload in a Single Chunk") ------- */

TestSuite(sigv4_aws);

Test(sigv4_aws, get_object_with_range_matches_the_published_signature) {
  pipe__sigv4_hdr_t h[] = {{"Range", "bytes=0-9"}};
  pipe__sigv4_req_t r = aws_example("GET", "/test.txt", NULL);
  pipe__sigv4_out_t out;
  r.headers = h;
  r.nheaders = 1;
  cr_assert_eq(pipe__sigv4_sign(&r, &out), 0);
  cr_expect_str_eq(out.amz_date, "20130524T000000Z");
  cr_expect_str_eq(
      out.authorization,
      "AWS4-HMAC-SHA256 "
      "Credential=AKIAIOSFODNN7EXAMPLE/20130524/us-east-1/s3/aws4_request, "
      "SignedHeaders=host;range;x-amz-content-sha256;x-amz-date, "
      "Signature="
      "f0e8bdb87c964420e857bd35b5d6ed310bd44f0170aba48dd91039c6036bdb41");
}

Test(sigv4_aws, put_object_matches_the_published_signature) {
  static const char body[] = "Welcome to Amazon S3.";
  char hash[65], path[64];
  pipe__sigv4_hdr_t h[] = {{"Date", "Fri, 24 May 2013 00:00:00 GMT"},
                           {"x-amz-storage-class", "REDUCED_REDUNDANCY"}};
  pipe__sigv4_req_t r;
  pipe__sigv4_out_t out;
  pipe__sigv4_sha256_hex(body, strlen(body), hash);
  cr_assert_str_eq(
      hash, "44ce7dd67c959e0d3524ffac1771dfbba87d2b6b4b4e99e42034a8b803f8b072");
  cr_assert_eq(
      pipe__sigv4_uri_encode("/test$file.text", 15, 0, path, sizeof(path)), 17);
  cr_assert_str_eq(path, "/test%24file.text");
  r = aws_example("PUT", path, NULL);
  r.headers = h;
  r.nheaders = 2;
  r.payload_hash = hash;
  cr_assert_eq(pipe__sigv4_sign(&r, &out), 0);
  cr_expect(strstr(out.authorization,
                   "SignedHeaders=date;host;x-amz-content-sha256;x-amz-date;"
                   "x-amz-storage-class, "));
  cr_expect_str_eq(
      signature_of(&out),
      "98ad721746da40c64f1a55b78f14c238d841ea1380cd77a1b5971af0ece108bd");
}

Test(sigv4_aws, get_lifecycle_signs_a_name_without_value_as_name_equals) {
  pipe__sigv4_req_t r = aws_example("GET", "/", "lifecycle");
  pipe__sigv4_out_t out;
  cr_assert_eq(pipe__sigv4_sign(&r, &out), 0);
  cr_expect_str_eq(
      signature_of(&out),
      "fea454ca298b7da1c68078a5d1bdbfbbe0d65c699e0f91ac7a200a0136783543");
  r.query = "lifecycle="; /* the same request, written the other way */
  cr_assert_eq(pipe__sigv4_sign(&r, &out), 0);
  cr_expect_str_eq(
      signature_of(&out),
      "fea454ca298b7da1c68078a5d1bdbfbbe0d65c699e0f91ac7a200a0136783543");
}

Test(sigv4_aws, list_objects_sorts_the_query_pairs) {
  static const char* const orders[] = {"max-keys=2&prefix=J",
                                       "prefix=J&max-keys=2"};
  size_t i;
  for (i = 0; i < 2; i++) {
    pipe__sigv4_req_t r = aws_example("GET", "/", orders[i]);
    pipe__sigv4_out_t out;
    cr_assert_eq(pipe__sigv4_sign(&r, &out), 0);
    cr_expect_str_eq(
        signature_of(&out),
        "34b48302e7b5fa45bde8084f4b7868a86f0a534bc59db6670ed5711ef69dc6f7",
        "query %s", orders[i]);
  }
}

/* ---- botocore, case by case --------------------------------------------- */

typedef struct qp_s {
  const char* name;
  const char* value; /* NULL: a name without '=' ("uploads") */
} qp_t;

typedef struct bcase_s {
  const char* what;
  const char* method;
  const char* scheme;
  const char* host;
  const char* path; /* raw: "/bucket/" + key */
  qp_t query[6];    /* terminated by a NULL name */
  pipe__sigv4_hdr_t headers[6];
  const char* body; /* NULL: no body (empty payload) */
  int unsigned_payload;
  const char* access_key;
  const char* secret_key;
  const char* token;
  const char* region;
  long long now;
} bcase_t;

#define LOCAL "127.0.0.1:8080"
#define TT "test:tester"
#define MD5 "1B2M2Y8AsgTpgAmY7PhCfg=="

static const bcase_t cases[] = {
    {"GET object",
     "GET",
     "http",
     LOCAL,
     "/bucket/key.txt",
     {{0}},
     {{0}},
     NULL,
     0,
     TT,
     "testing",
     NULL,
     "us-east-1",
     1700000000},
    {"PUT object with a body and extra headers",
     "PUT",
     "http",
     LOCAL,
     "/bucket/dir/file.bin",
     {{0}},
     {{"Content-MD5", "XUFAKrxLKna5cZ2REBfFkg=="},
      {"Content-Type", "application/octet-stream"},
      {"x-amz-meta-Owner", "  Ada   Lovelace  "},
      {"X-Amz-Meta-empty", ""}},
     "hello",
     0,
     TT,
     "testing",
     NULL,
     "us-east-1",
     1700000001},
    {"POST ?uploads (CreateMultipartUpload)",
     "POST",
     "http",
     LOCAL,
     "/bucket/big.json.gz",
     {{"uploads", NULL}},
     {{"Content-Type", "application/gzip"}},
     NULL,
     0,
     TT,
     "testing",
     NULL,
     "us-east-1",
     1700000002},
    {"PUT ?partNumber&uploadId (UploadPart), unsigned",
     "PUT",
     "http",
     LOCAL,
     "/bucket/big.json.gz",
     {{"uploadId", "2~ab/cd+ef=="}, {"partNumber", "12"}},
     {{"Content-MD5", "kAFQmDzST7DWlj99KOF/cg=="},
      {"Content-Length", "1048576"}},
     NULL,
     1,
     TT,
     "testing",
     NULL,
     "us-east-1",
     1700000003},
    {"POST ?uploadId (CompleteMultipartUpload)",
     "POST",
     "http",
     LOCAL,
     "/bucket/big.json.gz",
     {{"uploadId", "tx00000-abc"}},
     {{0}},
     "<CompleteMultipartUpload><Part><PartNumber>1</PartNumber>"
     "<ETag>\"a\"</ETag></Part></CompleteMultipartUpload>",
     0,
     TT,
     "testing",
     NULL,
     "us-east-1",
     1700000004},
    {"DELETE ?uploadId (AbortMultipartUpload)",
     "DELETE",
     "http",
     LOCAL,
     "/bucket/big.json.gz",
     {{"uploadId", "tx00000-abc"}},
     {{0}},
     NULL,
     0,
     TT,
     "testing",
     NULL,
     "us-east-1",
     1700000005},
    {"DELETE object",
     "DELETE",
     "https",
     "bucket.s3.eu-west-1.amazonaws.com",
     "/old/object",
     {{0}},
     {{0}},
     NULL,
     0,
     AWS_KEY,
     AWS_SECRET,
     NULL,
     "eu-west-1",
     1700000006},
    {"GET ?list-type=2 with a prefix of spaces and unicode",
     "GET",
     "http",
     LOCAL,
     "/bucket",
     {{"list-type", "2"},
      {"prefix",
       "with spaces/\xc3\xbcnic\xc3\xb8"
       "de \xe2\x82\xac/"},
      {"delimiter", "/"},
      {"continuation-token", "a+b/c=="},
      {"max-keys", "1000"}},
     {{0}},
     NULL,
     0,
     TT,
     "testing",
     NULL,
     "us-east-1",
     1700000007},
    {"GET ?uploads with a prefix (ListMultipartUploads)",
     "GET",
     "http",
     LOCAL,
     "/bucket/",
     {{"uploads", NULL}, {"prefix", "a&b=c?d#e"}},
     {{0}},
     NULL,
     0,
     TT,
     "testing",
     NULL,
     "us-east-1",
     1700000008},
    {"key with every reserved character",
     "PUT",
     "http",
     LOCAL,
     "/bucket/a b+c=d&e?f#g%h~i!j'k(l)m*n/o:p@q,r;s$t[u]v{w}x|y\\z^`\"<>",
     {{0}},
     {{0}},
     "x",
     0,
     TT,
     "testing",
     NULL,
     "us-east-1",
     1700000009},
    {"key of non-ASCII UTF-8",
     "GET",
     "http",
     LOCAL,
     "/bucket/\xe6\x97\xa5\xe6\x9c\xac\xe8\xaa\x9e/\xc3\xa9t\xc3\xa9 "
     "\xf0\x9f\x98\x80.txt",
     {{0}},
     {{0}},
     NULL,
     0,
     TT,
     "testing",
     NULL,
     "us-east-1",
     1700000010},
    {"key with empty segments and a trailing slash",
     "PUT",
     "http",
     LOCAL,
     "/bucket//a//b/",
     {{0}},
     {{0}},
     "",
     0,
     TT,
     "testing",
     NULL,
     "us-east-1",
     1700000011},
    {"key of a percent sign and a literal %20",
     "GET",
     "http",
     LOCAL,
     "/bucket/100%/a%20b",
     {{0}},
     {{0}},
     NULL,
     0,
     TT,
     "testing",
     NULL,
     "us-east-1",
     1700000012},
    {"session token",
     "PUT",
     "https",
     "b.s3.us-west-2.amazonaws.com",
     "/k",
     {{0}},
     {{"Content-MD5", MD5}},
     "",
     0,
     "ASIAEXAMPLEKEY",
     "secret/with+chars=",
     "IQoJb3JpZ2luX2VjEAoaCXVzLWVhc3QtMSJHMEUCIQ+/=",
     "us-west-2",
     1700000013},
    {"session token, unsigned payload, ranged GET",
     "GET",
     "https",
     "b.s3.us-west-2.amazonaws.com",
     "/k",
     {{"partNumber", "3"}},
     {{"Range", "bytes=0-1048575"}},
     NULL,
     1,
     "ASIAEXAMPLEKEY",
     "s",
     "token",
     "us-west-2",
     1700000014},
    {"UNSIGNED-PAYLOAD PUT with Content-MD5",
     "PUT",
     "https",
     "127.0.0.1:8443",
     "/bucket/u",
     {{0}},
     {{"Content-MD5", "XUFAKrxLKna5cZ2REBfFkg=="},
      {"x-amz-meta-a", "1"},
      {"x-amz-meta-b", "two  words"}},
     NULL,
     1,
     TT,
     "testing",
     NULL,
     "us-east-1",
     1700000015},
    {"another region and a leap day",
     "HEAD",
     "http",
     LOCAL,
     "/bucket/k",
     {{0}},
     {{0}},
     NULL,
     0,
     TT,
     "testing",
     NULL,
     "ap-southeast-2",
     951782400 /* 2000-02-29 */},
    {"query value with reserved characters and an empty value",
     "GET",
     "http",
     LOCAL,
     "/bucket",
     {{"prefix", "a/b=c&d e+f%g~h"}, {"marker", ""}, {"acl", NULL}},
     {{0}},
     NULL,
     0,
     TT,
     "testing",
     NULL,
     "us-east-1",
     1700000016},
};
#define NCASES (sizeof(cases) / sizeof(*cases))

/* A growing string for the JSON sent to the oracle. */
typedef struct sb_s {
  char* p;
  size_t len, cap;
} sb_t;

static void sb_mem(sb_t* b, const char* s, size_t n) {
  if (b->len + n + 1 > b->cap) {
    b->cap = (b->len + n + 1) * 2;
    b->p = realloc(b->p, b->cap);
    cr_assert(b->p);
  }
  memcpy(b->p + b->len, s, n);
  b->len += n;
  b->p[b->len] = '\0';
}

static void sb_str(sb_t* b, const char* s) {
  sb_mem(b, s, strlen(s));
}

/* A JSON string: quotes, backslashes and control bytes escaped; UTF-8
 * passes as it is. */
static void sb_json(sb_t* b, const char* s) {
  if (!s) {
    sb_str(b, "null");
    return;
  }
  sb_str(b, "\"");
  for (; *s; s++) {
    unsigned char c = (unsigned char)*s;
    char esc[8];
    if (c == '"' || c == '\\') {
      esc[0] = '\\';
      esc[1] = (char)c;
      sb_mem(b, esc, 2);
    } else if (c < 0x20) {
      snprintf(esc, sizeof(esc), "\\u%04x", c);
      sb_str(b, esc);
    } else {
      sb_mem(b, (const char*)&c, 1);
    }
  }
  sb_str(b, "\"");
}

static void case_json(sb_t* b, const bcase_t* c) {
  char num[32];
  size_t i;
  sb_str(b, "{\"method\":");
  sb_json(b, c->method);
  sb_str(b, ",\"scheme\":");
  sb_json(b, c->scheme);
  sb_str(b, ",\"host\":");
  sb_json(b, c->host);
  sb_str(b, ",\"path\":");
  sb_json(b, c->path);
  sb_str(b, ",\"query\":[");
  for (i = 0; c->query[i].name; i++) {
    sb_str(b, i ? ",[" : "[");
    sb_json(b, c->query[i].name);
    sb_str(b, ",");
    sb_json(b, c->query[i].value);
    sb_str(b, "]");
  }
  sb_str(b, "],\"headers\":[");
  for (i = 0; c->headers[i].name; i++) {
    sb_str(b, i ? ",[" : "[");
    sb_json(b, c->headers[i].name);
    sb_str(b, ",");
    sb_json(b, c->headers[i].value);
    sb_str(b, "]");
  }
  sb_str(b, "],\"body\":");
  sb_json(b, c->body);
  sb_str(b, c->unsigned_payload ? ",\"unsigned\":true" : ",\"unsigned\":false");
  sb_str(b, ",\"access_key\":");
  sb_json(b, c->access_key);
  sb_str(b, ",\"secret_key\":");
  sb_json(b, c->secret_key);
  sb_str(b, ",\"token\":");
  sb_json(b, c->token);
  sb_str(b, ",\"region\":");
  sb_json(b, c->region);
  snprintf(num, sizeof(num), ",\"now\":%lld}", c->now);
  sb_str(b, num);
}

/* Encodes the raw path one segment at a time (the slashes stay), as the
 * S3 client must. */
static void encode_path(const char* raw, char* out, size_t cap) {
  size_t n = pipe__sigv4_uri_encode(raw, strlen(raw), 0, out, cap);
  cr_assert_lt(n, cap);
}

/* The query as the S3 client sends it: each raw name and value encoded
 * ('/' too), "name" alone where the case has no value, in the order given
 * (the signer sorts). */
static void encode_query(const qp_t* q, char* out, size_t cap) {
  size_t len = 0, i;
  out[0] = '\0';
  for (i = 0; q[i].name; i++) {
    if (i) out[len++] = '&';
    len += pipe__sigv4_uri_encode(q[i].name, strlen(q[i].name), 1, out + len,
                                  cap - len);
    if (q[i].value) {
      out[len++] = '=';
      len += pipe__sigv4_uri_encode(q[i].value, strlen(q[i].value), 1,
                                    out + len, cap - len);
    }
    cr_assert_lt(len + 2, cap);
  }
}

static void sign_case(const bcase_t* c, char* hash, pipe__sigv4_out_t* out) {
  char path[1024], query[1024];
  pipe__sigv4_req_t r;
  size_t nh = 0;
  int rc;
  while (c->headers[nh].name) nh++;
  encode_path(c->path, path, sizeof(path));
  encode_query(c->query, query, sizeof(query));
  if (c->unsigned_payload)
    memcpy(hash, PIPE_SIGV4_UNSIGNED, sizeof(PIPE_SIGV4_UNSIGNED));
  else
    pipe__sigv4_sha256_hex(c->body ? c->body : "",
                           c->body ? strlen(c->body) : 0, hash);
  r = (pipe__sigv4_req_t){.method = c->method,
                          .host = c->host,
                          .path = path,
                          .query = query,
                          .headers = nh ? c->headers : NULL,
                          .nheaders = nh,
                          .payload_hash = hash,
                          .region = c->region,
                          .service = "s3",
                          .access_key = c->access_key,
                          .secret_key = c->secret_key,
                          .session_token = c->token,
                          .now = c->now};
  rc = pipe__sigv4_sign(&r, out);
  cr_assert_eq(rc, 0, "%s: sign returned %d", c->what, rc);
}

TestSuite(sigv4_botocore, .timeout = 60);

Test(sigv4_botocore, every_case_signs_as_botocore_signs_it) {
  sb_t json = {0};
  cli_result_t res;
  char cmd[1024];
  const char* line;
  size_t i;

  sb_str(&json, "[");
  for (i = 0; i < NCASES; i++) {
    if (i) sb_str(&json, ",\n");
    case_json(&json, &cases[i]);
  }
  sb_str(&json, "]");
  snprintf(cmd, sizeof(cmd),
           "/usr/bin/python3 %s/tests/codec/sigv4_botocore.py",
           PIPE_SOURCE_DIR);
  res = cli_exec(cmd, json.p);
  cr_assert_eq(res.status, 0, "botocore oracle failed: %s", res.err);

  line = res.out;
  for (i = 0; i < NCASES; i++) {
    const bcase_t* c = &cases[i];
    const char* nl = strchr(line, '\n');
    const char* tab = strchr(line, '\t');
    char want_hash[128], want_auth[1024], hash[65];
    pipe__sigv4_out_t out;
    cr_assert(nl && tab && tab < nl, "%s: no line from botocore", c->what);
    cr_assert_lt((size_t)(tab - line), sizeof(want_hash));
    cr_assert_lt((size_t)(nl - tab - 1), sizeof(want_auth));
    memcpy(want_hash, line, (size_t)(tab - line));
    want_hash[tab - line] = '\0';
    memcpy(want_auth, tab + 1, (size_t)(nl - tab - 1));
    want_auth[nl - tab - 1] = '\0';

    sign_case(c, hash, &out);
    cr_expect_str_eq(hash, want_hash, "%s: payload hash", c->what);
    cr_expect_str_eq(out.authorization, want_auth, "%s: Authorization",
                     c->what);
    line = nl + 1;
  }
  cr_expect_eq(*line, '\0', "botocore printed more lines than cases");
  cli_result_free(&res);
  free(json.p);
}

/* ---- properties of the signer ------------------------------------------- */

TestSuite(sigv4);

Test(sigv4, an_access_key_with_a_colon_appears_verbatim_in_the_credential) {
  pipe__sigv4_req_t r = aws_example("GET", "/bucket/k", NULL);
  pipe__sigv4_out_t out;
  r.access_key = "test:tester";
  r.host = "127.0.0.1:8080";
  cr_assert_eq(pipe__sigv4_sign(&r, &out), 0);
  cr_expect(
      strstr(out.authorization,
             "Credential=test:tester/20130524/us-east-1/s3/aws4_request,"),
      "%s", out.authorization);
}

Test(sigv4, a_session_token_is_signed_as_x_amz_security_token) {
  pipe__sigv4_req_t r = aws_example("GET", "/k", NULL);
  pipe__sigv4_out_t with, without;
  cr_assert_eq(pipe__sigv4_sign(&r, &without), 0);
  r.session_token = "";
  cr_assert_eq(pipe__sigv4_sign(&r, &with), 0);
  cr_expect_str_eq(with.authorization, without.authorization,
                   "an empty token is no token");
  r.session_token = "tok";
  cr_assert_eq(pipe__sigv4_sign(&r, &with), 0);
  cr_expect(strstr(with.authorization,
                   "SignedHeaders=host;x-amz-content-sha256;x-amz-date;"
                   "x-amz-security-token, "));
  cr_expect_str_neq(signature_of(&with), signature_of(&without));
}

Test(sigv4, header_names_sort_case_insensitively_and_repeats_join_with_commas) {
  pipe__sigv4_hdr_t h1[] = {{"X-B", "2"}, {"x-a", " 1 "}, {"x-b", "3"}};
  pipe__sigv4_hdr_t h2[] = {{"x-a", "1"}, {"x-b", "2,3"}};
  pipe__sigv4_req_t r = aws_example("GET", "/k", NULL);
  pipe__sigv4_out_t o1, o2;
  r.headers = h1;
  r.nheaders = 3;
  cr_assert_eq(pipe__sigv4_sign(&r, &o1), 0);
  r.headers = h2;
  r.nheaders = 2;
  cr_assert_eq(pipe__sigv4_sign(&r, &o2), 0);
  cr_expect_str_eq(o1.authorization, o2.authorization);
  cr_expect(
      strstr(o1.authorization,
             "SignedHeaders=host;x-a;x-amz-content-sha256;x-amz-date;x-b,"));
}

Test(sigv4, the_signature_changes_with_every_input) {
  pipe__sigv4_req_t base = aws_example("GET", "/k", "a=1");
  pipe__sigv4_out_t o0, o;
  pipe__sigv4_req_t r;
  cr_assert_eq(pipe__sigv4_sign(&base, &o0), 0);
#define CHANGED(field, value)                                       \
  do {                                                              \
    r = base;                                                       \
    r.field = value;                                                \
    cr_assert_eq(pipe__sigv4_sign(&r, &o), 0);                      \
    cr_expect_str_neq(signature_of(&o), signature_of(&o0), #field); \
  } while (0)
  CHANGED(method, "PUT");
  CHANGED(host, "other.s3.amazonaws.com");
  CHANGED(path, "/K");
  CHANGED(query, "a=2");
  CHANGED(payload_hash, PIPE_SIGV4_UNSIGNED);
  CHANGED(region, "us-east-2");
  CHANGED(service, "s4");
  CHANGED(secret_key, "other");
  CHANGED(now, AWS_NOW + 1);
#undef CHANGED
}

Test(sigv4, the_date_is_utc_and_out_is_untouched_on_error) {
  pipe__sigv4_req_t r = aws_example("GET", "/k", NULL);
  pipe__sigv4_out_t out;
  r.now = 1700000000; /* 2023-11-14T22:13:20Z */
  cr_assert_eq(pipe__sigv4_sign(&r, &out), 0);
  cr_expect_str_eq(out.amz_date, "20231114T221320Z");
  cr_expect(strstr(out.authorization, "/20231114/us-east-1/s3/aws4_request"));
  r.method = NULL;
  memset(&out, 'x', sizeof(out));
  cr_assert_eq(pipe__sigv4_sign(&r, &out), PIPE_EINVAL);
  cr_expect_eq(out.amz_date[0], 'x');
}

Test(sigv4, missing_fields_and_bad_headers_are_einval) {
  pipe__sigv4_req_t base = aws_example("GET", "/k", NULL);
  pipe__sigv4_req_t r;
  pipe__sigv4_out_t out;
  pipe__sigv4_hdr_t bad_name[] = {{"x bad", "v"}};
  pipe__sigv4_hdr_t colon[] = {{"x:a", "v"}};
  pipe__sigv4_hdr_t crlf[] = {{"x-a", "v\r\nx-b: w"}};
  pipe__sigv4_hdr_t ours[] = {{"X-Amz-Date", "20000101T000000Z"}};
  pipe__sigv4_hdr_t host[] = {{"Host", "evil"}};
  cr_expect_eq(pipe__sigv4_sign(NULL, &out), PIPE_EINVAL);
  cr_expect_eq(pipe__sigv4_sign(&base, NULL), PIPE_EINVAL);
#define BAD(field, value)                                          \
  do {                                                             \
    r = base;                                                      \
    r.field = value;                                               \
    cr_expect_eq(pipe__sigv4_sign(&r, &out), PIPE_EINVAL, #field); \
  } while (0)
  BAD(method, "");
  BAD(host, NULL);
  BAD(path, "no-slash");
  BAD(payload_hash, NULL);
  BAD(region, "");
  BAD(service, NULL);
  BAD(access_key, "");
  BAD(secret_key, NULL);
  BAD(now, -1);
#undef BAD
#define BADH(arr)                                                \
  do {                                                           \
    r = base;                                                    \
    r.headers = arr;                                             \
    r.nheaders = 1;                                              \
    cr_expect_eq(pipe__sigv4_sign(&r, &out), PIPE_EINVAL, #arr); \
  } while (0)
  BADH(bad_name);
  BADH(colon);
  BADH(crlf);
  BADH(ours);
  BADH(host);
#undef BADH
  r = base;
  r.nheaders = 1; /* headers NULL */
  cr_expect_eq(pipe__sigv4_sign(&r, &out), PIPE_EINVAL);
}

Test(sigv4, what_does_not_fit_is_enospc) {
  static pipe__sigv4_hdr_t many[65];
  static char big[40 * 1024];
  pipe__sigv4_hdr_t one[1];
  pipe__sigv4_req_t r = aws_example("GET", "/k", NULL);
  pipe__sigv4_out_t out;
  char key[1100];
  size_t i;
  for (i = 0; i < 65; i++) many[i] = (pipe__sigv4_hdr_t){"x-a", "v"};
  r.headers = many;
  r.nheaders = 65;
  cr_expect_eq(pipe__sigv4_sign(&r, &out), PIPE_ENOSPC);
  r.nheaders = 64;
  cr_expect_eq(pipe__sigv4_sign(&r, &out), 0);

  memset(big, 'a', sizeof(big) - 1);
  one[0] = (pipe__sigv4_hdr_t){"x-big", big};
  r.headers = one;
  r.nheaders = 1;
  cr_expect_eq(pipe__sigv4_sign(&r, &out), PIPE_ENOSPC);

  r.nheaders = 0;
  memset(key, 'k', sizeof(key) - 1);
  key[sizeof(key) - 1] = '\0';
  r.access_key = key; /* the Credential would overflow Authorization */
  cr_expect_eq(pipe__sigv4_sign(&r, &out), PIPE_ENOSPC);
}

Test(sigv4, sha256_hex_of_known_inputs) {
  char h[65];
  pipe__sigv4_sha256_hex("", 0, h);
  cr_expect_str_eq(h, PIPE_SIGV4_EMPTY_SHA256);
  pipe__sigv4_sha256_hex(NULL, 0, h);
  cr_expect_str_eq(h, PIPE_SIGV4_EMPTY_SHA256);
  pipe__sigv4_sha256_hex("abc", 3, h);
  cr_expect_str_eq(
      h, "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");
}

/* ---- URI encoding ------------------------------------------------------- */

TestSuite(sigv4_uri);

typedef struct enc_s {
  const char* in;
  int slash;
  const char* want;
} enc_t;

Test(sigv4_uri, encodes_all_but_the_unreserved_characters) {
  static const enc_t t[] = {
      {"", 0, ""},
      {"AZaz09-._~", 1, "AZaz09-._~"},
      {"a/b/", 0, "a/b/"},
      {"a/b/", 1, "a%2Fb%2F"},
      {" ", 0, "%20"},
      {"+", 0, "%2B"},
      {"=&?#%", 1, "%3D%26%3F%23%25"},
      {"!'()*", 0, "%21%27%28%29%2A"},
      {":@,;$", 0, "%3A%40%2C%3B%24"},
      {"%20", 0, "%2520"}, /* never decodes: raw input only */
      {"\xc3\xa9", 0, "%C3%A9"},
      {"\xe2\x82\xac", 1, "%E2%82%AC"},
      {"\xf0\x9f\x98\x80", 0, "%F0%9F%98%80"},
      {"\x01\x7f\xff", 0, "%01%7F%FF"},
  };
  size_t i;
  for (i = 0; i < sizeof(t) / sizeof(*t); i++) {
    char out[64];
    size_t n = pipe__sigv4_uri_encode(t[i].in, strlen(t[i].in), t[i].slash, out,
                                      sizeof(out));
    cr_expect_str_eq(out, t[i].want, "case %zu", i);
    cr_expect_eq(n, strlen(t[i].want), "case %zu", i);
  }
}

Test(sigv4_uri, a_nul_byte_inside_the_length_is_encoded) {
  char out[16];
  cr_expect_eq(pipe__sigv4_uri_encode("a\0b", 3, 0, out, sizeof(out)), 5);
  cr_expect_str_eq(out, "a%00b");
}

Test(sigv4_uri, truncates_like_snprintf_without_splitting_an_escape) {
  char out[8];
  /* "ab%20cd" needs 7 + NUL: fits exactly in 8. */
  cr_expect_eq(pipe__sigv4_uri_encode("ab cd", 5, 0, out, 8), 7);
  cr_expect_str_eq(out, "ab%20cd");
  cr_expect_eq(pipe__sigv4_uri_encode("ab cd", 5, 0, out, 7), 7);
  cr_expect_str_eq(out, "ab%20c");
  cr_expect_eq(pipe__sigv4_uri_encode("ab cd", 5, 0, out, 5), 7);
  cr_expect_str_eq(out, "ab", "half an escape is never written");
  cr_expect_eq(pipe__sigv4_uri_encode("ab cd", 5, 0, out, 1), 7);
  cr_expect_str_eq(out, "");
  cr_expect_eq(pipe__sigv4_uri_encode("ab cd", 5, 0, NULL, 0), 7);
}
