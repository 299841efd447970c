/* CSV -> JSON converter (see csv2json.h for the contract and semantics).
 *
 * Two engines share one state:
 *
 *  - The fast path works on a batch of up to BATCH input bytes that starts at
 *    a field boundary (so outside quotes). The SIMD scanner (csv_scan.c) gives
 *    per-64-byte bitmasks; the fast path walks the structural bits (delimiter,
 *    LF or lone CR outside quotes; a batch without a lone CR, as every batch
 *    of an LF file, runs a loop instance that tests for LF only), and for
 *    each complete field whose bytes are
 *    RFC-shaped and whose worst-case output fits, writes key and value
 *    straight into the caller's buffer: memcpy when the field has no byte to
 *    escape, else an escape loop driven by the escape mask. It never reports
 *    syntax or UTF-8 errors itself: on anything unusual (a quote inside an
 *    unquoted field, junk after a closing quote, bad UTF-8, too many fields,
 *    a field with no end in the batch, no room and no progress yet) it stops
 *    at the start of that field and hands over ("defers").
 *
 *  - The slow path is a byte-at-a-time state machine, the reference for the
 *    semantics. It handles the header row, deferred fields, fields that span
 *    feed calls, and finish(). It returns to the dispatcher after each field
 *    so the fast path resumes as soon as possible. Its output goes through a
 *    small queue of pending segments (key strings, escape bytes, a staged
 *    value) so it can stop at any output byte and resume: that is what makes
 *    any output cap >= 1 work and any field size work.
 *
 * Invariant between calls: either st == ST_FSTART (at a field boundary, col
 * fields of the current record done) or the slow path is inside a field, with
 * everything it needs in this struct. Consumed input is never looked at again.
 */
#include "codec/csv2json.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "codec/csv_scan.h"

#ifdef __SSE2__
#include <emmintrin.h> /* x86-64 baseline: no run-time check needed */
#endif

#define BATCH 16384            /* input bytes scanned per fast-path batch */
#define NBLK (BATCH / 64)
#define INFER_MAX 64           /* longer unquoted fields are strings */
#define KEY_SLACK 64           /* readable bytes past the last key */
#define OUT_SLACK 64           /* writable bytes the fast path keeps spare */
#define NSEG 12                /* most segments one slow-path step queues */

enum { ST_FSTART, ST_FSTART_CR, ST_UNQ, ST_UNQ_CR, ST_QUO, ST_QUO_Q,
       ST_AFTER_CR };
enum { SINK_OUT, SINK_INFER, SINK_HEADER, SINK_DISCARD };
enum { FAST_MORE, FAST_FULL, FAST_DEFER, FAST_ERR };

typedef struct {
  const uint8_t* p;
  size_t n;
} seg_t;

struct pipe_csvj_s {
  pipe_csvj_opts_t o;
  pipe_csv_scan_fn scan;
  pipe_error_t err; /* err.code != 0: failed, sticky */

  /* Keys: kbuf holds, for column i, the bytes `,"<json-escaped key>":` at
   * koff[i], length klen[i]; for the first field of a record the ',' is
   * replaced by '{'. KEY_SLACK readable bytes always follow the last key so
   * the fast path may copy keys with fixed-size over-reads. */
  uint8_t* kbuf;
  size_t kused, kcap;
  size_t* koff;
  size_t* klen;
  size_t nkeys, keycap;
  uint64_t nexp;     /* expected fields per record; 0 = not known yet */
  /* With a header: the set of key names (raw, unescaped), see kset_*. */
  struct hslot_s* kset;
  size_t kset_mask, kset_count;
  uint8_t* kset_names;
  size_t kset_used, kset_cap;
  int header_done;   /* keys from the header are in place (or no header) */

  /* The header row while it is read: raw field bytes and field starts. */
  uint8_t* hbuf;
  size_t hlen, hcap;
  size_t* hoff;
  size_t hn, hoffcap;

  /* Position. */
  uint64_t off;      /* absolute input offset of the next feed's first byte */
  uint64_t line;     /* 1-based physical line of the next input byte */
  uint64_t rec_line; /* line where the current record started */
  uint64_t records;  /* data records completed */
  uint64_t col;      /* fields completed in the current record */

  /* Slow-path field state. */
  int st, sink, force_slow;
  uint64_t q_line, q_col; /* where the open quoted field started */
  int quo_cr;             /* in quotes, the last byte was a CR */
  int u8need;             /* UTF-8 continuation bytes still expected */
  uint8_t u8lo, u8hi;     /* allowed range of the next continuation byte */
  uint64_t u8off;         /* offset of the current sequence's lead byte */
  int u8seen;             /* bytes of the current sequence seen so far */
  uint8_t fbuf[INFER_MAX];
  size_t flen;            /* SINK_INFER: raw bytes buffered in fbuf */

  /* BOM: bytes of EF BB BF matched so far at the start of input; when the
   * match fails they are data and are replayed through the slow path. */
  int bom_done;
  size_t bomn, bom_replayed;

  int fin; /* finish() progress */

  /* Pending output of the slow path, flushed before anything else. The
   * segments point into kbuf, static strings, ebuf or pbuf; none of those
   * change until the queue is empty. */
  seg_t seg[NSEG];
  int nseg, segi;
  uint8_t ebuf[8];
  uint8_t pbuf[INFER_MAX * 6 + 8];

  /* Fast-path masks for one batch (+1 block for the padded tail). */
  uint64_t S[NBLK + 1], E[NBLK + 1], H[NBLK + 1];
};

static const uint8_t kBom[3] = {0xEF, 0xBB, 0xBF};
static const char kHex[] = "0123456789abcdef";

/* ---- small helpers --------------------------------------------------- */

static int fail(pipe_csvj_t* cj, int code, uint64_t line, uint64_t col,
                uint64_t off, const char* fmt, ...)
#if defined(__GNUC__)
    __attribute__((format(printf, 6, 7)))
#endif
    ;

static int fail(pipe_csvj_t* cj, int code, uint64_t line, uint64_t col,
                uint64_t off, const char* fmt, ...) {
  va_list ap;
  cj->err.code = code;
  snprintf(cj->err.stage, sizeof(cj->err.stage), "csv2json");
  va_start(ap, fmt);
  vsnprintf(cj->err.msg, sizeof(cj->err.msg), fmt, ap);
  va_end(ap);
  cj->err.line = line;
  cj->err.column = col;
  cj->err.record = cj->header_done ? cj->records + 1 : 0;
  cj->err.offset = off;
  cj->err.has_offset = 1;
  return code;
}

/* What the converter keeps beyond one field is the key table (one entry a
 * column) and, until it is done, the header row. Both grow with the width
 * of the data, not its length, but a hostile or broken file (one endless
 * line) must not turn that into unbounded memory: past these limits the run
 * fails with PIPE_ELIMIT. 65,536 columns is 4x Excel's, and a header row of
 * 1 MiB holds 65,536 names of 16 bytes. */
