/* The spec grammar: "big.csv | csv2json --infer | gzip -9 | out.json.gz".
 *
 * Three layers, each usable alone:
 *   1. the tokenizer turns the text into words and '|' bars, remembering
 *      where every token starts (byte offset and 1-based UTF-8 column) so
 *      every error can point at the word that caused it;
 *   2. the parser groups tokens between bars — source, transforms, sink —
 *      and validates all of it up front (unknown stages and bad options
 *      are found before anything is opened), keeping each transform's
 *      parsed configuration;
 *   3. the stage option parsers, shared with pipe_spec_add_stage() so the
 *      CLI's own commands and the HTTP service accept exactly the same
 *      words as a spec.
 * Building (pipe_spec_build) only calls constructors with what was parsed.
 *
 * Quoting is a small, predictable subset of the shell's: '...' takes every
 * byte literally; "..." too, except that \" and \\ stand for " and \ (any
 * other backslash stays, so "\t" reaches csv2json as the two bytes \t,
 * which it reads as a tab, as in the shell). Quoted and unquoted pieces
 * next to each other form one word (-d'|'). Outside quotes a backslash is
 * an ordinary byte and '|' always separates stages. Blanks are space, tab,
 * CR and LF.
 *
 * The library never prints: errors go into a pipe_error_t, and
 * pipe_spec_format_error() renders the caret line for whoever prints.
 */
#include "pipe/spec.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "pipe/csv.h"
#include "pipe/ctx.h"
#include "pipe/gzip.h"
#include "pipe/hash.h"
#include "pipe/io.h"
#include "pipe/pipeline.h"
#include "pipe/s3.h"

/* ---- data ------------------------------------------------------------------
 *
 * A spec owns one arena holding every word's unquoted text (NUL-terminated),
 * an array of words, and an array of groups, each a slice of the words.
 * Unquoting never makes a word longer than its raw span and a word spans at
 * least one byte, so the arena needs at most 2 * strlen(spec) + 1 bytes.
 */

enum { ST_CSV2JSON = 1, ST_GZIP, ST_GUNZIP, ST_HASH };

/* A transform's parsed options: what pipe_spec_add_stage and a spec's
 * transforms are built from. */
typedef struct stage_conf_s {
  int kind;
  pipe_csv2json_config_t csv;
  pipe_gzip_config_t gzip;
  pipe_hash_algo_t algo;
} stage_conf_t;

typedef struct spec_word_s {
  char* text;   /* unquoted, in the arena */
  size_t off;   /* byte offset of the raw word in the spec */
  size_t end;   /* one past its last raw byte */
  uint64_t col; /* 1-based UTF-8 character column of off */
  int bar;      /* 1: a '|' token (only in the token list) */
} spec_word_t;

typedef struct spec_group_s {
  spec_word_t* words; /* into spec->words; n == 0 for an empty group */
  size_t n;
  stage_conf_t conf; /* transforms only */
} spec_group_t;

struct pipe_spec_s {
  char* arena;
  spec_word_t* words; /* words only, bars removed */
  size_t nwords;
  spec_group_t* groups;
  size_t ngroups;
};

static const char* const stage_names[] = {NULL, "csv2json", "gzip", "gunzip",
                                          "hash"};
#define NSTAGES 4

/* ---- errors -------------------------------------------------------------- */

/* Clears err and fills code, stage and message (err may be NULL). */
static int verr(pipe_error_t* err, int code, const char* stage, const char* fmt,
                va_list ap) {
  if (err == NULL) return code;
  memset(err, 0, sizeof(*err));
  err->code = code;
  snprintf(err->stage, sizeof(err->stage), "%s", stage);
  vsnprintf(err->msg, sizeof(err->msg), fmt, ap);
  return code;
}

#if defined(__GNUC__)
#define PRINTF_LIKE(f, a) __attribute__((format(printf, f, a)))
#else
#define PRINTF_LIKE(f, a)
#endif

static int seterr(pipe_error_t* err, int code, const char* stage,
                  const char* fmt, ...) PRINTF_LIKE(4, 5);
static int seterr(pipe_error_t* err, int code, const char* stage,
                  const char* fmt, ...) {
  va_list ap;
  va_start(ap, fmt);
  verr(err, code, stage, fmt, ap);
  va_end(ap);
  return code;
}

/* Points err at a position of the spec. */
static int at(pipe_error_t* err, size_t off, uint64_t col) {
  if (err == NULL) return PIPE_EUSAGE;
  err->offset = off;
  err->column = col;
  err->has_offset = 1;
  return err->code;
}

/* 1-based character column of byte offset off: UTF-8 continuation bytes
 * (10xxxxxx) do not start a character. */
static uint64_t column_of(const char* s, size_t off) {
  uint64_t col = 1;
  size_t i;
  for (i = 0; i < off; i++)
    if (((unsigned char)s[i] & 0xC0) != 0x80) col++;
  return col;
}

/* ---- tokenizer ----------------------------------------------------------- */

static int is_blank(char c) {
  return c == ' ' || c == '\t' || c == '\n' || c == '\r';
}

