/* Streaming multipart/form-data parser: a pure, loop-free codec (no libuv, no
 * buffers, no threads). Internal to libpipe, not installed; the HTTP upload
 * route wraps it. busboy is the model, RFC 7578 and RFC 2046 the rule.
 *
 * Shape (picohttpparser / http-parser): the caller owns the input buffers and
 * feeds them in pieces of any size; the parser calls back with zero-copy
 * events: part begin (with the parsed part headers), part data (slices of the
 * caller's buffer), part end, end. It never copies part data and keeps no
 * tail of the input: a delimiter cut by a buffer end is remembered as "the
 * first k bytes of the delimiter" (those bytes are known, they are the
 * delimiter's), so nothing of a previous buffer is needed again. Only a part's
 * header block is copied, into a buffer bounded by max_header_size.
 * The events are the same whatever the split of the input (data slices may
 * be cut differently; their concatenation is the same).
 *
 * Syntax accepted (the choices, each tested):
 *  - The delimiter is CRLF "--" boundary. A body may start with "--" boundary
 *    without the CRLF (only at the very start, as busboy does); anything
 *    before the first delimiter is preamble and ignored, and everything after
 *    the close delimiter ("--" boundary "--") is epilogue and ignored.
 *  - After the boundary on a delimiter line: transport padding (SP / HT) then
 *    CRLF. CRLF "--" boundary followed by any other byte (a letter, a digit,
 *    or a single '-' then not '-') is not a delimiter: those bytes are part
 *    data, as in Python's email parser. Padding or CR after the boundary
 *    commits to a delimiter line: then anything but padding and CRLF is
 *    PIPE_EMPSYNTAX.
 *  - Lines end with CRLF only, like busboy: an LF-only body has no delimiter
 *    and ends in PIPE_EMPTRUNC; a bare CR or LF in a part header is
 *    PIPE_EMPSYNTAX.
 *  - Part headers: "Name: value" lines (names are tokens, matched
 *    case-insensitively; OWS around the value trimmed; obs-fold continuation
 *    lines are joined with the previous value). Every part needs
 *    "Content-Disposition: form-data" (else PIPE_EMPNODISP) with a name
 *    parameter (else PIPE_EMPNONAME). Parameters are matched
 *    case-insensitively, values are tokens or quoted-strings; the first
 *    occurrence of a parameter wins (as busboy). In a quoted-string only \\
 *    and \" are escapes, another backslash is kept (busboy, Python's
 *    email.utils.unquote; old browsers sent raw C:\path\names).
 *    `name*=` / `filename*=` (RFC 5987 ext-value, charset'lang'%XX) is decoded
 *    and preferred over name= / filename=; UTF-8 and unknown charsets give
 *    the bytes as they are, ISO-8859-1 (or latin1) is converted to UTF-8. A decoded NUL
 *    is PIPE_EMPSYNTAX. Percent signs in a plain quoted filename are kept
 *    literally (as busboy does; curl and browsers send '"' as %22 there).
 *  - A part is a file when it has filename or filename* (even empty: a
 *    browser's file input with no file chosen sends filename=""), else a
 *    text field. The filename is given as sent: the server sanitizes it.
 * Where busboy 1.6 differs (each case is tested next to real busboy): it
 * passes a part without a name on (name undefined) and drops a part without
 * a disposition silently, where we fail (PIPE_EMPNONAME / PIPE_EMPNODISP:
 * the server answers 400); it loses every part after a delimiter line with
 * transport padding (RFC 2046 allows it; we skip the padding); it ends a
 * part at CRLF "--" boundary followed by another byte and drops the bytes up
 * to the next delimiter (we keep them as data, as Python does); it makes a
 * part with filename="" a field and any application/octet-stream part a
 * file (a file is a part with a filename for us, as in RFC 7578 and HTML).
 * Limits (busboy's, each with its own code): header block bytes, header
 * lines per part, parts, files, fields, bytes per field, bytes per file.
 * The total body size is the caller's business.
 *
 * Memory per parser: the struct (about 1 KiB) plus, once a header block is seen,
 * a copy of the largest block so far (<= max_header_size), a decode area of
 * the same size, and 32 bytes per header line (<= max_header_pairs): 32 KiB
 * plus 64 KiB for a block of 2000 tiny header lines, worst case with the
 * defaults, whatever the body size.
 *
 * Loop thread only in the sense that a parser is not thread-safe; it never
 * touches a loop.
 */
#ifndef PIPE_CODEC_MULTIPART_H
#define PIPE_CODEC_MULTIPART_H

#include <stddef.h>
#include <stdint.h>

#include "pipe/error.h"

#define PIPE_MP_BOUNDARY_MAX 70 /* RFC 2046: 1..70 characters */
#define PIPE_MP_UNLIMITED UINT64_MAX

/** Limits; pipe__mp_config_init() fills busboy's defaults. A value is used as
 *  it is: max_files = 0 means "no file part allowed". */
typedef struct pipe_mp_config_s {
  uint64_t max_header_size;  /* bytes of one part's header block, including
                                its CRLFs and blank line: 16 KiB */
  uint64_t max_header_pairs; /* header lines per part: 2000 */
  uint64_t max_parts;        /* parts (files + fields): unlimited */
  uint64_t max_files;        /* file parts: unlimited */
  uint64_t max_fields;       /* text field parts: unlimited */
  uint64_t max_field_size;   /* bytes of one text field's value: 1 MiB */
  uint64_t max_file_size;    /* bytes of one file part: unlimited */
} pipe_mp_config_t;