#define CSVJ_MAX_FIELDS 65536
#define CSVJ_MAX_HEADER_BYTES (1u << 20)

static int too_many_fields(pipe_csvj_t* cj) {
  return fail(cj, PIPE_ELIMIT, cj->line, cj->col + 1, cj->off,
              "more than %d fields in a record", CSVJ_MAX_FIELDS);
}

static int oom(pipe_csvj_t* cj) {
  return fail(cj, PIPE_ENOMEM, cj->line, cj->col + 1, cj->off, "out of memory");
}

/* Writes the JSON string escape of c (1, 2 or 6 bytes); returns its length. */
static inline size_t esc_byte(uint8_t* d, uint8_t c) {
  if (c >= 0x20 && c != '"' && c != '\\') {
    d[0] = c;
    return 1;
  }
  d[0] = '\\';
  switch (c) {
    case '"': d[1] = '"'; return 2;
    case '\\': d[1] = '\\'; return 2;
    case '\n': d[1] = 'n'; return 2;
    case '\r': d[1] = 'r'; return 2;
    case '\t': d[1] = 't'; return 2;
    case '\b': d[1] = 'b'; return 2;
    case '\f': d[1] = 'f'; return 2;
    default: break;
  }
  d[1] = 'u';
  d[2] = '0';
  d[3] = '0';
  d[4] = (uint8_t)kHex[c >> 4];
  d[5] = (uint8_t)kHex[c & 15];
  return 6;
}

static size_t esc_buf(uint8_t* d, const uint8_t* s, size_t n) {
  size_t i, o = 0;
  for (i = 0; i < n; i++) o += esc_byte(d + o, s[i]);
  return o;
}

/* One step of the UTF-8 validator (RFC 3629: no overlongs, no surrogates,
 * nothing above U+10FFFF). Returns 0 or -1. */
static inline int u8_step(int* need, uint8_t* lo, uint8_t* hi, uint8_t c) {
  if (*need) {
    if (c < *lo || c > *hi) return -1;
    *lo = 0x80;
    *hi = 0xBF;
    (*need)--;
    return 0;
  }
  if (c < 0x80) return 0;
  if (c < 0xC2) return -1;
  if (c < 0xE0) {
    *need = 1;
    *lo = 0x80;
    *hi = 0xBF;
  } else if (c < 0xF0) {
    *need = 2;
    *lo = c == 0xE0 ? 0xA0 : 0x80;
    *hi = c == 0xED ? 0x9F : 0xBF;
  } else if (c < 0xF5) {
    *need = 3;
    *lo = c == 0xF0 ? 0x90 : 0x80;
    *hi = c == 0xF4 ? 0x8F : 0xBF;
  } else {
    return -1;
  }
  return 0;
}

/* Whole-field validation for the fast path; same rules as u8_step. */
static int utf8_valid(const uint8_t* s, size_t n) {
  int need = 0;
  uint8_t lo = 0x80, hi = 0xBF;
  size_t i = 0;
  while (i < n) {
    if (need == 0 && i + 8 <= n) {
      uint64_t w;
      memcpy(&w, s + i, 8);
      if ((w & 0x8080808080808080ULL) == 0) {
        i += 8;
        continue;
      }
    }
    if (u8_step(&need, &lo, &hi, s[i])) return 0;
    i++;
  }
  return need == 0;
}

/* Exactly the JSON number grammar -?(0|[1-9][0-9]*)(\.[0-9]+)?([eE][+-]?[0-9]+)? */
static int is_json_number(const uint8_t* s, size_t n) {
  size_t i = 0;
#define DIG(k) ((k) < n && s[k] >= '0' && s[k] <= '9')
  if (i < n && s[i] == '-') i++;
  if (!DIG(i)) return 0;
  if (s[i] == '0') {
    i++;
  } else {
    while (DIG(i)) i++;
  }
  if (i < n && s[i] == '.') {
    i++;
    if (!DIG(i)) return 0;
    while (DIG(i)) i++;
  }
  if (i < n && (s[i] == 'e' || s[i] == 'E')) {
    i++;
    if (i < n && (s[i] == '+' || s[i] == '-')) i++;
    if (!DIG(i)) return 0;
    while (DIG(i)) i++;
  }
#undef DIG
  return i == n;
}


/* With infer: is this unquoted field written bare (number, bool, null)?
 * over16: 16 bytes are readable at s. The early exits depend on the column
 * more than on the record (a column of words, of dates, of integers), so
 * they predict well; measured faster than a branch-free classifier. */
#if defined(__GNUC__)
__attribute__((always_inline))
#endif
static inline int infer_bare(const uint8_t* s, size_t n, int over16) {
  if (n == 0) return 1;
  if (s[0] == 't') return n == 4 && memcmp(s, "true", 4) == 0;
  if (s[0] == 'f') return n == 5 && memcmp(s, "false", 5) == 0;
  if ((unsigned)(s[0] - '0') > 9 && s[0] != '-') return 0; /* words */
#ifdef __SSE2__
  if (n <= 16 && over16) {
    /* One mask of the non-digit bytes decides the usual shapes: integers
     * and plain decimals are accepted, anything whose first non-digit is not
     * '.', 'e' or 'E' (dates, times, codes) is rejected; exponents and the
     * rest take the full grammar. digit <=> max(x - '0', 9) == 9. */
    const __m128i x = _mm_loadu_si128((const __m128i*)s);
    const __m128i nine = _mm_set1_epi8(9);
    const __m128i d = _mm_sub_epi8(x, _mm_set1_epi8('0'));
    const unsigned neg = s[0] == '-';
    unsigned nd = ~(unsigned)_mm_movemask_epi8(
                      _mm_cmpeq_epi8(_mm_max_epu8(d, nine), nine)) &
                  ((1u << n) - 1) & ~neg;
    unsigned k;
    if (nd == 0) return n > neg && (s[neg] != '0' || n == neg + 1);
    k = (unsigned)__builtin_ctz(nd);
    if (k == neg) return 0; /* no digit before it */
    if (s[k] == '.') {
      nd &= nd - 1;
      if (k + 1 >= n || (nd & (1u << (k + 1)))) return 0; /* "1." "1.e" */
      if (s[neg] == '0' && k != neg + 1) return 0;         /* "01.5" */
      if (nd == 0) return 1;                               /* decimal */
    } else if (s[k] != 'e' && s[k] != 'E') {
      return 0; /* "2024-01-05", "12ab" */
    }
  }
#else
  (void)over16;
#endif
  return is_json_number(s, n);
}

/* ---- keys ------------------------------------------------------------ */