/* Scans the raw word starting at s[i] (not a blank, not '|'). Writes its
 * unquoted text to *out when out != NULL. Returns the offset one past the
 * word, or (size_t)-1 with *open_quote set for an unterminated quote. */
static size_t scan_word(const char* s, size_t i, char* out, size_t* out_len,
                        size_t* open_quote) {
  size_t n = 0;
  while (s[i] != '\0' && !is_blank(s[i]) && s[i] != '|') {
    char q = s[i];
    if (q == '\'' || q == '"') {
      size_t start = i++;
      while (s[i] != '\0' && s[i] != q) {
        if (q == '"' && s[i] == '\\' && (s[i + 1] == '"' || s[i + 1] == '\\'))
          i++;
        if (out != NULL) out[n] = s[i];
        n++;
        i++;
      }
      if (s[i] == '\0') {
        *open_quote = start;
        return (size_t)-1;
      }
      i++; /* the closing quote */
    } else {
      if (out != NULL) out[n] = s[i];
      n++;
      i++;
    }
  }
  if (out_len != NULL) *out_len = n;
  return i;
}

/* Splits spec into tokens (words and bars) in *toks (malloc'd), their texts
 * in arena. Returns 0, PIPE_ENOMEM, or PIPE_EUSAGE with err pointing at an
 * unterminated quote. */
static int tokenize(const char* spec, char* arena, spec_word_t** toks,
                    size_t* ntoks, pipe_error_t* err) {
  spec_word_t* t = NULL;
  size_t n = 0, cap = 0, i = 0, used = 0, last = 0;
  uint64_t col = 1;
  *toks = NULL;
  *ntoks = 0;
  for (;;) {
    spec_word_t w;
    while (is_blank(spec[i])) i++;
    if (spec[i] == '\0') break;
    memset(&w, 0, sizeof(w));
    /* Columns advance with the scan: linear in the length of the spec,
     * which may come from an HTTP client. */
    col += column_of(spec + last, i - last) - 1;
    last = i;
    w.off = i;
    w.col = col;
    if (spec[i] == '|') {
      w.bar = 1;
      w.end = i + 1;
      w.text = NULL;
    } else {
      size_t len = 0, q = 0;
      size_t end = scan_word(spec, i, arena + used, &len, &q);
      if (end == (size_t)-1) {
        free(t);
        seterr(err, PIPE_EUSAGE, "spec", "unterminated quote");
        return at(err, q, column_of(spec, q));
      }
      w.end = end;
      w.text = arena + used;
      w.text[len] = '\0';
      used += len + 1;
    }
    if (n == cap) {
      size_t ncap = cap ? 2 * cap : 16;
      spec_word_t* nt = realloc(t, ncap * sizeof(*t));
      if (nt == NULL) {
        free(t);
        return seterr(err, PIPE_ENOMEM, "spec", "out of memory");
      }
      t = nt;
      cap = ncap;
    }
    t[n++] = w;
    i = w.end;
  }
  *toks = t;
  *ntoks = n;
  return 0;
}

/* ---- stage option parsers ---------------------------------------------------
 *
 * Each takes the stage's words (argv[0] is the name) and fills c, or
 * returns PIPE_EUSAGE with err's message set and *bad = the index of the
 * offending word. Options may be given as "--opt VALUE" or "--opt=VALUE";
 * short ones as "-d VALUE" or "-dVALUE". A repeated option: the last wins.
 */

static int bad_word(pipe_error_t* err, int* bad, int idx, const char* stage,
                    const char* fmt, ...) PRINTF_LIKE(5, 6);
static int bad_word(pipe_error_t* err, int* bad, int idx, const char* stage,
                    const char* fmt, ...) {
  va_list ap;
  *bad = idx;
  va_start(ap, fmt);
  verr(err, PIPE_EUSAGE, stage, fmt, ap);
  va_end(ap);
  return PIPE_EUSAGE;
}

/* Matches "--name", "--name=VALUE" or, for a short name, "-n" / "-nVALUE".
 * On a match sets *val to the attached value or NULL; returns 1. */
static int match_opt(const char* a, const char* name, const char** val) {
  size_t n = strlen(name);
  if (strncmp(a, name, n) != 0) return 0;
  if (a[n] == '\0') {
    *val = NULL;
    return 1;
  }
  if (name[1] == '-') { /* long: only "=VALUE" may follow */
    if (a[n] != '=') return 0;
    *val = a + n + 1;
    return 1;
  }
  *val = a + n; /* short: the value may be glued on */
  return 1;
}

/* The value of option argv[*i]: attached (val != NULL), else the next
 * word. Returns NULL (err set) when there is none. */
static const char* opt_value(int argc, char** argv, int* i, const char* val,
                             const char* stage, pipe_error_t* err, int* bad,
                             int* val_idx) {
  if (val != NULL) {
    *val_idx = *i;
    return val;
  }
  if (*i + 1 >= argc) {
    bad_word(err, bad, *i, stage, "%s: option '%s' needs a value", stage,
             argv[*i]);
    return NULL;
  }
  *i += 1;
  *val_idx = *i;
  return argv[*i];
}