/** One part header line, raw (obs-fold joined), value trimmed. */
typedef struct pipe_mp_header_s {
  const char* name;
  size_t name_len;
  const char* value;
  size_t value_len;
} pipe_mp_header_t;

/** What on_part_begin sees. Every pointer is owned by the parser and stays
 *  valid until on_part_end for this part returns (or the parser is freed). */
typedef struct pipe_mp_part_s {
  uint64_t index;           /* 0-based part number */
  const char* name;         /* decoded field name, NUL-terminated */
  size_t name_len;
  const char* filename;     /* decoded, NUL-terminated; NULL for a field */
  size_t filename_len;
  int is_file;              /* filename or filename* present */
  const char* content_type; /* raw value, not NUL-terminated; NULL if absent */
  size_t content_type_len;
  const pipe_mp_header_t* headers; /* every header line, in order */
  size_t nheaders;
} pipe_mp_part_t;

/** Callbacks; any may be NULL. Each returns PIPE_OK (0) to go on, PIPE_FULL
 *  (1) to pause (pipe__mp_feed returns PIPE_FULL at once, having consumed the
 *  bytes up to this event), or < 0 to abort (the parser fails with that
 *  code). on_part_data borrows data for the call only: it points into the
 *  caller's buffer, or into the parser's copy of the delimiter when bytes
 *  that looked like a delimiter turn out to be data. */
typedef struct pipe_mp_callbacks_s {
  int (*on_part_begin)(void* ud, const pipe_mp_part_t* part);
  int (*on_part_data)(void* ud, const uint8_t* data, size_t len);
  int (*on_part_end)(void* ud);
  int (*on_end)(void* ud); /* the close delimiter was seen */
} pipe_mp_callbacks_t;

typedef struct pipe_mp_s pipe_mp_t;

/** Fills c with the default limits. */
void pipe__mp_config_init(pipe_mp_config_t* c);

/** Finds the boundary parameter of a Content-Type header value
 *  ("multipart/form-data; boundary=xyz", media type and parameter names
 *  case-insensitive, the value a token or a quoted-string). Borrows ct for the
 *  call; writes the boundary, NUL-terminated, into out (71 bytes) and its
 *  length into *out_len. Returns 0, PIPE_EMPMEDIA when the media type is not
 *  multipart/form-data, or PIPE_EMPBOUNDARY when the boundary is missing,
 *  given twice, empty, longer than 70, not made of RFC 2046 bchars, ends in
 *  a space, or the parameters cannot be parsed. */
int pipe__mp_boundary_parse(const char* ct, size_t ct_len,
                            char out[PIPE_MP_BOUNDARY_MAX + 1],
                            size_t* out_len);

/** Creates a parser for one body. Borrows boundary for the call (it is
 *  copied), cfg for the call (NULL = defaults), cb and ud for the parser's
 *  life. Returns 0, PIPE_ENOMEM, or PIPE_EMPBOUNDARY for a boundary that
 *  pipe__mp_boundary_parse would refuse. */
int pipe__mp_new(const char* boundary, size_t boundary_len,
                 const pipe_mp_config_t* cfg, const pipe_mp_callbacks_t* cb,
                 void* ud, pipe_mp_t** out);

/** Frees a parser (NULL is fine). */
void pipe__mp_free(pipe_mp_t* mp);

/** Parses buf[0,len) (borrowed for the call), calling back as it goes.
 *  Sets *consumed. Returns PIPE_OK with *consumed == len; PIPE_FULL when a
 *  callback asked to pause: the bytes before *consumed are done, feed the
 *  rest (buf + *consumed) later; or < 0 (PIPE_EMP* for bad input or a limit,
 *  PIPE_ENOMEM, or a callback's code), after which every call returns the
 *  same error. Bytes after the close delimiter are consumed and ignored.
 *  May return PIPE_FULL with *consumed == 0 (an event was delivered). */
int pipe__mp_feed(pipe_mp_t* mp, const uint8_t* buf, size_t len,
                  size_t* consumed);

/** End of the body. Returns 0 when the close delimiter was seen (delivering
 *  an on_end a pause held back: then PIPE_FULL is never returned),
 *  PIPE_EMPTRUNC otherwise, or the parser's earlier error. */
int pipe__mp_finish(pipe_mp_t* mp);

/** 1 once the close delimiter has been seen. */
int pipe__mp_done(const pipe_mp_t* mp);

/** The HTTP status for a multipart error code: 400 for a malformed body
 *  (PIPE_EMPTRUNC, EMPBOUNDARY, EMPSYNTAX, EMPNODISP, EMPNONAME), 415 for
 *  PIPE_EMPMEDIA, 413 for a limit (EMPHDRSIZE, EMPHDRPAIRS, EMPPARTS,
 *  EMPFILES, EMPFIELDS, EMPFIELDSIZE, EMPFILESIZE); 0 for any other code
 *  (ENOMEM, a callback's own error: the caller decides). */
int pipe__mp_http_status(int err);

/** The error detail (code 0 when none): offset = byte offset in the body. */
const pipe_error_t* pipe__mp_error(const pipe_mp_t* mp);

#endif /* PIPE_CODEC_MULTIPART_H */