/* Appends the key prefix `,"<escaped name>":` for the next column. */
static int key_add(pipe_csvj_t* cj, const uint8_t* name, size_t n) {
  size_t need = cj->kused + 4 + 6 * n + KEY_SLACK;
  uint8_t* d;
  if (cj->nkeys == cj->keycap) {
    size_t nc = cj->keycap ? 2 * cj->keycap : 16;
    size_t* a = realloc(cj->koff, nc * sizeof(*a));
    if (a == NULL) return PIPE_ENOMEM;
    cj->koff = a;
    a = realloc(cj->klen, nc * sizeof(*a));
    if (a == NULL) return PIPE_ENOMEM;
    cj->klen = a;
    cj->keycap = nc;
  }
  if (need > cj->kcap) {
    size_t nc = cj->kcap ? 2 * cj->kcap : 1024;
    uint8_t* b;
    while (nc < need) nc *= 2;
    b = realloc(cj->kbuf, nc);
    if (b == NULL) return PIPE_ENOMEM;
    cj->kbuf = b;
    cj->kcap = nc;
  }
  d = cj->kbuf + cj->kused;
  d[0] = ',';
  d[1] = '"';
  n = 2 + esc_buf(d + 2, name, n);
  d[n++] = '"';
  d[n++] = ':';
  memset(d + n, 0, KEY_SLACK);
  cj->koff[cj->nkeys] = cj->kused;
  cj->klen[cj->nkeys] = n;
  cj->nkeys++;
  cj->kused += n;
  return 0;
}

/* The set of final key names, for Miller-style dedupe: a, a, a -> a, a_2,
 * a_3. It lives as long as the converter because --ragged adds keys "_N"
 * for extra columns after the header, and those must not collide with a
 * header name either (header a,_3 and a row of 3 fields: the third key is
 * "_3_2"). Open addressing over offsets into one names buffer (so both can
 * grow by realloc); the next suffix to try is kept per base name, so N
 * copies of one name cost O(N), not O(N^2). */
typedef struct hslot_s {
  size_t off, len; /* in kset_names; len == SIZE_MAX: empty slot */
  unsigned long next;
} hslot_t;

static uint64_t hash_bytes(const uint8_t* s, size_t n) {
  uint64_t h = 1469598103934665603ULL;
  size_t i;
  for (i = 0; i < n; i++) h = (h ^ s[i]) * 1099511628211ULL;
  return h;
}

static hslot_t* hset_find(hslot_t* t, size_t mask, const uint8_t* names,
                          const uint8_t* s, size_t n) {
  size_t i = (size_t)hash_bytes(s, n) & mask;
  for (;; i = (i + 1) & mask) {
    if (t[i].len == SIZE_MAX) return &t[i];
    if (t[i].len == n && memcmp(names + t[i].off, s, n) == 0) return &t[i];
  }
}

/* Keeps the table at most half full. Returns 0 or PIPE_ENOMEM. */
static int kset_reserve(pipe_csvj_t* cj) {
  size_t nsize = cj->kset_mask ? cj->kset_mask + 1 : 0, i;
  hslot_t* t;
  if (nsize && 2 * (cj->kset_count + 1) <= nsize) return 0;
  nsize = nsize ? 2 * nsize : 64;
  t = malloc(nsize * sizeof(*t));
  if (t == NULL) return PIPE_ENOMEM;
  for (i = 0; i < nsize; i++) t[i].len = SIZE_MAX;
  for (i = 0; cj->kset && i <= cj->kset_mask; i++) {
    hslot_t* o = &cj->kset[i];
    if (o->len == SIZE_MAX) continue;
    *hset_find(t, nsize - 1, cj->kset_names, cj->kset_names + o->off,
               o->len) = *o;
  }
  free(cj->kset);
  cj->kset = t;
  cj->kset_mask = nsize - 1;
  return 0;
}

/* Adds the key for the next column: name[0,n) made unique with _2, _3...
 * Returns 0 or PIPE_ENOMEM. */
static int key_add_unique(pipe_csvj_t* cj, const uint8_t* name, size_t n) {
  size_t base = cj->kset_used, rn = n;
  uint8_t* names;
  hslot_t* slot;
  if (kset_reserve(cj) < 0) return PIPE_ENOMEM;
  if (cj->kset_used + n + 24 > cj->kset_cap) { /* "_" + 20 digits + slack */
    size_t nc = cj->kset_cap ? 2 * cj->kset_cap : 1024;
    uint8_t* b;
    while (nc < cj->kset_used + n + 24) nc *= 2;
    b = realloc(cj->kset_names, nc);
    if (b == NULL) return PIPE_ENOMEM;
    cj->kset_names = b;
    cj->kset_cap = nc;
  }
  names = cj->kset_names;
  memcpy(names + base, name, n);
  slot = hset_find(cj->kset, cj->kset_mask, names, names + base, n);
  if (slot->len != SIZE_MAX) { /* taken: try base_2, base_3, ... */
    hslot_t* bslot = slot;
    unsigned long k = bslot->next ? bslot->next : 2;
    for (;; k++) {
      rn = n + (size_t)snprintf((char*)names + base + n, 24, "_%lu", k);
      slot = hset_find(cj->kset, cj->kset_mask, names, names + base, rn);
      if (slot->len == SIZE_MAX) break;
    }
    bslot->next = k + 1;
  }
  slot->off = base;
  slot->len = rn;
  slot->next = 0;
  cj->kset_used += rn;
  cj->kset_count++;
  return key_add(cj, names + base, rn);
}

/* Makes sure column col has a key: "_N" past the header (unique among the
 * header's names), "N" without one. */
static int key_ensure(pipe_csvj_t* cj, uint64_t col) {
  if (col >= CSVJ_MAX_FIELDS) return too_many_fields(cj);
  while (cj->nkeys <= col) {
    char name[32];
    int n = snprintf(name, sizeof(name), "%s%llu", cj->o.header ? "_" : "",
                     (unsigned long long)cj->nkeys + 1);
    int r = cj->o.header ? key_add_unique(cj, (const uint8_t*)name, (size_t)n)
                         : key_add(cj, (const uint8_t*)name, (size_t)n);
    if (r < 0) return oom(cj);
  }
  return 0;
}

/* Turns the collected header row into keys. */
static int header_build(pipe_csvj_t* cj) {
  size_t i;
  if (cj->hn == cj->hoffcap) { /* room for the end sentinel */
    size_t* a = realloc(cj->hoff, (cj->hoffcap + 1) * sizeof(*a));
    if (a == NULL) return oom(cj);
    cj->hoff = a;
    cj->hoffcap++;
  }
  cj->hoff[cj->hn] = cj->hlen;
  for (i = 0; i < cj->hn; i++) {
    size_t rn = cj->hoff[i + 1] - cj->hoff[i];
    char num[24];
    int r;
    if (rn == 0) { /* empty name: its 1-based column number */
      int k = snprintf(num, sizeof(num), "%zu", i + 1);
      r = key_add_unique(cj, (const uint8_t*)num, (size_t)k);
    } else {
      r = key_add_unique(cj, cj->hbuf + cj->hoff[i], rn);
    }
    if (r < 0) return oom(cj);
  }
  cj->nexp = cj->hn;
  cj->header_done = 1;
  free(cj->hbuf);
  free(cj->hoff);
  cj->hbuf = NULL;
  cj->hoff = NULL;
  cj->hlen = cj->hcap = cj->hn = cj->hoffcap = 0;
  return 0;
}