/* A decimal integer without sign or blanks; 0 and *out, or -1. */
static int parse_u64(const char* s, uint64_t* out) {
  uint64_t v = 0;
  if (*s == '\0') return -1;
  for (; *s != '\0'; s++) {
    if (*s < '0' || *s > '9') return -1;
    if (v > (UINT64_MAX - 9) / 10) return -1;
    v = v * 10 + (uint64_t)(*s - '0');
  }
  *out = v;
  return 0;
}

/* Bytes: an integer with an optional binary suffix K, M, G (or KiB, MiB,
 * GiB; any case). 0 and *out, or -1. */
static int parse_size(const char* s, uint64_t* out) {
  char num[24];
  size_t n = strspn(s, "0123456789");
  const char* suf = s + n;
  uint64_t v, mul = 1;
  if (n == 0 || n >= sizeof(num)) return -1;
  memcpy(num, s, n);
  num[n] = '\0';
  if (parse_u64(num, &v) < 0) return -1;
  if (*suf != '\0') {
    switch (*suf) {
      case 'k':
      case 'K':
        mul = 1024;
        break;
      case 'm':
      case 'M':
        mul = 1024 * 1024;
        break;
      case 'g':
      case 'G':
        mul = 1024 * 1024 * 1024;
        break;
      default:
        return -1;
    }
    suf++;
    if (*suf != '\0' && strcmp(suf, "iB") != 0 && strcmp(suf, "ib") != 0)
      return -1;
  }
  if (v > UINT64_MAX / mul) return -1;
  *out = v * mul;
  return 0;
}

static int parse_csv2json(int argc, char** argv, stage_conf_t* c,
                          pipe_error_t* err, int* bad) {
  const char* st = "csv2json";
  int i;
  for (i = 1; i < argc; i++) {
    const char* a = argv[i];
    const char* val;
    if (strcmp(a, "--no-header") == 0) {
      c->csv.no_header = 1;
    } else if (strcmp(a, "--infer") == 0) {
      c->csv.infer = 1;
    } else if (strcmp(a, "--array") == 0) {
      c->csv.array = 1;
    } else if (strcmp(a, "--ragged") == 0) {
      c->csv.ragged = 1;
    } else if (match_opt(a, "-d", &val) || match_opt(a, "--delimiter", &val)) {
      int vi;
      const char* d = opt_value(argc, argv, &i, val, st, err, bad, &vi);
      if (d == NULL) return PIPE_EUSAGE;
      if (strcmp(d, "\\t") == 0 || strcmp(d, "tab") == 0) {
        c->csv.delimiter = '\t';
      } else if (strlen(d) != 1) {
        return bad_word(err, bad, vi, st,
                        "csv2json: the delimiter must be one byte, '\\t' or "
                        "'tab', got '%s'",
                        d);
      } else if (d[0] == '"') {
        return bad_word(err, bad, vi, st,
                        "csv2json: the delimiter cannot be '\"' (the quote)");
      } else if (d[0] == '\n' || d[0] == '\r') {
        return bad_word(err, bad, vi, st,
                        "csv2json: the delimiter cannot be a line break");
      } else {
        c->csv.delimiter = (uint8_t)d[0];
      }
    } else if (a[0] == '-') {
      return bad_word(err, bad, i, st, "csv2json: unknown option '%s'", a);
    } else {
      return bad_word(err, bad, i, st, "csv2json: unexpected argument '%s'", a);
    }
  }
  return 0;
}

static int parse_gzip(int argc, char** argv, stage_conf_t* c, pipe_error_t* err,
                      int* bad) {
  const char* st = "gzip";
  int i;
  for (i = 1; i < argc; i++) {
    const char* a = argv[i];
    const char* val;
    const char* v;
    uint64_t n;
    int vi;
    if (a[0] == '-' && a[1] >= '0' && a[1] <= '9') { /* -1 .. -9 */
      if (a[2] != '\0' || a[1] == '0')
        return bad_word(err, bad, i, st, "gzip: level must be 1..9, got '%s'",
                        a);
      c->gzip.level = a[1] - '0';
    } else if (match_opt(a, "--level", &val)) {
      if ((v = opt_value(argc, argv, &i, val, st, err, bad, &vi)) == NULL)
        return PIPE_EUSAGE;
      if (parse_u64(v, &n) < 0 || n < PIPE_GZIP_MIN_LEVEL ||
          n > PIPE_GZIP_MAX_LEVEL)
        return bad_word(err, bad, vi, st, "gzip: level must be %d..%d, got '%s'",
                        PIPE_GZIP_MIN_LEVEL, PIPE_GZIP_MAX_LEVEL, v);
      c->gzip.level = (int)n;
    } else if (match_opt(a, "--threads", &val)) {
      if ((v = opt_value(argc, argv, &i, val, st, err, bad, &vi)) == NULL)
        return PIPE_EUSAGE;
      if (parse_u64(v, &n) < 0 || n > PIPE_GZIP_MAX_THREADS)
        return bad_word(err, bad, vi, st,
                        "gzip: threads must be 0..%d (0: one per CPU), "
                        "got '%s'",
                        PIPE_GZIP_MAX_THREADS, v);
      c->gzip.threads = (int)n;
    } else if (match_opt(a, "--block-size", &val)) {
      if ((v = opt_value(argc, argv, &i, val, st, err, bad, &vi)) == NULL)
        return PIPE_EUSAGE;
      if (parse_size(v, &n) < 0 || n < PIPE_GZIP_MIN_BLOCK ||
          n > PIPE_GZIP_MAX_BLOCK)
        return bad_word(err, bad, vi, st,
                        "gzip: block size must be %zuK..%zuM bytes (suffix "
                        "K, M or G), got '%s'",
                        PIPE_GZIP_MIN_BLOCK >> 10, PIPE_GZIP_MAX_BLOCK >> 20,
                        v);
      c->gzip.block_size = (size_t)n;
    } else if (a[0] == '-') {
      return bad_word(err, bad, i, st, "gzip: unknown option '%s'", a);
    } else {
      return bad_word(err, bad, i, st, "gzip: unexpected argument '%s'", a);
    }
  }
  return 0;
}

