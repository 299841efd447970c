/* pipe — pipelines from a one-line spec, shared by `pipe run` and the HTTP
 * service:
 *
 *   big.csv | csv2json --infer | gzip -9 | out.json.gz
 *
 * Grammar. The spec is word groups separated by '|': at least two. The
 * first group is the source, the last the sink, each exactly one word: a
 * path, `-` (stdin / stdout), or s3://bucket/key (an S3 download source
 * or upload sink, built on the S3 client of the context the pipeline was
 * made in: pipe_pipeline_new_in, with the context's part size and
 * concurrency). The groups
 * between are transforms, a stage name and its options:
 *
 *   csv2json [-d C | --delimiter C] [--no-header] [--infer] [--array]
 *            [--ragged]          C: one byte, or `\t` / `tab` for a tab;
 *                                not `"` or a line break. Default ','.
 *   gzip [-1..-9 | --level N] [--threads N] [--block-size BYTES]
 *                                N threads 0..256 (0: one per CPU); BYTES
 *                                1K..1G, suffix K, M or G (KiB...).
 *   gunzip
 *   hash [sha256|md5|crc32c]     default sha256
 *
 * Options also take the forms --opt=VALUE and (short ones) -dVALUE; a
 * repeated option: the last wins.
 *
 * Words are split on blanks (space, tab, CR, LF). Quotes group: '...'
 * keeps every byte as is; "..." too, except that \" and \\ stand for " and
 * \ (other backslashes stay: "\t" is the two bytes \ t). Quoted and plain
 * pieces that touch form one word (-d'|'). '|' separates stages only
 * outside quotes; a '|' delimiter must be quoted.
 *
 * Errors point at the word that caused them: err->column is its 1-based
 * character position (UTF-8 characters, not bytes) and err->offset its
 * byte offset, so a front end can underline it (pipe_spec_format_error).
 * The library never prints.
 *
 * Threads: parsing is pure and reentrant; building, like every pipeline
 * call, is loop thread only.
 */
#ifndef PIPE_SPEC_H
#define PIPE_SPEC_H

#include "pipe/export.h"

#include <stddef.h>

#include "pipe/error.h"
#include "pipe/stage.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef struct pipe_spec_s pipe_spec_t;

/** Parses and validates spec (borrowed for the call; the result keeps its
 *  own copies): unknown stages, bad options, a multi-word source... are
 *  all reported here, before anything is opened. On success returns 0 and
 *  *out (free with pipe_spec_free). On error returns PIPE_EUSAGE (or
 *  PIPE_ENOMEM, PIPE_EINVAL for a NULL spec) with *out NULL and err filled
 *  (err may be NULL): msg says what is wrong ("unknown stage 'gzipp' (did
 *  you mean 'gzip'?)", "gzip: level must be 1..9, got '-0'"), stage is
 *  "spec" or the stage whose options are wrong, err->column is the 1-based
 *  character position of the offending word in spec and err->offset its
 *  0-based byte offset (has_offset = 1). A missing part is pointed at
 *  where it was expected: "empty stage between '|' and '|'" at the second
 *  '|', "missing sink after '|'" at the last '|', and a lone word with no
 *  '|' just after it ("in.csv out.json", two words and no '|', is a
 *  multi-word source: pointed at its second word). */
PIPE_EXTERN int pipe_spec_parse(const char* spec, pipe_spec_t** out, pipe_error_t* err);

/** Frees a parsed spec. NULL is fine. */
PIPE_EXTERN void pipe_spec_free(pipe_spec_t* spec);

/** Number of stages including source and sink (>= 2). */
PIPE_EXTERN size_t pipe_spec_count(const pipe_spec_t* spec);

/** The source and sink words, unquoted ("-" for stdin / stdout). Borrowed:
 *  valid until pipe_spec_free. */
PIPE_EXTERN const char* pipe_spec_source(const pipe_spec_t* spec);
PIPE_EXTERN const char* pipe_spec_sink(const pipe_spec_t* spec);

/** Name of stage i: 0 is the source ("file", "stdin" or "s3"), the last is
 *  the sink ("file", "stdout" or "s3"), the others their stage name
 *  ("csv2json"). NULL when i >= pipe_spec_count(). Static strings. */
PIPE_EXTERN const char* pipe_spec_stage_name(const pipe_spec_t* spec, size_t i);