static int hdr_field_start(pipe_csvj_t* cj) {
  if (cj->hn >= CSVJ_MAX_FIELDS) return too_many_fields(cj);
  if (cj->hn == cj->hoffcap) {
    size_t nc = cj->hoffcap ? 2 * cj->hoffcap : 16;
    size_t* a = realloc(cj->hoff, nc * sizeof(*a));
    if (a == NULL) return oom(cj);
    cj->hoff = a;
    cj->hoffcap = nc;
  }
  cj->hoff[cj->hn++] = cj->hlen;
  return 0;
}

static int hdr_put(pipe_csvj_t* cj, uint8_t c) {
  if (cj->hlen >= CSVJ_MAX_HEADER_BYTES)
    return fail(cj, PIPE_ELIMIT, cj->line, cj->col + 1, cj->off,
                "the header row is longer than %u bytes",
                CSVJ_MAX_HEADER_BYTES);
  if (cj->hlen == cj->hcap) {
    size_t nc = cj->hcap ? 2 * cj->hcap : 256;
    uint8_t* b = realloc(cj->hbuf, nc);
    if (b == NULL) return oom(cj);
    cj->hbuf = b;
    cj->hcap = nc;
  }
  cj->hbuf[cj->hlen++] = c;
  return 0;
}

/* ---- pending output (slow path) --------------------------------------- */

static inline void seg_push(pipe_csvj_t* cj, const void* p, size_t n) {
  if (n == 0) return;
  cj->seg[cj->nseg].p = p;
  cj->seg[cj->nseg].n = n;
  cj->nseg++;
}

/* Copies pending segments into out; returns 1 when none is left. */
static int seg_flush(pipe_csvj_t* cj, uint8_t* out, size_t cap, size_t* op) {
  while (cj->segi < cj->nseg) {
    seg_t* s = &cj->seg[cj->segi];
    size_t take = cap - *op;
    if (take > s->n) take = s->n;
    memcpy(out + *op, s->p, take);
    *op += take;
    s->p += take;
    s->n -= take;
    if (s->n) return 0;
    cj->segi++;
  }
  cj->nseg = cj->segi = 0;
  return 1;
}

/* Queues what precedes a value: record opener for the first field, key, and
 * the opening quote of a string. */
static void push_begin(pipe_csvj_t* cj, int quote) {
  const uint8_t* k = cj->kbuf + cj->koff[cj->col];
  size_t kl = cj->klen[cj->col];
  if (cj->col == 0) {
    if (cj->o.array) seg_push(cj, cj->records ? ",\n" : "[\n", 2);
    seg_push(cj, "{", 1);
    seg_push(cj, k + 1, kl - 1);
  } else {
    seg_push(cj, k, kl);
  }
  if (quote) seg_push(cj, "\"", 1);
}

/* ---- slow path: field and record events -------------------------------- */

/* The message carries no line or column: those are in the error's fields
 * and every caller prints them first (FILE:LINE:COL:). latin1: the bad
 * sequence looks like a Latin-1 / Windows-1252 byte (a byte >= 0x80 that is
 * no valid lead, or a lead not followed by a continuation byte) rather than
 * damaged UTF-8 (an overlong form, a surrogate, a cut sequence). */
static int utf8_fail(pipe_csvj_t* cj, uint64_t off, int latin1) {
  return fail(cj, PIPE_EUTF8, cj->line, cj->col + 1, off,
              "invalid UTF-8 (byte offset %llu)%s", (unsigned long long)off,
              latin1 ? "; the input looks like Latin-1: convert it with "
                       "iconv -f latin1 -t utf-8"
                     : "");
}

static int fields_fail(pipe_csvj_t* cj, uint64_t found, uint64_t off) {
  uint64_t bad = found > cj->nexp ? cj->nexp + 1 : found + 1;
  return fail(cj, PIPE_EFIELDS, cj->rec_line, bad, off,
              "expected %llu fields, found %llu", (unsigned long long)cj->nexp,
              (unsigned long long)found);
}

static int after_quote_fail(pipe_csvj_t* cj, uint8_t c, uint64_t off) {
  char shown[8];
  if (c >= 0x20 && c < 0x7F && c != '\'' && c != '\\')
    snprintf(shown, sizeof(shown), "%c", c);
  else if (c == '\r')
    snprintf(shown, sizeof(shown), "\\r");
  else if (c == '\t')
    snprintf(shown, sizeof(shown), "\\t");
  else
    snprintf(shown, sizeof(shown), "\\x%02x", c);
  /* A quoted field that spans lines was most likely opened by mistake (a
   * stray quote); the error is where it happened to close, so also name
   * where it opened: that is where the fix goes. */
  if (cj->q_line != cj->line)
    return fail(cj, PIPE_ECSV, cj->line, cj->col + 1, off,
                "unexpected character '%s' after closing quote; that quoted "
                "field opened at line %llu, column %llu",
                shown, (unsigned long long)cj->q_line,
                (unsigned long long)cj->q_col);
  return fail(cj, PIPE_ECSV, cj->line, cj->col + 1, off,
              "unexpected character '%s' after closing quote", shown);
}

static int field_start(pipe_csvj_t* cj, int quoted) {
  cj->u8need = 0;
  if (!cj->header_done) {
    cj->sink = SINK_HEADER;
    return hdr_field_start(cj);
  }
  if (!cj->o.ragged && cj->nexp && cj->col >= cj->nexp) {
    cj->sink = SINK_DISCARD; /* counted, then reported at record end */
    return 0;
  }
  if (cj->col >= cj->nkeys && key_ensure(cj, cj->col) < 0) return cj->err.code;
  if (cj->o.infer && !quoted) {
    cj->sink = SINK_INFER;
    cj->flen = 0;
    return 0;
  }
  cj->sink = SINK_OUT;
  push_begin(cj, 1);
  return 0;
}

/* One content byte of the current field, at absolute offset off. Queues at
 * most a few segments; the caller flushes before the next byte. */