static int parse_gunzip(int argc, char** argv, stage_conf_t* c,
                        pipe_error_t* err, int* bad) {
  (void)c;
  if (argc > 1) {
    if (argv[1][0] == '-')
      return bad_word(err, bad, 1, "gunzip", "gunzip: unknown option '%s'",
                      argv[1]);
    return bad_word(err, bad, 1, "gunzip",
                    "gunzip: takes no arguments, got '%s'", argv[1]);
  }
  return 0;
}

static int parse_hash(int argc, char** argv, stage_conf_t* c, pipe_error_t* err,
                      int* bad) {
  int i, seen = 0;
  c->algo = PIPE_HASH_SHA256;
  for (i = 1; i < argc; i++) {
    const char* a = argv[i];
    if (a[0] == '-')
      return bad_word(err, bad, i, "hash", "hash: unknown option '%s'", a);
    if (seen)
      return bad_word(err, bad, i, "hash",
                      "hash: one algorithm at most, got '%s' too", a);
    if (pipe_hash_algo_parse(a, &c->algo) < 0)
      return bad_word(err, bad, i, "hash",
                      "hash: unknown algorithm '%s' (sha256, md5 or crc32c)",
                      a);
    seen = 1;
  }
  return 0;
}

/* Edit distance, for "did you mean". Names are short: a small row. */
static size_t edit_distance(const char* a, const char* b) {
  size_t la = strlen(a), lb = strlen(b), i, j;
  size_t row[16];
  if (la > 15 || lb > 15) return (size_t)-1;
  for (j = 0; j <= lb; j++) row[j] = j;
  for (i = 1; i <= la; i++) {
    size_t diag = row[0];
    row[0] = i;
    for (j = 1; j <= lb; j++) {
      size_t up = row[j];
      size_t best = diag + (a[i - 1] != b[j - 1]);
      if (up + 1 < best) best = up + 1;
      if (row[j - 1] + 1 < best) best = row[j - 1] + 1;
      row[j] = best;
      diag = up;
    }
  }
  return row[lb];
}

/* Parses a transform's words into c. Returns 0 or PIPE_EUSAGE (err set,
 * *bad = offending word index). */
static int parse_stage(int argc, char** argv, stage_conf_t* c,
                       pipe_error_t* err, int* bad) {
  int k;
  memset(c, 0, sizeof(*c));
  for (k = 1; k <= NSTAGES; k++)
    if (strcmp(argv[0], stage_names[k]) == 0) break;
  if (k > NSTAGES) {
    const char* hint = NULL;
    for (k = 1; k <= NSTAGES; k++)
      if (edit_distance(argv[0], stage_names[k]) <= 2) {
        hint = stage_names[k];
        break;
      }
    if (hint != NULL)
      return bad_word(err, bad, 0, "spec",
                      "unknown stage '%s' (did you mean '%s'?)", argv[0], hint);
    return bad_word(err, bad, 0, "spec",
                    "unknown stage '%s' (stages: csv2json, gzip, gunzip, "
                    "hash)",
                    argv[0]);
  }
  c->kind = k;
  switch (k) {
    case ST_CSV2JSON:
      return parse_csv2json(argc, argv, c, err, bad);
    case ST_GZIP:
      return parse_gzip(argc, argv, c, err, bad);
    case ST_GUNZIP:
      return parse_gunzip(argc, argv, c, err, bad);
    default:
      return parse_hash(argc, argv, c, err, bad);
  }
}

static int build_stage(pipe_pipeline_t* pl, const stage_conf_t* c,
                       pipe_stage_t** out) {
  switch (c->kind) {
    case ST_CSV2JSON:
      return pipe_csv2json_new(pl, &c->csv, out);
    case ST_GZIP:
      return pipe_gzip_new(pl, &c->gzip, out);
    case ST_GUNZIP:
      return pipe_gunzip_new(pl, out);
    case ST_HASH:
      return pipe_hash_new(pl, c->algo, out);
    default:
      return PIPE_EINVAL;
  }
}

