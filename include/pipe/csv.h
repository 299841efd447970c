/* pipe — CSV to JSON. */
#ifndef PIPE_CSV_H
#define PIPE_CSV_H

#include "pipe/export.h"

#include <stdint.h>

#include "pipe/stage.h"

#ifdef __cplusplus
extern "C" {
#endif

/** Options of the csv2json transform; zeroed means the defaults. */
typedef struct pipe_csv2json_config_s {
  uint8_t delimiter; /* any single byte; 0 means ',' */
  int no_header;     /* keys "1","2",... instead of the first row */
  int infer;         /* unquoted numbers, true/false, empty -> JSON types */
  int array;         /* one JSON array instead of NDJSON */
  int ragged;        /* accept rows with another field count than the header */
} pipe_csv2json_config_t;

/** CSV (RFC 4180 and real-world) in, NDJSON or a JSON array out. Bad input
 *  fails the run with PIPE_ECSV / PIPE_EFIELDS / PIPE_EUTF8 and an error
 *  naming line, column and record. cfg may be NULL. */
PIPE_EXTERN int pipe_csv2json_new(pipe_pipeline_t* pl, const pipe_csv2json_config_t* cfg,
                      pipe_stage_t** out);

/** Data records converted so far. */
PIPE_EXTERN uint64_t pipe_csv2json_records(const pipe_stage_t* s);

#ifdef __cplusplus
}
#endif
#endif /* PIPE_CSV_H */
