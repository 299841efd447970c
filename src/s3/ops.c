/* Listing objects and cleaning up multipart uploads: small state machines
 * over the client's requests, for `pipe s3 ls` and `pipe s3 cleanup`. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "codec/sigv4.h"
#include "s3/client.h"

typedef struct op_s {
  pipe_s3_client_t* c;
  char bucket[256];
  char* prefix;
  double older_than;
  pipe_s3_entry_cb entry_cb;
  pipe_s3_done_cb done_cb;
  void* data;
  char token[1200];     /* continuation token / key marker */
  char id_marker[512];  /* upload id marker */
  int truncated;
  /* cleanup: the current page's uploads to abort */
  char (*keys)[1100];
  char (*ids)[512];
  char (*inits)[40];
  size_t n, i;
  int first_err;
  pipe_error_t err;
} op_t;

static void op_finish(op_t* o, int status, const pipe_error_t* err) {
  o->done_cb(o->data, status, err);
  free(o->prefix);
  free(o->keys);
  free(o->ids);
  free(o->inits);
  free(o);
}

static void enc(const char* s, char* out, size_t cap) {
  pipe__sigv4_uri_encode(s, strlen(s), 1, out, cap);
}

/* ---- ListObjectsV2 ---------------------------------------------------- */

static void list_page(op_t* o);

static void list_done(pipe__s3_req_t* r) {
  op_t* o = r->data;
  size_t pos = 0, a, b;
  char trunc[16] = "";
  if (r->result < 0) {
    pipe_error_t e = r->err;
    pipe__s3_req_free(r);
    op_finish(o, e.code, &e);
    return;
  }
  while (pipe__s3_xml_span(r->resp, r->resp_len, &pos, "Contents", &a, &b)) {
    char key[1100] = "", size[32] = "0", lm[40] = "", etag[128] = "";
    size_t p = a, n = b;
    pipe_s3_entry_t e;
    const char* body = r->resp;
    pipe__s3_xml_get(body, n, &p, "Key", key, sizeof(key));
    p = a;
    pipe__s3_xml_get(body, n, &p, "Size", size, sizeof(size));
    p = a;
    pipe__s3_xml_get(body, n, &p, "LastModified", lm, sizeof(lm));
    p = a;
    pipe__s3_xml_get(body, n, &p, "ETag", etag, sizeof(etag));
    memset(&e, 0, sizeof(e));
    {
      size_t l = strlen(etag);
      if (l >= 2 && etag[0] == '"' && etag[l - 1] == '"') {
        memmove(etag, etag + 1, l - 2);
        etag[l - 2] = '\0';
      }
    }
    e.key = key;
    e.size = strtoull(size, NULL, 10);
    e.last_modified = lm;
    e.etag = etag;
    o->entry_cb(o->data, &e);
  }
  pos = 0;
  pipe__s3_xml_get(r->resp, r->resp_len, &pos, "IsTruncated", trunc, sizeof(trunc));
  o->token[0] = '\0';
  pos = 0;
  pipe__s3_xml_get(r->resp, r->resp_len, &pos, "NextContinuationToken", o->token,
                   sizeof(o->token));
  pipe__s3_req_free(r);
  if (strcmp(trunc, "true") == 0 && o->token[0] != '\0') {
    list_page(o);
    return;
  }
  op_finish(o, 0, NULL);
}

static void list_page(op_t* o) {
  char q[4200], ep[2048], et[2048];
  pipe__s3_req_t* r;
  enc(o->prefix, ep, sizeof(ep));
  enc(o->token, et, sizeof(et));
  snprintf(q, sizeof(q), "list-type=2&prefix=%s%s%s", ep,
           o->token[0] ? "&continuation-token=" : "", o->token[0] ? et : "");
  if (pipe__s3_req_new(o->c, "GET", o->bucket, "", q, &r) < 0) {
    pipe_error_t e;
    memset(&e, 0, sizeof(e));
    pipe_error_set(&e, PIPE_ENOMEM, "out of memory");
    op_finish(o, PIPE_ENOMEM, &e);
    return;
  }
  r->what = "list objects";
  r->on_done = list_done;
  r->data = o;
  if (pipe__s3_req_start(r) < 0) {
    pipe_error_t e = r->err;
    pipe__s3_req_free(r);
    op_finish(o, e.code, &e);
  }
}

static op_t* op_new(pipe_s3_client_t* c, const char* bucket, const char* prefix,
                    pipe_s3_entry_cb entry_cb, pipe_s3_done_cb done_cb, void* data) {
  op_t* o = calloc(1, sizeof(*o));
  if (o == NULL) return NULL;
  o->c = c;
  snprintf(o->bucket, sizeof(o->bucket), "%s", bucket);
  o->prefix = strdup(prefix ? prefix : "");
  if (o->prefix == NULL) {
    free(o);
    return NULL;
  }
  o->entry_cb = entry_cb;
  o->done_cb = done_cb;
  o->data = data;
  return o;
}

int pipe_s3_list(pipe_s3_client_t* c, const char* bucket, const char* prefix,
                 pipe_s3_entry_cb entry_cb, pipe_s3_done_cb done_cb, void* data) {
  op_t* o = op_new(c, bucket, prefix, entry_cb, done_cb, data);
  if (o == NULL) return PIPE_ENOMEM;
  list_page(o);
  return 0;
}

/* ---- cleanup ------------------------------------------------------------ */

static void uploads_page(op_t* o);
static void abort_next(op_t* o);