int pipe_spec_add_stage(pipe_pipeline_t* pl, int argc, char** argv,
                        pipe_stage_t** out, pipe_error_t* err) {
  stage_conf_t c;
  int bad = 0, r;
  if (out != NULL) *out = NULL;
  if (argc < 1 || argv == NULL || argv[0] == NULL)
    return seterr(err, PIPE_EINVAL, "spec", "no stage name given");
  r = parse_stage(argc, argv, &c, err, &bad);
  if (r < 0) {
    if (err != NULL) err->column = (uint64_t)bad + 1;
    return r;
  }
  r = build_stage(pl, &c, out);
  if (r < 0) {
    seterr(err, r, stage_names[c.kind], "%s: cannot create the stage: %s",
           stage_names[c.kind], pipe_strerror(r));
    if (err != NULL) err->column = 1;
  }
  return r;
}

/* ---- the spec ------------------------------------------------------------ */

static int is_stdio(const char* w) {
  return strcmp(w, "-") == 0;
}
static int is_s3(const char* w) {
  return strncmp(w, "s3://", 5) == 0;
}

static int g_is_source(const char* what) { return strcmp(what, "source") == 0; }

/* Checks the source or sink group g. Returns 0 or PIPE_EUSAGE. */
static int check_endpoint(const spec_group_t* g, const char* what,
                          pipe_error_t* err) {
  const spec_word_t* w = &g->words[0];
  const char* t = w->text;
  if (g->n > 1) {
    seterr(err, PIPE_EUSAGE, "spec",
           "the %s must be one path or '-', got %zu words (missing '|'?)", what,
           g->n);
    return at(err, g->words[1].off, g->words[1].col);
  }
  if (t[0] == '\0') {
    seterr(err, PIPE_EUSAGE, "spec", "the %s is an empty path", what);
    return at(err, w->off, w->col);
  }
  /* `in.csv | gzip` with the sink forgotten would write the data to a file
   * named gzip: a stage name where a path belongs is a mistake far more
   * often than a file name. ./gzip still names the file. */
  {
    int k;
    for (k = 1; k <= NSTAGES; k++) {
      if (strcmp(t, stage_names[k]) != 0) continue;
      seterr(err, PIPE_EUSAGE, "spec",
             "'%s' is a stage, not a%s file: missing %s? (write ./%s for a "
             "file of that name)",
             t, g_is_source(what) ? "n input" : "n output", what, t);
      return at(err, w->off, w->col);
    }
  }
  if (is_s3(t)) {
    const char* bucket = t + 5;
    const char* slash = strchr(bucket, '/');
    if (slash == NULL || slash == bucket || slash[1] == '\0') {
      seterr(err, PIPE_EUSAGE, "spec",
             "an S3 %s must look like s3://bucket/key, got '%s'", what, t);
      return at(err, w->off, w->col);
    }
  } else if (strstr(t, "://") != NULL) {
    seterr(err, PIPE_EUSAGE, "spec",
           "unsupported URL '%s' as the %s (paths, '-' and s3://bucket/key "
           "are)",
           t, what);
    return at(err, w->off, w->col);
  }
  return 0;
}

void pipe_spec_free(pipe_spec_t* spec) {
  if (spec == NULL) return;
  free(spec->arena);
  free(spec->words);
  free(spec->groups);
  free(spec);
}