static int put_byte(pipe_csvj_t* cj, uint8_t c, uint64_t off) {
  if (c >= 0x80 || cj->u8need) {
    int was = cj->u8need;
    if (!was) {
      cj->u8off = off;
      cj->u8seen = 0;
    }
    if (u8_step(&cj->u8need, &cj->u8lo, &cj->u8hi, c))
      return utf8_fail(cj, was ? cj->u8off : off,
                       !was || (cj->u8seen == 1 && (c < 0x80 || c > 0xBF)));
    cj->u8seen++;
  }
  switch (cj->sink) {
    case SINK_OUT:
      seg_push(cj, cj->ebuf, esc_byte(cj->ebuf, c));
      return 0;
    case SINK_INFER:
      if (cj->flen < INFER_MAX) {
        cj->fbuf[cj->flen++] = c;
        return 0;
      }
      /* Too long to be anything but a string: stream from here on. */
      cj->sink = SINK_OUT;
      push_begin(cj, 1);
      seg_push(cj, cj->pbuf, esc_buf(cj->pbuf, cj->fbuf, cj->flen));
      seg_push(cj, cj->ebuf, esc_byte(cj->ebuf, c));
      return 0;
    case SINK_HEADER:
      return hdr_put(cj, c);
    default:
      return 0;
  }
}

static int field_end(pipe_csvj_t* cj) {
  if (cj->u8need) return utf8_fail(cj, cj->u8off, cj->u8seen == 1);
  switch (cj->sink) {
    case SINK_OUT:
      seg_push(cj, "\"", 1);
      break;
    case SINK_INFER:
      push_begin(cj, 0);
      if (cj->flen == 0) {
        seg_push(cj, "null", 4);
      } else if (infer_bare(cj->fbuf, cj->flen, 1)) { /* fbuf: 64 bytes */
        memcpy(cj->pbuf, cj->fbuf, cj->flen);
        seg_push(cj, cj->pbuf, cj->flen);
      } else {
        size_t n = 1;
        cj->pbuf[0] = '"';
        n += esc_buf(cj->pbuf + 1, cj->fbuf, cj->flen);
        cj->pbuf[n++] = '"';
        seg_push(cj, cj->pbuf, n);
      }
      break;
    default:
      break;
  }
  cj->col++;
  return 0;
}

/* A record ended at an LF (already counted in line) or at end of input. */
static int record_end(pipe_csvj_t* cj, uint64_t off) {
  if (!cj->header_done) {
    cj->col = 0;
    cj->rec_line = cj->line;
    return header_build(cj);
  }
  if (!cj->o.ragged) {
    if (cj->nexp == 0)
      cj->nexp = cj->col;
    else if (cj->col != cj->nexp)
      return fields_fail(cj, cj->col, off);
  }
  seg_push(cj, cj->o.array ? "}" : "}\n", cj->o.array ? 1 : 2);
  cj->records++;
  cj->col = 0;
  cj->rec_line = cj->line;
  return 0;
}

/* The byte-level state machine over p[0,n), p[0] at absolute offset base.
 * Returns after a field (or blank line) ends so the fast path can take over,
 * when input runs out, when output is full (pending segments left), or on
 * error. *used = bytes consumed. */
static int slow_run(pipe_csvj_t* cj, const uint8_t* p, size_t n, uint64_t base,
                    size_t* used, uint8_t* out, size_t cap, size_t* op) {
  size_t i = 0;
  int r = 0;
  const uint8_t delim = cj->o.delim;
  while (i < n) {
    uint8_t c;
    uint64_t aoff;
    if (!seg_flush(cj, out, cap, op)) break;
    if (cj->st == ST_FSTART && i > 0) {
      cj->force_slow = 0;
      break;
    }
    /* Plain bytes of a streamed string go straight out, no queue (not in
     * the middle of a UTF-8 sequence: the validator must see the next byte). */
    if (cj->sink == SINK_OUT && cj->u8need == 0 &&
        (cj->st == ST_UNQ || cj->st == ST_QUO)) {
      size_t m = n - i, room = cap - *op, j = 0;
      uint8_t* o = out + *op;
      const uint8_t* s = p + i;
      if (m > room) m = room;
      if (cj->st == ST_UNQ) {
        while (j < m && s[j] >= 0x20 && s[j] < 0x80 && s[j] != '"' &&
               s[j] != '\\' && s[j] != delim) {
          o[j] = s[j];
          j++;
        }
      } else {
        while (j < m && s[j] >= 0x20 && s[j] < 0x80 && s[j] != '"' &&
               s[j] != '\\') {
          o[j] = s[j];
          j++;
        }
      }
      i += j;
      *op += j;
      if (j) cj->quo_cr = 0;
      if (i == n) break;
    }
    c = p[i];
    aoff = base + i;
    switch (cj->st) {
      case ST_FSTART:
        if (cj->col == 0 && c == '\n') { /* blank line */
          cj->line++;
          cj->rec_line = cj->line;
          i++;
        } else if (cj->col == 0 && c == '\r') {
          cj->st = ST_FSTART_CR;
          i++;
        } else if (c == '"') {
          cj->q_line = cj->line;
          cj->q_col = cj->col + 1;
          cj->quo_cr = 0;
          r = field_start(cj, 1);
          cj->st = ST_QUO;
          i++;
        } else {
          r = field_start(cj, 0);
          cj->st = ST_UNQ; /* c is looked at again in ST_UNQ */
        }
        break;
      case ST_FSTART_CR: /* a blank line, ended by CRLF or a lone CR */
        cj->line++;
        cj->rec_line = cj->line;
        cj->st = ST_FSTART;
        if (c == '\n') i++; /* else c is looked at again */
        break;
      case ST_UNQ:
        if (c == delim) {
          r = field_end(cj);
          cj->st = ST_FSTART;
        } else if (c == '\n') {
          r = field_end(cj);
          cj->line++;
          if (r == 0) r = record_end(cj, aoff);
          cj->st = ST_FSTART;
        } else if (c == '\r') {
          cj->st = ST_UNQ_CR;
        } else {
          r = put_byte(cj, c, aoff);
        }
        i++;
        break;
      case ST_UNQ_CR: /* CRLF, or a lone CR (then c is looked at again) */
        r = field_end(cj);
        cj->line++;
        if (r == 0) r = record_end(cj, c == '\n' ? aoff : aoff - 1);
        cj->st = ST_FSTART;
        if (c == '\n') i++;
        break;
      case ST_QUO:
        if (c == '"') {
          cj->st = ST_QUO_Q;
        } else {
          /* Count LF, CRLF and lone CR as one line each. */
          if (c == '\r' || (c == '\n' && !cj->quo_cr)) cj->line++;
          r = put_byte(cj, c, aoff);
        }
        cj->quo_cr = c == '\r';
        i++;
        break;
      case ST_QUO_Q:
        if (c == '"') {
          r = put_byte(cj, '"', aoff);
          cj->quo_cr = 0;
          cj->st = ST_QUO;
        } else if (c == delim) {
          r = field_end(cj);
          cj->st = ST_FSTART;
        } else if (c == '\n') {
          r = field_end(cj);
          cj->line++;
          if (r == 0) r = record_end(cj, aoff);
          cj->st = ST_FSTART;
        } else if (c == '\r') {
          cj->st = ST_AFTER_CR;
        } else {
          r = after_quote_fail(cj, c, aoff);
        }
        i++;
        break;
      case ST_AFTER_CR: /* closing quote, then CRLF or a lone CR */
        r = field_end(cj);
        cj->line++;
        if (r == 0) r = record_end(cj, c == '\n' ? aoff : aoff - 1);
        cj->st = ST_FSTART;
        if (c == '\n') i++; /* else c is looked at again */
        break;
      default:
        break;
    }
    if (r < 0) break;
  }
  *used = i;
  return r;
}