/** Adds the spec's stages to pl, which must have none yet: source,
 *  transforms, sink (a file sink fsyncs before its rename). The stages are
 *  then the pipeline's; on error the ones already added stay in pl, to be
 *  freed with it. Returns 0, PIPE_EINVAL (pl not empty), PIPE_EUSAGE for
 *  an s3:// source or sink in a pipeline made without a context (pointing
 *  at the word, checked before anything is added), or a constructor's
 *  error with err pointing at the stage's first word (an s3:// stage's own
 *  message kept: no credentials, a bad profile...). Loop thread only. */
PIPE_EXTERN int pipe_spec_build(const pipe_spec_t* spec, pipe_pipeline_t* pl,
                    pipe_error_t* err);

/** Adds one transform stage from its words (argv[0] is the stage name,
 *  argv borrowed for the call) — the same option parser `pipe run`, the
 *  CLI commands and the HTTP service use. *out (out may be NULL) is the new
 *  stage. Returns 0; PIPE_EUSAGE with err filled: msg as for
 *  pipe_spec_parse, err->column the 1-based index in argv of the offending
 *  word (1 = argv[0], the stage name; so 0 still means "no position"),
 *  has_offset = 0; PIPE_EINVAL for argc < 1; or a constructor's error
 *  (err->column 1). Loop thread only. */
PIPE_EXTERN int pipe_spec_add_stage(pipe_pipeline_t* pl, int argc, char** argv,
                        pipe_stage_t** out, pipe_error_t* err);

/** Renders an error from pipe_spec_parse/pipe_spec_build the way compilers
 *  do — the spec on one line, then a caret under the first character of the
 *  offending word and '~' under the rest of it:
 *
 *    big.csv | gzipp -9 | out.gz
 *              ^~~~~
 *
 *  Both lines end with '\n'. Line breaks in spec are shown as blanks; a tab
 *  before the word is repeated in the caret line so it lines up. Columns
 *  count UTF-8 characters (a wide character counts as one). Writes at most
 *  cap bytes including the NUL (always NUL-terminated when cap > 0) and
 *  returns the length the whole text needs, as snprintf does: the output
 *  was truncated if the result is >= cap. Returns PIPE_EINVAL (writing an
 *  empty string) when err has no offset or it lies beyond the spec. */
PIPE_EXTERN int pipe_spec_format_error(const char* spec, const pipe_error_t* err,
                           char* out, size_t cap);


/** Caps a server applies to a client's transforms (zero: no cap), and the
 *  pool sizes used to cost them when no pipeline is given. */
typedef struct pipe_spec_limits_s {
  int max_threads;       /* gzip --threads above (or 0 = per CPU) -> this */
  size_t max_block_size; /* gzip --block-size above -> this */
  size_t max_stages;     /* more stages: PIPE_EUSAGE */
  size_t buf_size;       /* costing without pl: bytes per buffer */
  size_t pool_limit;     /*   and buffers per stage pool */
} pipe_spec_limits_t;

/** What a transforms-only spec can cost at worst, known before it runs. */
typedef struct pipe_spec_cost_s {
  size_t mem;      /* bytes: every stage's pool plus gzip's blocks */
  size_t cpu_jobs; /* jobs on libuv's thread pool at once (gzip threads;
                      a gzip left at 0 = one per CPU is counted as 4);
                      for information: in a context the jobs queue for
                      its CPU budget (pipe_ctx_set_cpu_jobs) */
} pipe_spec_cost_t;

/** A spec of transforms only — "csv2json --infer | gzip", the stages of
 *  the pipe run grammar without source and sink — for a front end that
 *  supplies both itself (the HTTP service: request body in, its store out;
 *  a client can never name a path). text is borrowed for the call. Every
 *  stage is validated and capped by lim (may be NULL) first; then, when pl
 *  is not NULL, the stages are appended to pl in order (nothing is added
 *  when any is wrong). *cost (may be NULL) gets the worst case: bytes of
 *  memory the stages can hold (each one's pool, buf_size x pool_limit from
 *  pl's config or lim, plus gzip's blocks) and CPU jobs, caps applied. An empty
 *  text is an error. Returns 0, PIPE_EUSAGE with err filled and pointing
 *  at the word (as pipe_spec_parse: err->column, err->offset into text),
 *  PIPE_EINVAL for a NULL text, PIPE_ENOMEM or a constructor's error.
 *  Loop thread only when pl is given. */
PIPE_EXTERN int pipe_spec_build_transforms(const char* text, pipe_pipeline_t* pl,
                                           const pipe_spec_limits_t* lim,
                                           pipe_spec_cost_t* cost,
                                           pipe_error_t* err);

#ifdef __cplusplus
}
#endif
#endif /* PIPE_SPEC_H */