int pipe_spec_parse(const char* text, pipe_spec_t** out, pipe_error_t* err) {
  pipe_spec_t* spec = NULL;
  spec_word_t* toks = NULL;
  const spec_word_t** bars = NULL;
  size_t ntoks = 0, len, i, g;
  int r;
  *out = NULL;
  if (text == NULL) return seterr(err, PIPE_EINVAL, "spec", "no spec given");
  if (err != NULL) memset(err, 0, sizeof(*err));
  len = strlen(text);
  spec = calloc(1, sizeof(*spec));
  if (spec == NULL) goto nomem;
  spec->arena = malloc(2 * len + 1);
  if (spec->arena == NULL) goto nomem;
  r = tokenize(text, spec->arena, &toks, &ntoks, err);
  if (r < 0) goto fail;
  if (ntoks == 0) {
    seterr(err, PIPE_EUSAGE, "spec",
           "empty spec: expected 'SOURCE | [STAGE ... |] SINK'");
    r = at(err, 0, 1);
    goto fail;
  }

  /* Groups: one more than the bars. Words are copied out of the token list
   * in order, so each group is a contiguous slice. */
  spec->ngroups = 1;
  for (i = 0; i < ntoks; i++) spec->ngroups += toks[i].bar;
  spec->groups = calloc(spec->ngroups, sizeof(*spec->groups));
  spec->words = malloc(ntoks * sizeof(*spec->words));
  if (spec->groups == NULL || spec->words == NULL) goto nomem;
  g = 0;
  spec->groups[0].words = spec->words;
  for (i = 0; i < ntoks; i++) {
    if (toks[i].bar) {
      g++;
      spec->groups[g].words = spec->words + spec->nwords;
    } else {
      spec->words[spec->nwords++] = toks[i];
      spec->groups[g].n++;
    }
  }

  /* Validate in reading order, so the first error reported is the first
   * one in the text. bars[k] is the bar between groups k and k + 1. */
  bars = malloc(spec->ngroups * sizeof(*bars));
  if (bars == NULL) goto nomem;
  for (i = 0, g = 0; i < ntoks; i++)
    if (toks[i].bar) bars[g++] = &toks[i];
  for (g = 0; g < spec->ngroups; g++) {
    spec_group_t* gr = &spec->groups[g];
    if (gr->n == 0) {
      const spec_word_t* b;
      if (g == 0) {
        seterr(err, PIPE_EUSAGE, "spec", "missing source before '|'");
        b = bars[0];
      } else if (g == spec->ngroups - 1) {
        seterr(err, PIPE_EUSAGE, "spec", "missing sink after '|'");
        b = bars[g - 1];
      } else {
        /* At the second bar: that is where a stage was expected. */
        seterr(err, PIPE_EUSAGE, "spec", "empty stage between '|' and '|'");
        b = bars[g];
      }
      r = at(err, b->off, b->col);
      goto fail;
    }
    if (spec->ngroups == 1) {
      if (gr->n > 1) {
        r = check_endpoint(gr, "source", err);
      } else {
        const spec_word_t* w = &gr->words[0];
        seterr(err, PIPE_EUSAGE, "spec",
               "missing '| SINK' after the source (a spec is 'SOURCE | "
               "[STAGE ... |] SINK')");
        r = at(err, w->end, column_of(text, w->end));
      }
      goto fail;
    }
    if (g == 0 || g == spec->ngroups - 1) {
      r = check_endpoint(gr, g == 0 ? "source" : "sink", err);
      if (r < 0) goto fail;
    } else {
      char* argv_small[16];
      char** argv = argv_small;
      int bad = 0;
      size_t k;
      if (gr->n > 16) {
        argv = malloc(gr->n * sizeof(*argv));
        if (argv == NULL) goto nomem;
      }
      for (k = 0; k < gr->n; k++) argv[k] = gr->words[k].text;
      r = parse_stage((int)gr->n, argv, &gr->conf, err, &bad);
      if (argv != argv_small) free(argv);
      if (r < 0) {
        at(err, gr->words[bad].off, gr->words[bad].col);
        goto fail;
      }
    }
  }
  free(bars);
  free(toks);
  *out = spec;
  return 0;

nomem:
  r = seterr(err, PIPE_ENOMEM, "spec", "out of memory");
fail:
  free(bars);
  free(toks);
  pipe_spec_free(spec);
  return r;
}

size_t pipe_spec_count(const pipe_spec_t* spec) {
  return spec->ngroups;
}

const char* pipe_spec_source(const pipe_spec_t* spec) {
  return spec->groups[0].words[0].text;
}

const char* pipe_spec_sink(const pipe_spec_t* spec) {
  return spec->groups[spec->ngroups - 1].words[0].text;
}

const char* pipe_spec_stage_name(const pipe_spec_t* spec, size_t i) {
  const char* t;
  if (i >= spec->ngroups) return NULL;
  if (i > 0 && i < spec->ngroups - 1)
    return stage_names[spec->groups[i].conf.kind];
  t = spec->groups[i].words[0].text;
  if (is_s3(t)) return "s3";
  if (is_stdio(t)) return i == 0 ? "stdin" : "stdout";
  return "file";
}

/* Fills err for a constructor that failed on the stage of group g. */
static int build_failed(const spec_group_t* gr, const char* what, int r,
                        pipe_error_t* err) {
  seterr(err, r, what, "%s: cannot set up '%s': %s", what, gr->words[0].text,
         pipe_strerror(r));
  at(err, gr->words[0].off, gr->words[0].col);
  return r;
}

/* An s3:// stage's constructor failed: keep its message (bad part size,
 * no credentials, a bad profile), point at the word. */
static int s3_failed(const spec_group_t* gr, const char* what, int r,
                     pipe_error_t* err) {
  if (err == NULL) return r;
  if (err->msg[0] == '\0') return build_failed(gr, what, r, err);
  err->code = r;
  snprintf(err->stage, sizeof(err->stage), "%s", what);
  at(err, gr->words[0].off, gr->words[0].col);
  return r;
}

