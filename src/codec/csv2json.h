/* CSV -> JSON converter: a pure, loop-free codec (no libuv, no buffers, no
 * threads). Internal to libpipe, not installed; the csv2json stage wraps it.
 *
 * Streaming contract: the caller feeds input in pieces of any size and hands
 * output space of any size >= 256 bytes; the converter keeps every bit of
 * partial state itself (partial field / record / UTF-8 sequence / BOM / CR
 * awaiting LF), so consumed input is never needed again. The output is the
 * same byte for byte whatever the split of input and output.
 *
 * Semantics (RFC 4180 plus real-world CSV):
 *  - outside quotes, records end at LF, CRLF or a lone CR (classic Mac), as
 *    Python's csv; inside quotes CR and LF are data; each of the three counts
 *    as one line for error positions, inside quotes too; blank lines are
 *    skipped anywhere; a UTF-8 BOM at the very start is dropped;
 *  - a quote opens a quoted field only at the start of a field; elsewhere in an
 *    unquoted field it is a literal; after a closing quote only the
 *    delimiter, a line end or end of input may follow (else PIPE_ECSV);
 *  - output is NDJSON, or one JSON array with opts.array; values are strings
 *    unless opts.infer: then an unquoted field that is exactly a JSON number
 *    (at most 64 bytes), true, false, or empty becomes a number, boolean or
 *    null;
 *  - keys come from the header (duplicates get _2, _3...; an empty name gets
 *    its 1-based column number) or are "1", "2", ... without a header; with
 *    opts.ragged, missing fields are omitted and extra ones get keys "_N"
 *    (1-based column; "N" without a header). Without a header and without
 *    ragged, the first record fixes the field count.
 *  - the content must be valid UTF-8 (PIPE_EUTF8 otherwise).
 * A delimiter byte >= 0x80 works but cannot then appear inside UTF-8 text.
 */
#ifndef PIPE_CODEC_CSV2JSON_H
#define PIPE_CODEC_CSV2JSON_H

#include <stddef.h>
#include <stdint.h>

#include "pipe/error.h"

typedef struct pipe_csvj_opts_s {
  uint8_t delim; /* any single byte except '"', CR, LF; default ',' */
  int header;    /* 1: first row gives keys (default); 0: keys "1","2",... */
  int infer;     /* numbers, true/false, empty->null */
  int array;     /* one JSON array instead of NDJSON */
  int ragged;    /* accept rows with another field count */
} pipe_csvj_opts_t;

typedef struct pipe_csvj_s pipe_csvj_t;

/** Creates a converter; o may be NULL for defaults (',', header, no infer,
 *  NDJSON, strict field count). A delim of 0 means ','.
 *  Returns 0, PIPE_ENOMEM, or PIPE_EINVAL for delim '"', '\r' or '\n'. */
int pipe__csvj_new(const pipe_csvj_opts_t* o, pipe_csvj_t** out);

/** Frees a converter (NULL is fine). */
void pipe__csvj_free(pipe_csvj_t* cj);

/** Converts as much of in[0,len) as it can into out[0,cap); borrows both for
 *  the call only. Sets *consumed and *produced. Returns 0 when it made
 *  progress: either all input was consumed, or the output is full enough
 *  that the caller must hand a fresh buffer (then call again with the rest).
 *  Always makes progress when cap >= 256. Returns < 0 on bad input
 *  (PIPE_ECSV, PIPE_EUTF8, PIPE_EFIELDS; detail in pipe__csvj_error()) or
 *  PIPE_ENOMEM; after an error every call returns the same error.
 *  Output already produced for earlier records stays valid. */
int pipe__csvj_feed(pipe_csvj_t* cj, const uint8_t* in, size_t len,
                    size_t* consumed, uint8_t* out, size_t cap,
                    size_t* produced);

/** End of input: flushes the last record, the closing ']' with opts.array,
 *  reports an unterminated quote. Returns 0 when finished, PIPE_FULL (1) when
 *  out filled (call again with fresh space), < 0 on error. */
int pipe__csvj_finish(pipe_csvj_t* cj, uint8_t* out, size_t cap,
                      size_t* produced);

/** The error detail (code 0 when none). Owned by cj. */
const pipe_error_t* pipe__csvj_error(const pipe_csvj_t* cj);

/** Data records converted so far (the header is not counted). */
uint64_t pipe__csvj_records(const pipe_csvj_t* cj);

/** Physical input lines seen so far (LF, CRLF and lone CR each count). */
uint64_t pipe__csvj_lines(const pipe_csvj_t* cj);

/** Forces a scanner level (PIPE_CSV_SCAN_*, codec/csv_scan.h) for this
 *  converter; for tests and benchmarks. Call before the first feed.
 *  Returns 0, or PIPE_EINVAL when this CPU/build cannot run that level. */
int pipe__csvj_set_scan_level(pipe_csvj_t* cj, int level);

#endif /* PIPE_CODEC_CSV2JSON_H */
