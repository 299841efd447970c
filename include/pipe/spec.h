/* pipe — pipelines from a one-line spec, shared by `pipe run` and the HTTP
 * service:
 *
 *   big.csv | csv2json --infer | gzip -9 | out.json.gz
 *
 * The first word group is the source (a path, or `-` for stdin), the last
 * the sink (a path, or `-` for stdout), and the ones between are stages
 * with their options: csv2json [-d C] [--no-header] [--infer] [--array]
 * [--ragged], gzip [-1..-9] [--threads N], gunzip, hash [sha256|md5|crc32c].
 * Words are split on blanks; single or double quotes group (`-d '|'`).
 */
#ifndef PIPE_SPEC_H
#define PIPE_SPEC_H

#include <stddef.h>

#include "pipe/error.h"
#include "pipe/stage.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef struct pipe_spec_s pipe_spec_t;

/** Parses spec. On success returns 0 and *out (free with pipe_spec_free).
 *  On error returns PIPE_EUSAGE and fills err: msg says what is wrong,
 *  err->column is the 1-based character position of the offending word
 *  in spec, and err->offset its 0-based byte offset (has_offset = 1). */
int pipe_spec_parse(const char* spec, pipe_spec_t** out, pipe_error_t* err);
void pipe_spec_free(pipe_spec_t* spec);

/** Number of stages including source and sink; the source path ("-" for
 *  stdin) and sink path. */
size_t pipe_spec_count(const pipe_spec_t* spec);
const char* pipe_spec_source(const pipe_spec_t* spec);
const char* pipe_spec_sink(const pipe_spec_t* spec);
/** Name of stage i (0 = source: "file"/"stdin"; last: "file"/"stdout"). */
const char* pipe_spec_stage_name(const pipe_spec_t* spec, size_t i);

/** Adds the spec's stages to an empty pipeline: source, transforms, sink.
 *  Returns 0 or < 0 (err filled). The stages are then the pipeline's. */
int pipe_spec_build(const pipe_spec_t* spec, pipe_pipeline_t* pl,
                    pipe_error_t* err);

/** Adds one transform stage from its words (argv[0] is the stage name) —
 *  the same option parser `pipe run`, the CLI commands and the HTTP service
 *  use. Returns 0 or PIPE_EUSAGE with err filled (err->column is the index
 *  in argv of the offending word, 0-based). */
int pipe_spec_add_stage(pipe_pipeline_t* pl, int argc, char** argv,
                        pipe_stage_t** out, pipe_error_t* err);

#ifdef __cplusplus
}
#endif
#endif /* PIPE_SPEC_H */