int pipe_spec_build(const pipe_spec_t* spec, pipe_pipeline_t* pl,
                    pipe_error_t* err) {
  const spec_group_t* src = &spec->groups[0];
  const spec_group_t* snk = &spec->groups[spec->ngroups - 1];
  size_t g;
  int r;
  if (err != NULL) memset(err, 0, sizeof(*err));
  if (pipe_pipeline_first(pl) != NULL)
    return seterr(err, PIPE_EINVAL, "spec", "the pipeline already has stages");
  /* Refuse what cannot run before adding anything: s3:// needs the S3
   * client of the context the pipeline was made in. */
  for (g = 0; g < 2; g++) {
    const spec_word_t* w = g == 0 ? &src->words[0] : &snk->words[0];
    if (is_s3(w->text) && pipe_pipeline_ctx(pl) == NULL) {
      seterr(err, PIPE_EUSAGE, "spec", "s3:// needs a pipeline made in a "
             "context (pipe_pipeline_new_in)");
      return at(err, w->off, w->col);
    }
  }
  if (is_s3(src->words[0].text)) {
    pipe_s3_source_config_t sc;
    memset(&sc, 0, sizeof(sc));
    sc.url = src->words[0].text;
    pipe_ctx_s3_transfer(pipe_pipeline_ctx(pl), &sc.part_size, &sc.concurrency);
    r = pipe_s3_source_new(pl, &sc, NULL, err);
    if (r < 0) return s3_failed(src, "source", r, err);
  } else if (is_stdio(src->words[0].text)) {
    r = pipe_stdin_source_new(pl, NULL);
  } else {
    pipe_file_source_config_t fc = {src->words[0].text};
    r = pipe_file_source_new(pl, &fc, NULL);
  }
  if (r < 0) return build_failed(src, "source", r, err);
  for (g = 1; g + 1 < spec->ngroups; g++) {
    const spec_group_t* gr = &spec->groups[g];
    r = build_stage(pl, &gr->conf, NULL);
    if (r < 0) return build_failed(gr, stage_names[gr->conf.kind], r, err);
  }
  if (is_s3(snk->words[0].text)) {
    pipe_s3_sink_config_t kc;
    memset(&kc, 0, sizeof(kc));
    kc.url = snk->words[0].text;
    kc.size = -1;
    pipe_ctx_s3_transfer(pipe_pipeline_ctx(pl), &kc.part_size, &kc.concurrency);
    /* `file | s3://` (hash stages pass bytes through unchanged): the sink
     * reads each part from the file when it sends it, as `pipe cp` does,
     * instead of copying parts into buffers. */
    if (!is_s3(src->words[0].text) && !is_stdio(src->words[0].text)) {
      struct stat st;
      int plain = 1;
      for (g = 1; g + 1 < spec->ngroups; g++)
        if (spec->groups[g].conf.kind != ST_HASH) plain = 0;
      if (plain && stat(src->words[0].text, &st) == 0 && S_ISREG(st.st_mode)) {
        kc.size = st.st_size;
        kc.reread_path = src->words[0].text;
      }
    }
    r = pipe_s3_sink_new(pl, &kc, NULL, err);
    if (r < 0) return s3_failed(snk, "sink", r, err);
    return 0;
  }
  if (is_stdio(snk->words[0].text)) {
    r = pipe_stdout_sink_new(pl, NULL);
  } else {
    /* fsync before the rename, as the CLI does: a spec names a durable
     * output. */
    pipe_file_sink_config_t fc = {.path = snk->words[0].text, .fsync = 1};
    r = pipe_file_sink_new(pl, &fc, NULL);
  }
  if (r < 0) return build_failed(snk, "sink", r, err);
  return 0;
}

/* ---- rendering an error -------------------------------------------------- */

typedef struct out_s {
  char* p;
  size_t cap, len;
} out_t;

static void put(out_t* o, char c) {
  if (o->len + 1 < o->cap) o->p[o->len] = c;
  o->len++;
}

int pipe_spec_format_error(const char* spec, const pipe_error_t* err, char* out,
                           size_t cap) {
  out_t o = {out, cap, 0};
  size_t len, i, span_end;
  int caret_done = 0;
  if (cap > 0) out[0] = '\0';
  if (spec == NULL || err == NULL || !err->has_offset) return PIPE_EINVAL;
  len = strlen(spec);
  if (err->offset > len) return PIPE_EINVAL;

  /* The extent of the word under the caret, to underline it. */
  span_end = (size_t)err->offset;
  if (span_end < len && !is_blank(spec[span_end])) {
    if (spec[span_end] == '|') {
      span_end++;
    } else {
      size_t q;
      span_end = scan_word(spec, span_end, NULL, NULL, &q);
      if (span_end == (size_t)-1) span_end = len; /* unterminated quote */
    }
  }

  /* Line 1: the spec on one line (line breaks shown as blanks). */
  for (i = 0; i < len; i++)
    put(&o, spec[i] == '\n' || spec[i] == '\r' ? ' ' : spec[i]);
  put(&o, '\n');
  /* Line 2: a blank per character before the word (a tab for a tab, so
   * terminals align it), '^' under its first character, '~' under the
   * rest. */
  for (i = 0; i < span_end || !caret_done; i++) {
    int starts_char = i >= len || ((unsigned char)spec[i] & 0xC0) != 0x80;
    if (!starts_char) continue;
    if (i < err->offset) {
      put(&o, spec[i] == '\t' ? '\t' : ' ');
    } else if (!caret_done) {
      put(&o, '^');
      caret_done = 1;
    } else {
      put(&o, '~');
    }
  }
  put(&o, '\n');
  if (o.cap > 0) o.p[o.len < o.cap ? o.len : o.cap - 1] = '\0';
  return (int)o.len;
}

/* ---- transforms only (the HTTP service) ---------------------------------- */

/*
 *
 * A client of the server names transforms, never a path: the spec is the
 * middle of the `pipe run` grammar ("csv2json --infer | gzip"), and the
 * server supplies source (the request body) and sink (its store). Costly
 * options are capped by the server's limits, and the worst-case memory of
 * the stages is computed from the same numbers the stages use, before
 * anything is built.
 */

/* Worst case of one transform's buffers beyond its stage pool. gzip holds
 * (2 x threads + 3) blocks plus ~0.7 MiB of compressor state per thread
 * (gzip.h); the other transforms only use their stage pool. */