/* ---- fast path --------------------------------------------------------- */

/* OR of the bits of M for byte positions [a, b) of the batch. */
static inline uint64_t range_bits(const uint64_t* M, size_t a, size_t b) {
  size_t wa, wb;
  uint64_t acc;
  if (a >= b) return 0;
  wa = a >> 6;
  wb = (b - 1) >> 6;
  if (wa == wb)
    return M[wa] & (~0ULL << (a & 63)) & (~0ULL >> (63 - ((b - 1) & 63)));
  acc = M[wa] & (~0ULL << (a & 63));
  while (++wa < wb) acc |= M[wa];
  return acc | (M[wb] & (~0ULL >> (63 - ((b - 1) & 63))));
}

/* range_bits() of two mask arrays at once; the one-word case is the hot one
 * (most fields lie within one 64-byte block). */
static inline void range_bits2(const uint64_t* A, const uint64_t* B, size_t a,
                               size_t b, uint64_t* ra, uint64_t* rb) {
  size_t wa, wb;
  uint64_t m;
  if (a >= b) {
    *ra = *rb = 0;
    return;
  }
  wa = a >> 6;
  wb = (b - 1) >> 6;
  if (wa == wb) {
    m = (~0ULL << (a & 63)) & (~0ULL >> (63 - ((b - 1) & 63)));
    *ra = A[wa] & m;
    *rb = B[wa] & m;
    return;
  }
  *ra = range_bits(A, a, b);
  *rb = range_bits(B, a, b);
}

/* Position of the first set bit of M in [a, b), or b. */
static inline size_t next_bit(const uint64_t* M, size_t a, size_t b) {
  size_t w = a >> 6;
  uint64_t m = M[w] & (~0ULL << (a & 63));
  while (m == 0) {
    w++;
    if (w * 64 >= b) return b;
    m = M[w];
  }
  a = w * 64 + (size_t)__builtin_ctzll(m);
  return a < b ? a : b;
}

/* Escapes p[a, b) into op, finding the bytes that need it through E. In a
 * quoted field '"' must come as "" (written \"); anywhere else a quote means
 * the masks cannot be trusted. Returns the new op, or NULL to defer. */
static uint8_t* esc_fast(uint8_t* op, const uint8_t* p, const uint64_t* E,
                         size_t a, size_t b, int quoted, uint64_t* nl) {
  while (a < b) {
    size_t k = next_bit(E, a, b);
    uint8_t c;
    if (k > a) {
      memcpy(op, p + a, k - a);
      op += k - a;
    }
    if (k >= b) break;
    c = p[k];
    if (c == '"') {
      if (!quoted || k + 1 >= b || p[k + 1] != '"') return NULL;
      op[0] = '\\';
      op[1] = '"';
      op += 2;
      a = k + 2;
      continue;
    }
    /* Lines end at LF, CRLF or a lone CR, inside quotes too; p[k + 1] is
     * readable (the closing quote at least). */
    if (c == '\n' || (c == '\r' && p[k + 1] != '\n')) (*nl)++;
    op += esc_byte(op, c);
    a = k + 1;
  }
  return op;
}

/* Copies n bytes; over-reads and over-writes up to 32 bytes when allowed. */
static inline void copy_val(uint8_t* d, const uint8_t* s, size_t n, int over) {
  if (n <= 32 && over)
    memcpy(d, s, 32);
  else
    memcpy(d, s, n);
}

/* Converts the complete fields of one scanned batch (S, E, H filled for
 * nblk blocks of p = in + *ppos; n bytes, more input readable up to len).
 * Commits position, output and counters up to the last field it finished.
 * progressed: this call has already consumed or produced bytes.
 *
 * cr is a compile-time constant (two instances, see fast_batch): with cr
 * 0, S holds only delimiters and LFs, and the loop is the LF/CRLF loop
 * with nothing added; with cr 1, a structural byte that is not the
 * delimiter (LF or a lone CR) ends the record. One test more per field
 * cost 5% on LF files, more than all of the scanner's CR work. */