static void cleanup_abort_done(pipe__s3_req_t* r) {
  op_t* o = r->data;
  pipe_s3_entry_t e;
  memset(&e, 0, sizeof(e));
  e.key = o->keys[o->i];
  e.upload_id = o->ids[o->i];
  e.initiated = o->inits[o->i];
  if (r->result < 0 && r->result != PIPE_ES3NOTFOUND) {
    if (o->first_err == 0) {
      o->first_err = r->result;
      o->err = r->err;
    }
  } else {
    e.aborted = 1;
  }
  pipe__s3_req_free(r);
  o->entry_cb(o->data, &e);
  o->i++;
  abort_next(o);
}

static void abort_next(op_t* o) {
  while (o->i < o->n) {
    pipe_s3_entry_t e;
    int64_t t = pipe__s3_parse_time(o->inits[o->i]);
    if (o->older_than > 0 && t >= 0 && (double)(time(NULL) - t) < o->older_than) {
      memset(&e, 0, sizeof(e));
      e.key = o->keys[o->i];
      e.upload_id = o->ids[o->i];
      e.initiated = o->inits[o->i];
      o->entry_cb(o->data, &e);
      o->i++;
      continue;
    }
    {
      char q[700], ei[600];
      pipe__s3_req_t* r;
      enc(o->ids[o->i], ei, sizeof(ei));
      snprintf(q, sizeof(q), "uploadId=%s", ei);
      if (pipe__s3_req_new(o->c, "DELETE", o->bucket, o->keys[o->i], q, &r) < 0) {
        op_finish(o, PIPE_ENOMEM, NULL);
        return;
      }
      r->what = "abort multipart upload";
      r->on_done = cleanup_abort_done;
      r->data = o;
      if (pipe__s3_req_start(r) < 0) {
        pipe_error_t er = r->err;
        pipe__s3_req_free(r);
        op_finish(o, er.code, &er);
      }
      return;
    }
  }
  if (o->truncated) {
    uploads_page(o);
    return;
  }
  op_finish(o, o->first_err, o->first_err ? &o->err : NULL);
}

static void uploads_done(pipe__s3_req_t* r) {
  op_t* o = r->data;
  size_t pos = 0, a, b, n = 0;
  char trunc[16] = "";
  if (r->result < 0) {
    pipe_error_t e = r->err;
    pipe__s3_req_free(r);
    op_finish(o, e.code, &e);
    return;
  }
  while (pipe__s3_xml_span(r->resp, r->resp_len, &pos, "Upload", &a, &b)) n++;
  free(o->keys);
  free(o->ids);
  free(o->inits);
  o->keys = calloc(n + 1, sizeof(*o->keys));
  o->ids = calloc(n + 1, sizeof(*o->ids));
  o->inits = calloc(n + 1, sizeof(*o->inits));
  if (o->keys == NULL || o->ids == NULL || o->inits == NULL) {
    pipe__s3_req_free(r);
    op_finish(o, PIPE_ENOMEM, NULL);
    return;
  }
  o->n = 0;
  o->i = 0;
  pos = 0;
  while (pipe__s3_xml_span(r->resp, r->resp_len, &pos, "Upload", &a, &b)) {
    size_t p = a;
    pipe__s3_xml_get(r->resp, b, &p, "Key", o->keys[o->n], sizeof(o->keys[0]));
    p = a;
    pipe__s3_xml_get(r->resp, b, &p, "UploadId", o->ids[o->n], sizeof(o->ids[0]));
    p = a;
    pipe__s3_xml_get(r->resp, b, &p, "Initiated", o->inits[o->n], sizeof(o->inits[0]));
    o->n++;
  }
  pos = 0;
  pipe__s3_xml_get(r->resp, r->resp_len, &pos, "IsTruncated", trunc, sizeof(trunc));
  o->truncated = strcmp(trunc, "true") == 0;
  pos = 0;
  o->token[0] = o->id_marker[0] = '\0';
  pipe__s3_xml_get(r->resp, r->resp_len, &pos, "NextKeyMarker", o->token, sizeof(o->token));
  pos = 0;
  pipe__s3_xml_get(r->resp, r->resp_len, &pos, "NextUploadIdMarker", o->id_marker,
                   sizeof(o->id_marker));
  if (o->token[0] == '\0') o->truncated = 0;
  pipe__s3_req_free(r);
  abort_next(o);
}

static void uploads_page(op_t* o) {
  char q[5400], ep[2048], ek[2048], ei[600];
  pipe__s3_req_t* r;
  enc(o->prefix, ep, sizeof(ep));
  enc(o->token, ek, sizeof(ek));
  enc(o->id_marker, ei, sizeof(ei));
  snprintf(q, sizeof(q), "uploads&prefix=%s%s%s%s%s", ep,
           o->token[0] ? "&key-marker=" : "", o->token[0] ? ek : "",
           o->id_marker[0] ? "&upload-id-marker=" : "", o->id_marker[0] ? ei : "");
  if (pipe__s3_req_new(o->c, "GET", o->bucket, "", q, &r) < 0) {
    op_finish(o, PIPE_ENOMEM, NULL);
    return;
  }
  r->what = "list multipart uploads";
  r->on_done = uploads_done;
  r->data = o;
  if (pipe__s3_req_start(r) < 0) {
    pipe_error_t e = r->err;
    pipe__s3_req_free(r);
    op_finish(o, e.code, &e);
  }
}

int pipe_s3_cleanup(pipe_s3_client_t* c, const char* bucket, const char* prefix,
                    double older_than, pipe_s3_entry_cb entry_cb,
                    pipe_s3_done_cb done_cb, void* data) {
  op_t* o = op_new(c, bucket, prefix, entry_cb, done_cb, data);
  if (o == NULL) return PIPE_ENOMEM;
  o->older_than = older_than;
  uploads_page(o);
  return 0;
}