static size_t transform_extra(const stage_conf_t* c) {
  if (c->kind == ST_GZIP) {
    size_t blk = c->gzip.block_size ? c->gzip.block_size
                                    : PIPE_GZIP_DEFAULT_BLOCK;
    /* 0 (one per CPU, capped by the thread pool): cost it as 4. */
    size_t th = c->gzip.threads > 0 ? (size_t)c->gzip.threads : 4;
    return (2 * th + 3) * blk + th * (768u << 10);
  }
  return 0;
}

int pipe_spec_build_transforms(const char* text, pipe_pipeline_t* pl,
                               const pipe_spec_limits_t* lim,
                               pipe_spec_cost_t* cost, pipe_error_t* err) {
  spec_word_t* toks = NULL;
  char* arena = NULL;
  char** argv = NULL;
  size_t ntoks = 0, i, start = 0, nstages = 0, total = 0, jobs = 0, pool_bytes;
  size_t buf_size = PIPE_DEFAULT_BUF_SIZE, pool_limit = PIPE_DEFAULT_POOL_LIMIT;
  int r = 0;
  if (cost != NULL) memset(cost, 0, sizeof(*cost));
  if (err != NULL) memset(err, 0, sizeof(*err));
  if (text == NULL) return seterr(err, PIPE_EINVAL, "spec", "no spec given");
  if (pl != NULL) {
    buf_size = pipe_pipeline_config(pl)->buf_size;
    pool_limit = pipe_pipeline_config(pl)->pool_limit;
  } else if (lim != NULL && lim->buf_size > 0) {
    buf_size = lim->buf_size;
    if (lim->pool_limit > 0) pool_limit = lim->pool_limit;
  }
  pool_bytes = buf_size * pool_limit;
  arena = malloc(2 * strlen(text) + 1);
  if (arena == NULL) return seterr(err, PIPE_ENOMEM, "spec", "out of memory");
  r = tokenize(text, arena, &toks, &ntoks, err);
  if (r < 0) goto fail;
  argv = malloc((ntoks + 1) * sizeof(*argv));
  if (argv == NULL) {
    r = seterr(err, PIPE_ENOMEM, "spec", "out of memory");
    goto fail;
  }
  /* Two passes: validate and cost everything, then build, so that a bad
   * last stage adds nothing to pl. */
  for (int pass = 0; pass < 2 && r == 0; pass++) {
    start = 0;
    nstages = 0;
    total = 0;
    jobs = 0;
    for (i = 0; i <= ntoks; i++) {
      stage_conf_t c;
      int bad = 0, n = 0;
      size_t k;
      if (i < ntoks && !toks[i].bar) continue;
      if (i == start) { /* nothing between two bars (or at an end) */
        if (ntoks == 0) {
          seterr(err, PIPE_EUSAGE, "spec",
                 "empty pipeline: expected 'STAGE [| STAGE ...]'");
          r = at(err, 0, 1);
        } else {
          size_t b = i < ntoks ? i : i - 1;
          seterr(err, PIPE_EUSAGE, "spec", "empty stage at '|'");
          r = at(err, toks[b].off, toks[b].col);
        }
        goto fail;
      }
      for (k = start; k < i; k++) argv[n++] = toks[k].text;
      argv[n] = NULL;
      r = parse_stage(n, argv, &c, err, &bad);
      if (r < 0) {
        at(err, toks[start + (size_t)bad].off, toks[start + (size_t)bad].col);
        goto fail;
      }
      if (lim != NULL && c.kind == ST_GZIP) {
        /* 0 means one per CPU: that is a cost too; the cap wins. */
        if (lim->max_threads > 0 &&
            (c.gzip.threads == 0 || c.gzip.threads > lim->max_threads))
          c.gzip.threads = lim->max_threads;
        if (lim->max_block_size > 0 && c.gzip.block_size > lim->max_block_size)
          c.gzip.block_size = lim->max_block_size;
        if (lim->max_block_size > 0 && c.gzip.block_size == 0 &&
            PIPE_GZIP_DEFAULT_BLOCK > lim->max_block_size)
          c.gzip.block_size = lim->max_block_size;
      }
      nstages++;
      if (lim != NULL && lim->max_stages > 0 && nstages > lim->max_stages) {
        seterr(err, PIPE_EUSAGE, "spec", "too many stages (at most %zu)",
               lim->max_stages);
        r = at(err, toks[start].off, toks[start].col);
        goto fail;
      }
      total += pool_bytes + transform_extra(&c);
      if (c.kind == ST_GZIP)
        jobs += c.gzip.threads > 0 ? (size_t)c.gzip.threads : 4;
      if (pass == 1 && pl != NULL) {
        r = build_stage(pl, &c, NULL);
        if (r < 0) {
          seterr(err, r, stage_names[c.kind], "%s: cannot create the stage: %s",
                 stage_names[c.kind], pipe_strerror(r));
          at(err, toks[start].off, toks[start].col);
          goto fail;
        }
      }
      start = i + 1;
    }
    if (pl == NULL) break;
  }
  if (cost != NULL) {
    cost->mem = total;
    cost->cpu_jobs = jobs;
  }
fail:
  free(argv);
  free(toks);
  free(arena);
  return r;
}