#if defined(__GNUC__)
__attribute__((always_inline))
#endif
static inline int fast_fields(pipe_csvj_t* cj, const uint8_t* in, size_t len,
                              size_t* ppos, uint8_t* out, size_t cap,
                              size_t* pop, int progressed, size_t n,
                              size_t nblk, int at_end, const int cr) {
  const uint8_t* p = in + *ppos;
  const size_t avail = len - *ppos;
  size_t b, fs = 0;
  int ret = FAST_MORE;
  uint8_t* op = out + *pop;
  uint8_t* const oend = out + cap;
  uint64_t col = cj->col, line = cj->line, records = cj->records;
  uint64_t rec_line = cj->rec_line;
  const uint64_t nexp = cj->nexp;
  /* Locals, not cj->...: every output store could alias them otherwise. */
  const uint8_t* kbuf = cj->kbuf;
  const size_t* koff = cj->koff;
  const size_t* klen = cj->klen;
  const int infer = cj->o.infer, array = cj->o.array, ragged = cj->o.ragged;
  const uint8_t delim = cj->o.delim;
  uint64_t* const S = cj->S;
  uint64_t* const E = cj->E;
  uint64_t* const H = cj->H;
#define EOL(t) (cr ? (t) != delim : (t) == '\n')

  /* Below lim a column has its key and is within the expected count. */
  uint64_t lim = (!ragged && nexp && nexp < cj->nkeys) ? nexp : cj->nkeys;

  for (b = 0; b < nblk; b++) {
    uint64_t s = S[b];
    while (s) {
      const size_t e = b * 64 + (size_t)__builtin_ctzll(s);
      const uint8_t term = p[e];
      uint8_t* const of = op; /* output at field start, for defer */
      size_t cs, ce, kl, vl;
      const uint8_t* kp;
      uint64_t dirty, hi, nl = 0;
      int quoted, bare = 0;
      s &= s - 1;

      if (col == 0 && EOL(term) &&
          (e == fs || (e == fs + 1 && p[fs] == '\r'))) { /* blank line */
        line++;
        rec_line = line;
        fs = e + 1;
        continue;
      }
      if (col >= lim) { /* rare: too many fields, or a column without key */
        /* The slow path reports both errors with exact positions. */
        if ((!ragged && nexp && col >= nexp) || col >= CSVJ_MAX_FIELDS)
          goto defer;
        if (key_ensure(cj, col) < 0) {
          ret = FAST_ERR;
          goto commit;
        }
        kbuf = cj->kbuf;
        koff = cj->koff;
        klen = cj->klen;
        lim = (!ragged && nexp && nexp < cj->nkeys) ? nexp : cj->nkeys;
      }
      quoted = p[fs] == '"';
      if (quoted) {
        cs = fs + 1;
        if (e >= fs + 2 && p[e - 1] == '"')
          ce = e - 1;
        else if (term == '\n' && e >= fs + 3 && p[e - 1] == '\r' &&
                 p[e - 2] == '"')
          ce = e - 2;
        else
          goto defer; /* junk after the closing quote, or unterminated */
      } else {
        cs = fs;
        ce = e;
        if (term == '\n' && e > fs && p[e - 1] == '\r') ce = e - 1;
      }
      range_bits2(E, H, cs, ce, &dirty, &hi);
      /* Non-ASCII alone needs no escaping, only validation. */
      if (hi && !utf8_valid(p + cs, ce - cs)) goto defer;
      vl = ce - cs;
      if (infer && !quoted && !dirty && !hi && vl <= INFER_MAX)
        bare = infer_bare(p + cs, vl, cs + 16 <= avail);
      kp = kbuf + koff[col];
      kl = klen[col];
      if ((size_t)(oend - op) <
          kl + 8 + (dirty ? 6 * vl : vl) + OUT_SLACK) {
        if (progressed || fs > 0) {
          ret = FAST_FULL;
          goto commit;
        }
        goto defer;
      }
      if (col == 0 && array) {
        memcpy(op, records ? ",\n" : "[\n", 2);
        op += 2;
      }
      copy_val(op, kp, kl, 1);
      if (col == 0) *op = '{';
      op += kl;
      if (!dirty) {
        /* Plain copy, quoted unless bare; branch-free on bare because the
         * value kind changes from column to column. */
        const size_t q = !bare;
        if (bare && vl == 0) {
          memcpy(op, "null", 4);
          op += 4;
        } else {
          *op = '"';
          op += q;
          copy_val(op, p + cs, vl, cs + 32 <= avail);
          op += vl;
          *op = '"';
          op += q;
        }
      } else {
        *op++ = '"';
        op = esc_fast(op, p, E, cs, ce, quoted, &nl);
        if (op == NULL) {
          op = of;
          goto defer;
        }
        line += nl;
        *op++ = '"';
      }
      col++;
      if (EOL(term)) { /* LF (or with cr, a lone CR): end of record */
        line++;
        if (!ragged && nexp && col != nexp) {
          /* Too few fields (too many deferred above). */
          cj->col = col;
          cj->rec_line = rec_line;
          fields_fail(cj, col, cj->off + *ppos + e);
          ret = FAST_ERR;
          fs = e + 1;
          goto commit;
        }
        if (!ragged && nexp == 0) {
          /* No header: the first record fixes the count; leave the fast
           * path so the new nexp is picked up. */
          cj->nexp = col;
          *op++ = '}';
          if (!array) *op++ = '\n';
          records++;
          col = 0;
          rec_line = line;
          fs = e + 1;
          goto commit;
        }
        *op++ = '}';
        if (!array) *op++ = '\n';
        records++;
        col = 0;
        rec_line = line;
      }
      fs = e + 1;
      continue;
    defer:
      op = of;
      ret = FAST_DEFER;
      goto commit;
    }
  }
  /* Every complete field is done; what is left is a field without its end in
   * this batch: at end of input the slow path must keep it, and a field
   * longer than a batch is streamed by the slow path too. */
  if (fs == 0 || (at_end && fs < n)) ret = FAST_DEFER;
commit:
  *ppos += fs;
  *pop = (size_t)(op - out);
  cj->col = col;
  cj->line = line;
  cj->rec_line = rec_line;
  cj->records = records;
  return ret;
#undef EOL
}

static int fast_fields_lf(pipe_csvj_t* cj, const uint8_t* in, size_t len,
                          size_t* ppos, uint8_t* out, size_t cap, size_t* pop,
                          int progressed, size_t n, size_t nblk, int at_end) {
  return fast_fields(cj, in, len, ppos, out, cap, pop, progressed, n, nblk,
                     at_end, 0);
}

static int fast_fields_cr(pipe_csvj_t* cj, const uint8_t* in, size_t len,
                          size_t* ppos, uint8_t* out, size_t cap, size_t* pop,
                          int progressed, size_t n, size_t nblk, int at_end) {
  return fast_fields(cj, in, len, ppos, out, cap, pop, progressed, n, nblk,
                     at_end, 1);
}

/* Scans one batch starting at in[*ppos] (a field boundary) and converts its
 * complete fields (fast_fields). */
static int fast_batch(pipe_csvj_t* cj, const uint8_t* in, size_t len,
                      size_t* ppos, uint8_t* out, size_t cap, size_t* pop,
                      int progressed) {
  const uint8_t* p = in + *ppos;
  const size_t avail = len - *ppos;
  size_t n = avail, nfull, tail, nblk, b;
  int at_end = 1;
  uint64_t carry = 0, crs = 0;
  uint64_t* const S = cj->S;

  if (n > BATCH) {
    n = BATCH;
    at_end = 0;
  }
  nfull = n / 64;
  tail = n % 64;
  cj->scan(p, nfull, cj->o.delim, &carry, S, cj->E, cj->H, &crs);
  nblk = nfull;
  if (tail) {
    /* Pad with a byte that is neither quote, LF, CR, delimiter nor
     * escapable. */
    uint8_t tmp[64];
    memset(tmp, cj->o.delim == 'a' ? 'b' : 'a', sizeof(tmp));
    memcpy(tmp, p + nfull * 64, tail);
    cj->scan(tmp, 1, cj->o.delim, &carry, S + nfull, cj->E + nfull,
             cj->H + nfull, &crs);
    S[nfull] &= (1ULL << tail) - 1;
    nblk++;
  }
  /* A CR in S ends a record, so CRLF must end it at the LF only. The
   * scanner left out the CR of a CRLF within one block; here go the CR of
   * a CRLF across blocks (bit 63, followed by an LF in the next block) and
   * a CR as the last byte seen so far (its next byte is unknown: the field
   * then has no end in this batch, and the slow path keeps the CR state
   * across calls). Every CR left in S is then a lone CR; crs (bits 0-62:
   * CRs the scanner kept; bit 63: a CR in some block's bit 63) says
   * whether any is left, and so which loop runs. */
  if (tail && p[n - 1] == '\r' && (n >= avail || p[n] == '\n'))
    S[nfull] &= ~(1ULL << (tail - 1));
  if (crs >> 63) {
    crs &= ~(1ULL << 63);
    for (b = 0; b < nfull; b++) {
      if ((int64_t)S[b] >= 0 || p[b * 64 + 63] != '\r') continue;
      if (b * 64 + 64 >= avail || p[b * 64 + 64] == '\n')
        S[b] &= ~(1ULL << 63);
      else
        crs = 1; /* a lone CR */
    }
  }
  if (crs == 0)
    return fast_fields_lf(cj, in, len, ppos, out, cap, pop, progressed, n,
                          nblk, at_end);
  return fast_fields_cr(cj, in, len, ppos, out, cap, pop, progressed, n,
                        nblk, at_end);
}

