/* Test harness: a loop fixture, scripted test stages and file helpers.
 *
 * Every criterion test runs in its own process, so the harness keeps one
 * loop per process (th_loop()). Typical test:
 *
 *   TestSuite(flow, .init = th_loop_init, .fini = th_loop_fini);
 *   Test(flow, something) {
 *     pipe_pipeline_t* pl = th_pipeline(NULL);
 *     th_source_t* src = th_source_new(pl, data, len, 1000);
 *     th_sink_t* snk = th_sink_new(pl, 2, 1);     // FULL at 2, slow
 *     cr_assert_eq(th_run(pl), 0);                // done fired exactly once
 *     ... assertions on src->counts, snk->got ...
 *     th_finish(pl);                              // free + loop must close
 *   }
 *
 * Stage memory belongs to the pipeline: read counters before th_finish().
 * All th_*_new functions assert on failure instead of returning codes.
 */
#ifndef TESTS_SUPPORT_HARNESS_H
#define TESTS_SUPPORT_HARNESS_H

#include <stddef.h>
#include <stdint.h>
#include <uv.h>

#include "pipe.h"

/* ---- loop fixture ------------------------------------------------------- */

/** Criterion .init: initializes the per-process loop. */
void th_loop_init(void);
/** Criterion .fini: lets pending closes run, then asserts that
 *  uv_loop_close() == 0 (no handle leaked), naming leaked handle types. */
void th_loop_fini(void);
/** The loop of this test process. */
uv_loop_t* th_loop(void);

/* ---- pipelines ---------------------------------------------------------- */

/** pipe_pipeline_new on th_loop(), asserting success. cfg may be NULL. */
pipe_pipeline_t* th_pipeline(const pipe_pipeline_config_t* cfg);

/** Runs pl to completion: pipe_pipeline_run, then uv_run until the loop
 *  has nothing left. Asserts that run() returned 0 and that the completion
 *  callback fired exactly once; returns the status it was given. */
int th_run(pipe_pipeline_t* pl);

/** How many times the completion callback fired in th_run (for tests that
 *  want to state it themselves). */
int th_done_calls(void);

/** Frees pl (and the sinks' collected bytes), then asserts the loop closes
 * cleanly (uv_loop_close == 0) and re-initializes it so a test may build
 * another pipeline. */
void th_finish(pipe_pipeline_t* pl);

/* ---- counters common to the test stages --------------------------------- */

typedef struct th_counts_s {
  int starts;
  int writes;
  int ends; /* end() calls received */
  int resumes;
  int destroys; /* must end up exactly 1 */
  int destroy_status;
} th_counts_t;

/* ---- memory source ------------------------------------------------------ */

/** Pushes `len` bytes of `data` (borrowed: keep it alive for the run) in
 *  buffers of at most `chunk` bytes taken from its own pool. Honours the
 *  flow contract: stops on PIPE_FULL until resume, waits on its pool when
 *  empty, ends after the last byte. */
typedef struct th_source_s {
  pipe_stage_t stage; /* first */
  const uint8_t* data;
  size_t len, pos, chunk;
  int fulls;      /* PIPE_FULL answers received */
  int pool_waits; /* times the pool was empty */
  th_counts_t counts;
} th_source_t;

th_source_t* th_source_new(pipe_pipeline_t* pl, const void* data, size_t len,
                           size_t chunk);

/* ---- collecting sink ---------------------------------------------------- */

/** Collects every byte it is given into `got`.
 *  tick_ms == 0: consumes at once and never answers PIPE_FULL.
 *  tick_ms > 0 ("slow"): queues buffers, consumes one per timer tick,
 *  answers PIPE_FULL when `full_at` (>= 1) buffers are queued and calls
 *  pipe_stage_drain() once the queue is below it again; an end() received
 *  with buffers queued is honoured after the queue is empty. */
typedef struct th_sink_s {
  pipe_stage_t stage; /* first */
  size_t full_at;
  uint64_t tick_ms;
  size_t stop_after; /* > 0: end itself early once this many bytes came
                        (like stdout on EPIPE); set after th_sink_new */
  pipe_buf_t* qhead;
  pipe_buf_t* qtail;
  size_t qlen, max_qlen;
  uint8_t* got; /* malloc'd, freed at destroy unless taken (th_sink_take) */
  size_t got_len, got_cap;
  uv_timer_t timer;
  int timer_live;
  int answered_full; /* said PIPE_FULL, not drained yet */
  int ending;
  int stopped; /* ended early because of stop_after */
  int fulls, drains;
  int writes_while_full; /* protocol violations by upstream: must stay 0 */
  int writes_after_end;  /* ditto */
  size_t in_at_end;      /* bytes written to us when end() arrived */
  size_t queued_at_end;  /* buffers still queued when end() arrived */
  th_counts_t counts;
} th_sink_t;

th_sink_t* th_sink_new(pipe_pipeline_t* pl, size_t full_at, uint64_t tick_ms);

/** Gives the collected bytes to the caller (malloc'd; free() them). */
uint8_t* th_sink_take(th_sink_t* k, size_t* len);

/* ---- failing pass-through stage ----------------------------------------- */

/** Forwards buffers unchanged (same buffer, no copy) and fails the run with
 *  `err` when the `fail_at`-th buffer arrives (0: never fails). */
typedef struct th_fail_s {
  pipe_stage_t stage; /* first */
  int fail_at;
  int err;
  th_counts_t counts;
} th_fail_t;

th_fail_t* th_fail_new(pipe_pipeline_t* pl, int fail_at, int err);

/* ---- data and files ----------------------------------------------------- */

/** n bytes of a deterministic, non-repeating-looking pattern (malloc'd). */
uint8_t* th_pattern(size_t n, uint32_t seed);
/** A fresh empty directory (malloc'd path); removed by nobody: /tmp. */
char* th_tmpdir(void);
/** dir + "/" + name (malloc'd). */
char* th_path(const char* dir, const char* name);
/** Writes a whole file, asserting success. */
void th_write_file(const char* path, const void* data, size_t len);
/** Reads a whole file (malloc'd, NUL-terminated) or NULL if it is absent. */
uint8_t* th_read_file(const char* path, size_t* len);
/** Entries in dir, . and .. excluded. */
int th_count_entries(const char* dir);

#endif /* TESTS_SUPPORT_HARNESS_H */
