/* AWS Signature Version 4 for S3 requests: a pure signer (no I/O, no
 * allocation), on OpenSSL's HMAC-SHA256 and SHA-256.
 *
 * The caller builds the request; the signer returns the values of the
 * headers it adds. The caller then sends, besides its own headers:
 *   Host: <host>                       (as given)
 *   x-amz-date: <out.amz_date>
 *   x-amz-content-sha256: <payload_hash as given>
 *   x-amz-security-token: <session_token>   (only when one is given)
 *   Authorization: <out.authorization>
 * The signed headers are host, x-amz-content-sha256, x-amz-date,
 * x-amz-security-token (with a token) and every header in req->headers
 * (names lowercased, values trimmed and inner runs of blanks folded, as
 * the SigV4 rules say), sorted by name. Two extra headers with the same
 * name (any case) sign as one, their values joined by ',' in the order
 * given (as HTTP folds them). An extra header may not be one the signer
 * adds itself (host, x-amz-date, x-amz-content-sha256,
 * x-amz-security-token, authorization): PIPE_EINVAL.
 *
 * What the signer checks: the fields are present, header names are HTTP
 * tokens, and nothing overflows. It does not check that path and query
 * are correctly encoded: they are signed byte for byte as given, so the
 * bytes sent must be the same bytes.
 *
 * Example (the AWS "GET Object" test vector):
 *   pipe__sigv4_req_t r = {.method = "GET", .host =
 * "examplebucket.s3.amazonaws.com", .path = "/test.txt", .headers =
 * &(pipe__sigv4_hdr_t){"Range", "bytes=0-9"}, .nheaders = 1, .payload_hash =
 * PIPE_SIGV4_EMPTY_SHA256, .region = "us-east-1", .service = "s3", .access_key
 * = ..., .secret_key = ..., .now = 1369353600}; pipe__sigv4_sign(&r, &out);  ->
 * "...Signature=f0e8bdb8..."
 *
 * Internal to libpipe (src/codec: pure, loop-free, not installed). */
#ifndef PIPE_CODEC_SIGV4_H
#define PIPE_CODEC_SIGV4_H

#include <stddef.h>
#include <stdint.h>

/* "UNSIGNED-PAYLOAD": the payload hash for bodies protected by
 * Content-MD5 instead (S3 accepts it over HTTP and HTTPS). */
#define PIPE_SIGV4_UNSIGNED "UNSIGNED-PAYLOAD"
/* SHA-256 of the empty string, the payload hash of bodiless requests. */
#define PIPE_SIGV4_EMPTY_SHA256 \
  "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"

typedef struct pipe__sigv4_hdr_s {
  const char* name; /* any case: "Content-MD5" */
  const char* value;
} pipe__sigv4_hdr_t;

typedef struct pipe__sigv4_req_s {
  const char* method; /* "PUT" */
  const char*
      host; /* Host header value: "127.0.0.1:8080", "b.s3.amazonaws.com" */
  const char*
      path; /* absolute path, already URI-encoded by the caller with
               pipe__sigv4_uri_encode(..., 0) per segment: "/bucket/a%20b" */
  const char*
      query; /* NULL or "" for none, else the raw query without '?',
                each name and value already URI-encoded
                (pipe__sigv4_uri_encode(..., 1)): "uploadId=x&partNumber=2",
                "uploads" (a name without '=' signs as "uploads=").
                The signer sorts the pairs (by name, then value);
                the caller may send them in any order. */
  const pipe__sigv4_hdr_t* headers; /* extra headers to sign; may be NULL */
  size_t nheaders;
  const char* payload_hash; /* lowercase hex SHA-256, PIPE_SIGV4_UNSIGNED or
                               PIPE_SIGV4_EMPTY_SHA256 */
  const char* region;       /* "us-east-1" */
  const char* service;      /* "s3" */
  const char* access_key;   /* may contain ':' ("test:tester") */
  const char* secret_key;
  const char* session_token; /* NULL or "" for none */
  int64_t now; /* seconds since the epoch (UTC); years 1970-9999 */
} pipe__sigv4_req_t;

typedef struct pipe__sigv4_out_s {
  char amz_date[17];        /* "20130524T000000Z" */
  char authorization[1024]; /* "AWS4-HMAC-SHA256 Credential=...,
                               SignedHeaders=..., Signature=..." */
} pipe__sigv4_out_t;

/** Signs req into out. Returns 0; PIPE_EINVAL for a missing field or a
 *  header name that is not a token; PIPE_ENOSPC when the canonical request
 *  or the Authorization value would not fit its fixed buffer (32 KiB /
 *  1 KiB), or when there are more than 64 extra headers or 128 query
 *  pairs. Borrows req for the call; out is written only on success.
 *  Thread-safe (no state). */
int pipe__sigv4_sign(const pipe__sigv4_req_t* req, pipe__sigv4_out_t* out);

/** URI-encodes in[0, n) the SigV4 way: unreserved characters
 *  (A-Z a-z 0-9 - . _ ~) as they are, every other byte %XX (uppercase hex),
 *  '/' kept when encode_slash is 0 (object key paths) and %2F when 1
 *  (query names and values). Writes at most cap bytes including the NUL
 *  and returns the length needed (snprintf-like: truncated if >= cap;
 *  out may be NULL when cap is 0, to ask for the length only). Percent
 *  signs are encoded too: pass the raw key, never an encoded one. */
size_t pipe__sigv4_uri_encode(const char* in, size_t n, int encode_slash,
                              char* out, size_t cap);

/** Lowercase hex SHA-256 of p[0, n) into out (65 bytes with the NUL). */
void pipe__sigv4_sha256_hex(const void* p, size_t n, char out[65]);

#endif /* PIPE_CODEC_SIGV4_H */