/* ---- public API ------------------------------------------------------ */

int pipe__csvj_new(const pipe_csvj_opts_t* o, pipe_csvj_t** out) {
  pipe_csvj_t* cj;
  *out = NULL;
  cj = calloc(1, sizeof(*cj));
  if (cj == NULL) return PIPE_ENOMEM;
  if (o != NULL) {
    cj->o = *o;
  } else {
    cj->o.header = 1;
  }
  if (cj->o.delim == 0) cj->o.delim = ',';
  if (cj->o.delim == '"' || cj->o.delim == '\r' || cj->o.delim == '\n') {
    free(cj);
    return PIPE_EINVAL;
  }
  cj->scan = pipe__csv_scan_get(pipe__csv_scan_best());
  cj->line = cj->rec_line = 1;
  cj->header_done = !cj->o.header;
  cj->st = ST_FSTART;
  *out = cj;
  return 0;
}

void pipe__csvj_free(pipe_csvj_t* cj) {
  if (cj == NULL) return;
  free(cj->kbuf);
  free(cj->koff);
  free(cj->klen);
  free(cj->hbuf);
  free(cj->hoff);
  free(cj->kset);
  free(cj->kset_names);
  free(cj);
}

int pipe__csvj_set_scan_level(pipe_csvj_t* cj, int level) {
  pipe_csv_scan_fn f = pipe__csv_scan_get(level);
  if (f == NULL) return PIPE_EINVAL;
  cj->scan = f;
  return 0;
}

const pipe_error_t* pipe__csvj_error(const pipe_csvj_t* cj) { return &cj->err; }
uint64_t pipe__csvj_records(const pipe_csvj_t* cj) { return cj->records; }
uint64_t pipe__csvj_lines(const pipe_csvj_t* cj) { return cj->line - 1; }

/* Replays the bytes of a failed BOM match as data. Returns < 0 on error;
 * leaves bom_replayed < bomn when output filled. */
static int bom_replay(pipe_csvj_t* cj, uint8_t* out, size_t cap, size_t* op) {
  while (cj->bom_replayed < cj->bomn) {
    size_t used = 0;
    int r = slow_run(cj, kBom + cj->bom_replayed, cj->bomn - cj->bom_replayed,
                     cj->bom_replayed, &used, out, cap, op);
    cj->bom_replayed += used;
    if (r < 0) return r;
    if (used == 0) break;
  }
  return 0;
}

int pipe__csvj_feed(pipe_csvj_t* cj, const uint8_t* in, size_t len,
                    size_t* consumed, uint8_t* out, size_t cap,
                    size_t* produced) {
  size_t pos = 0, op = 0;
  int r = 0;
  *consumed = 0;
  *produced = 0;
  if (cj->err.code) return cj->err.code;
  /* The BOM is only a BOM at offset 0, possibly split over calls. */
  while (!cj->bom_done && pos < len) {
    if (in[pos] == kBom[cj->bomn]) {
      cj->bomn++;
      pos++;
      if (cj->bomn == 3) {
        cj->bom_done = 1;
        cj->bomn = cj->bom_replayed = 0;
      }
    } else {
      cj->bom_done = 1;
    }
  }
  for (;;) {
    size_t used = 0;
    if (!seg_flush(cj, out, cap, &op)) break;
    if (cj->bom_replayed < cj->bomn) {
      if (!cj->bom_done) break; /* still matching: all input consumed */
      r = bom_replay(cj, out, cap, &op);
      if (r < 0 || cj->bom_replayed < cj->bomn) break;
      continue;
    }
    if (pos == len) break;
    if (cj->st == ST_FSTART && cj->header_done && !cj->force_slow) {
      int f = fast_batch(cj, in, len, &pos, out, cap, &op, pos > 0 || op > 0);
      if (f == FAST_MORE) continue;
      if (f == FAST_FULL) break;
      if (f == FAST_ERR) {
        r = cj->err.code;
        break;
      }
      cj->force_slow = 1;
      if (pos == len) break;
    }
    r = slow_run(cj, in + pos, len - pos, cj->off + pos, &used, out, cap, &op);
    pos += used;
    if (r < 0) break;
    /* The deferred field is over when we are back at a boundary. */
    if (used > 0 && cj->st == ST_FSTART) cj->force_slow = 0;
    if (used == 0) break; /* output full */
  }
  cj->off += pos;
  *consumed = pos;
  *produced = op;
  return r < 0 ? r : 0;
}

int pipe__csvj_finish(pipe_csvj_t* cj, uint8_t* out, size_t cap,
                      size_t* produced) {
  size_t op = 0;
  int r = 0;
  *produced = 0;
  if (cj->err.code) return cj->err.code;
  for (;;) {
    if (!seg_flush(cj, out, cap, &op)) {
      *produced = op;
      return PIPE_FULL;
    }
    if (cj->fin == 0) { /* a partial BOM is data */
      cj->bom_done = 1;
      r = bom_replay(cj, out, cap, &op);
      if (r < 0) break;
      if (cj->bom_replayed < cj->bomn) continue;
      cj->fin = 1;
    } else if (cj->fin == 1) { /* end of input inside a field or record */
      uint64_t eof = cj->off;
      cj->fin = 2;
      switch (cj->st) {
        case ST_FSTART:
          if (cj->col == 0) break;
          /* "a,b," at EOF: one more, empty field */
          r = field_start(cj, 0);
          if (r == 0) r = field_end(cj);
          if (r == 0) r = record_end(cj, eof);
          break;
        case ST_FSTART_CR: /* a CR right before EOF ends the line */
          cj->line++;
          break;
        case ST_QUO:
          /* The position is where the field opened. */
          r = fail(cj, PIPE_ECSV, cj->q_line, cj->q_col, eof,
                   "unterminated quoted field: no closing quote from here "
                   "to the end of input");
          break;
        default: /* UNQ, UNQ_CR (CR dropped), QUO_Q, AFTER_CR */
          if (cj->st == ST_UNQ_CR || cj->st == ST_AFTER_CR) cj->line++;
          r = field_end(cj);
          if (r == 0) r = record_end(cj, eof);
          break;
      }
      cj->st = ST_FSTART;
      if (r < 0) break;
    } else if (cj->fin == 2) {
      cj->fin = 3;
      if (cj->o.array) {
        if (cj->records)
          seg_push(cj, "\n]\n", 3);
        else
          seg_push(cj, "[]\n", 3);
      }
    } else {
      break;
    }
  }
  *produced = op;
  return r < 0 ? r : 0;
}
