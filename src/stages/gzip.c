/* The gzip stage: block-parallel compression on the libuv thread pool
 * (as CPU jobs under the context's budget, pipe/work.h), written as ONE
 * gzip member.
 *
 * Shape (pigz): input is cut into blocks of block_size bytes; each block is
 * compressed by a worker into one piece of a single deflate stream
 * (src/codec/deflate_block.c) and the pieces are pushed downstream strictly
 * in input order, behind one gzip header and followed by one trailer:
 *
 *   header | piece 0 ... piece n-2 (each ending in 00 00 FF FF) | last
 *   piece (the stream's only final block) | CRC-32 | ISIZE
 *
 * The CRC-32 of each block is taken on its worker and joined on the loop
 * thread with crc32_combine as the pieces go out; ISIZE is the total input
 * length modulo 2^32. Blocks share no dictionary (libdeflate has none):
 * back-references never cross a piece, at a cost measured below.
 *
 * Why one member: RFC 1952 allows several, and we wrote one per block until
 * issue 12, but many decoders stop after the first member, some silently:
 * Chromium's Content-Encoding: gzip kept only the first MiB with no error,
 * Python's zlib.decompressobj(31) left the rest in unused_data, gzip -l
 * reported the last member's size. One member is read whole by all of them
 * (tests/stages/test_gzip.c, tests/integration/test_browser_gzip.c).
 *
 * ---- Engines, levels and the join (issue 12) ----------------------------
 * Three ways to make one member were measured (bench/micro/gzip_blocks.c,
 * one core, thread CPU seconds, 1 MiB blocks; "csv" is the first 100 MB of
 * bench/data/big.csv = gencsv 250m, "json" its 185.7 MB of NDJSON from
 * csv2json; shared 2-core VM, so CPU, not wall):
 *
 *   per block                     csv s   csv bytes     json s  json bytes
 *   libdeflate 6, compress only   1.557   35,134,498    1.859   41,792,515
 *     + our walker (find BFINAL)  +0.127  (+8.1%)       +0.151  (+8.1%)
 *     + zlib inflate(Z_BLOCK)     +0.267  (+17.2%)      +0.349  (+18.7%)
 *   piece, libdeflate 6 + walk    1.653   35,134,911    2.024   41,793,283
 *   piece, libdeflate 1 + walk    0.580   38,262,305    0.761   48,250,768
 *   piece, libdeflate 2 / 3       0.813 / 0.983  37.33 / 36.87 MB
 *   piece, libdeflate 9 + walk    3.518   34,685,413    6.087   39,903,225
 *   piece, ISA-L 1 (sync flush)   0.227   40,962,509    0.291   51,316,417
 *   piece, ISA-L 2                0.238   39,401,669    0.301   49,786,313
 *   piece, ISA-L 3                0.276   38,785,419    0.533   48,357,023
 *   CRC-32 + crc32_combine        0.007                 0.013
 *   whole-file peers, csv: pigz -p 1 -6 3.26 s 35,221,135 B; pigz -p 1 -1
 *   0.83 s 41,565,545 B; igzip -1 0.28 s 40,860,896 B; igzip -3 0.29 s
 *   38,655,891 B.
 *
 * (a) libdeflate per block, joined: libdeflate always sets BFINAL on its
 *   last block, so every piece but the stream's last is walked once, on the
 *   worker that compressed it, to find that block's header; the bit is
 *   cleared and an empty stored block (00 00 FF FF) ends the piece on a
 *   byte boundary (src/codec/deflate_block.c). zlib's inflate(Z_BLOCK), the
 *   gzjoin.c way, costs 17-19% of the compression time because it decodes
 *   everything; our decode-only walker costs 8%. Output is byte for byte
 *   what blocked libdeflate wrote before, plus 4-6 bytes per block.
 * (b) zlib with pigz's 32 KiB dictionary and Z_SYNC_FLUSH: one member by
 *   construction, pigz's own output (35,221,135 B on csv, 0.25% larger than
 *   (a): libdeflate's better parsing outweighs the dictionary), and zlib -6
 *   costs what pigz costs (pigz -p 1 -6: 3.26 s vs 1.65 s for (a)): it
 *   cannot reach 1.9x pigz.
 * (c) ISA-L: a streaming engine, sync flush ends a piece, no walk; 2.5-7x
 *   cheaper than libdeflate at the same nominal level, but 7-23% larger,
 *   and it has levels 1-3 only: it cannot give pigz -6's size.
 *
 * So: gzip -4..-9 = (a), libdeflate level N (at -6, 0.2% smaller than pigz
 * -6 on csv); gzip -1..-3 = (c), ISA-L level N: -1 is smaller than pigz -1
 * (40.96 vs 41.57 MB on csv) at a quarter of its CPU, and on a par with
 * igzip -1 (the same engine; ISA-L -1 lies within 0.3% of igzip -1's bytes).
 * libdeflate 1-3 were 2.5-3.6x the CPU of ISA-L 1-3 for 5-7% less output:
 * the fast levels are for speed. Whole-command speed and size against
 * pigz -p 2 and igzip: bench/RESULTS.md ("gzip").
 * Levels 10-12 of libdeflate (near-optimal parsing) cost 10x the time of 9
 * for ~4%: not reachable through gzip's -N.
 * The walker is ~2x faster than zlib's inflate because it writes nothing:
 * a 10-bit table lookup per code with the extra-bit count in the entry, no
 * branch between literal and length (they alternate unpredictably), the
 * bits in a 64-bit register. Longer codes (rare) take a canonical decode.
 *
 * ---- Block size ----------------------------------------------------------
 * (Measured before issue 12, on members; a piece is the same bytes plus 4-6.)
 * libdeflate level 6 by block size: 256 KiB 45.71 MB, 512 KiB 45.25 MB,
 * 1 MiB 45.01 MB, 2 MiB 44.88 MB, 4 MiB 44.82 MB, 8 MiB 44.80 MB (level 1:
 * 52.65 / 52.20 / 51.97 MB for 256 KiB / 512 KiB / 1 MiB). 1 MiB is the
 * knee: 0.5% above the 8 MiB figure for an eighth of the memory, and a block
 * is ~12 ms of work at level 6, short enough for a smooth pipeline and a
 * quick abort.
 *
 * ---- Jobs, memory and order ---------------------------------------------
 * There are `slots` = threads + 1 job slots, allocated with the stage; a
 * slot's input block (block_size bytes) and compressor are allocated the
 * first time the slot is used and kept until destroy(), never in the steady
 * state. A slot goes
 *
 *   FREE -> FILLING (input copied in, one memcpy per upstream buffer)
 *        -> READY (full, or last) -> RUNNING (on the thread pool, holds
 *        the stage) -> DONE (waiting for its turn) -> pushed -> FREE.
 *
 * Sequence numbers are given when a slot starts filling; DONE jobs are
 * pushed only in sequence order (pigz's writer). At most `threads` jobs are
 * RUNNING, that is, given to pipe_stage_queue_work(): in a pipeline made in
 * a context (pipe_pipeline_new_in) a RUNNING job may still wait there for
 * one of the context's CPU tokens, which all its pipelines share
 * (pipe_ctx_set_cpu_jobs), so N gzip stages never hold more pool threads
 * than the budget, and file I/O keeps a thread; the stage's own `threads`
 * caps it on top. Without a context the jobs go to the pool at once. Output is zero-copy: a RUNNING job compresses straight into a
 * buffer of a private pool of compress-bound-sized chunks (out_pool), and
 * that same buffer goes downstream. (Copying into the pipeline's 64 KiB
 * buffers instead would cost a memcpy of the output on the loop thread:
 * measured ~2 ms for the 45 MB of the 200 MB run, 0.1% of its compression
 * time, so speed does not decide; but copying needs a partial-emit state
 * machine, and zero-copy needs none.) out_pool's limit is slots + 1, so
 * the stage's memory is bounded by
 *   slots x (block_size + compressor) + (slots + 1) x bound(block_size)
 * whatever the input size; with 1 MiB blocks and 2 threads, ~8 MiB.
 *
 * Flow: write() answers PIPE_FULL when the input could not be copied in
 * whole (no free slot), when no slot would be free for the next write, or
 * when downstream is FULL; pump() calls pipe_stage_drain() once a slot
 * frees and downstream has room. An empty out_pool is waited on with
 * pipe_stage_wait_pool().
 *
 * Threads: the worker function touches only its job's input block, its
 * compressor and the bytes of its output buffer (base and cap copied into
 * the job on the loop thread): never refs, pools or stages (CONVENTIONS 4).
 *
 * Teardown: destroy() frees every slot that is not RUNNING, tries
 * pipe_work_cancel() on the RUNNING ones (those still waiting for a token
 * or a pool thread never run; their after_work_cb comes with
 * UV_ECANCELED, later, from the loop), and frees
 * the out_pool (it lingers until its last chunk returns). Each RUNNING job
 * still holds the stage; its after_work callback sees `destroyed`, frees
 * the job's memory and releases — the last one frees the slot array.
 */
#include <stdlib.h>
#include <string.h>
#include <uv.h>

#include "codec/deflate_block.h"
#include "core/internal.h"
#include "pipe/gzip.h"
#include "pipe/pipeline.h"

/* gzip -N -> engine and its level (index N); see the tables above. */
static const struct {
  pipe_dfb_engine_t engine;
  int level;
} level_map[10] = {
    {PIPE_DFB_LIBDEFLATE, 0}, {PIPE_DFB_ISAL, 1},       {PIPE_DFB_ISAL, 2},
    {PIPE_DFB_ISAL, 3},       {PIPE_DFB_LIBDEFLATE, 4}, {PIPE_DFB_LIBDEFLATE, 5},
    {PIPE_DFB_LIBDEFLATE, 6}, {PIPE_DFB_LIBDEFLATE, 7}, {PIPE_DFB_LIBDEFLATE, 8},
    {PIPE_DFB_LIBDEFLATE, 9},
};

/* The ranges are the public ones (pipe/gzip.h), which the spec parser
 * checks too: one range per option, so a spec never accepts what the stage
 * then refuses. */
#define GZ_MAX_THREADS PIPE_GZIP_MAX_THREADS
#define GZ_MIN_BLOCK PIPE_GZIP_MIN_BLOCK
#define GZ_MAX_BLOCK PIPE_GZIP_MAX_BLOCK

enum { JOB_FREE, JOB_FILLING, JOB_READY, JOB_RUNNING, JOB_DONE };

typedef struct gz_s gz_t;

/* One job slot. `in`/`comp` are owned by the slot from first use to
 * destroy; `out` is a reference taken from out_pool between READY and the
 * push (or destroy). While RUNNING the worker owns in, comp, out_base and
 * writes out_len; the loop thread touches none of them. */
typedef struct gz_job_s {
  pipe_work_t work; /* work.data == this job */
  gz_t* gz;
  int gz_level; /* copied from the stage for the worker (header XFL) */
  pipe_dfb_t* comp;
  uint8_t* in;
  size_t in_len;
  uint32_t crc; /* set by the worker: CRC-32 of in[0, in_len) */
  int err;      /* set by the worker: 0 or < 0 */
  unsigned last : 1; /* the stream's last piece: ends in the final block */
  pipe_buf_t* out;
  uint8_t* out_base; /* out's storage, copied for the worker */
  size_t out_cap;
  size_t out_len; /* set by the worker: header (seq 0) + piece bytes */
  uint64_t seq;
  int state;
} gz_job_t;

struct gz_s {
  pipe_stage_t stage; /* first */
  pipe_dfb_engine_t engine;
  int engine_level;
  int level; /* gzip's -N: the header's XFL */
  unsigned threads;
  unsigned nslots;
  size_t block_size;
  size_t bound; /* pipe__dfb_bound(block_size): out_pool chunk size */
  gz_job_t* jobs;
  gz_job_t* filling;   /* slot being filled, or NULL */
  pipe_buf_t* pending; /* upstream buffer not yet fully copied (owned) */
  size_t pending_off;  /* bytes of pending already copied: our read
                          position, kept here, never in the buffer (which
                          may be shared, refs > 1, and is not ours) */
  pipe_pool_t* out_pool;
  uint64_t next_seq; /* given to the next slot that starts filling */
  uint64_t emit_seq; /* next piece to push */
  uint32_t crc;      /* CRC-32 of the input pushed so far (pieces joined) */
  uint64_t total;    /* input bytes pushed so far (ISIZE = total mod 2^32) */
  unsigned inflight; /* RUNNING jobs; each holds the stage */
  unsigned max_inflight;
  unsigned ending : 1;        /* end() received */
  unsigned ended : 1;         /* pipe_stage_end() called */
  unsigned last_made : 1;     /* the last piece's job exists */
  unsigned upstream_full : 1; /* we answered PIPE_FULL: drain owed */
  unsigned destroyed : 1;
  pipe_pool_stats_t final_pool; /* out_pool stats kept past destroy */
};

/* ---- slots --------------------------------------------------------------- */

/* Frees a slot's memory (never a RUNNING one's). */
static void job_free(gz_job_t* j) {
  pipe_buf_unref(j->out);
  j->out = NULL;
  free(j->in);
  j->in = NULL;
  pipe__dfb_free(j->comp);
  j->comp = NULL;
  j->state = JOB_FREE;
}

static gz_job_t* find_state(gz_t* g, int state) {
  unsigned i;
  for (i = 0; i < g->nslots; i++)
    if (g->jobs[i].state == state) return &g->jobs[i];
  return NULL;
}

/* The oldest READY job (lowest seq), or NULL. */
static gz_job_t* oldest_ready(gz_t* g) {
  gz_job_t* best = NULL;
  unsigned i;
  for (i = 0; i < g->nslots; i++) {
    gz_job_t* j = &g->jobs[i];
    if (j->state == JOB_READY && (best == NULL || j->seq < best->seq)) best = j;
  }
  return best;
}

/* The job holding sequence number seq, whatever its state, or NULL. */
static gz_job_t* find_seq(gz_t* g, uint64_t seq) {
  unsigned i;
  for (i = 0; i < g->nslots; i++) {
    gz_job_t* j = &g->jobs[i];
    if (j->state != JOB_FREE && j->seq == seq) return j;
  }
  return NULL;
}

/* Takes a FREE slot for the next block, allocating its memory on first
 * use. Returns 0 (g->filling set), 1 when no slot is free, or < 0. */
static int start_filling(gz_t* g) {
  gz_job_t* j = find_state(g, JOB_FREE);
  int r;
  if (j == NULL) return 1;
  if (j->in == NULL) {
    j->in = malloc(g->block_size);
    if (j->in == NULL) return PIPE_ENOMEM;
  }
  if (j->comp == NULL) {
    r = pipe__dfb_new(g->engine, g->engine_level, &j->comp);
    if (r < 0) return r;
  }
  j->gz = g;
  j->gz_level = g->level;
  j->work.data = j;
  j->in_len = 0;
  j->out_len = 0;
  j->crc = 0;
  j->err = 0;
  j->last = 0;
  j->seq = g->next_seq++;
  j->state = JOB_FILLING;
  g->filling = j;
  return 0;
}

/* 1 when the next write() could be taken without waiting. */
static int can_accept(gz_t* g) {
  return !g->stage.blocked &&
         (g->filling != NULL || find_state(g, JOB_FREE) != NULL);
}

/* ---- the worker and its completion -------------------------------------- */

/* Thread pool: compress one block into one piece of the stream (the first
 * one behind the gzip header), and take its CRC. Touches only the job's own
 * memory; the trailer's room (8 bytes) is left free at the end of out. */
static void work_cb(pipe_work_t* w) {
  gz_job_t* j = w->data;
  size_t off = 0, n = 0;
  if (j->seq == 0) {
    pipe__gz_header(j->out_base, j->gz_level);
    off = PIPE_GZ_HEADER_LEN;
  }
  j->err = pipe__dfb_compress(j->comp, j->in, j->in_len, j->last,
                              j->out_base + off,
                              j->out_cap - off - PIPE_GZ_TRAILER_LEN, &n);
  j->crc = pipe__crc32(0, j->in, j->in_len);
  j->out_len = off + n;
}

static int pump(gz_t* g);

/* Loop thread: a job finished (or was canceled at teardown). */
static void after_work_cb(pipe_work_t* w, int status) {
  gz_job_t* j = w->data;
  gz_t* g = j->gz;
  pipe_stage_t* s = &g->stage;
  g->inflight--;
  if (g->destroyed) {
    /* Torn down while we ran: only free what the job carries. */
    job_free(j);
    if (g->inflight == 0) {
      free(g->jobs);
      g->jobs = NULL;
    }
  } else if (status < 0 || j->err < 0) {
    j->state = JOB_DONE; /* destroy() frees it */
    pipe_stage_fail(s, status < 0 ? status : PIPE_EIO,
                    "gzip: compressing block %llu failed: %s%s",
                    (unsigned long long)j->seq,
                    status < 0 ? uv_strerror(status) : pipe_strerror(j->err),
                    status < 0 ? "" : " (bug)");
  } else {
    j->out->len = j->out_len;
    j->state = JOB_DONE;
    (void)pump(g);
  }
  pipe_stage_release(s); /* last: may complete the pipeline */
}

/* Queues a READY job that has its output buffer: on the pool, or in the
 * context's queue for a CPU token. Returns 0 or < 0. */
static int run_job(gz_t* g, gz_job_t* j) {
  pipe_stage_t* s = &g->stage;
  int r;
  j->out_base = j->out->base;
  j->out_cap = j->out->cap;
  j->state = JOB_RUNNING;
  g->inflight++;
  if (g->inflight > g->max_inflight) g->max_inflight = g->inflight;
  pipe_stage_hold(s);
  r = pipe_stage_queue_work(s, &j->work, work_cb, after_work_cb);
  if (r < 0) {
    g->inflight--;
    j->state = JOB_READY;
    pipe_stage_fail(s, r, "gzip: cannot queue work: %s", uv_strerror(r));
    pipe_stage_release(s);
  }
  return r;
}

/* ---- the pump ------------------------------------------------------------ */

/* Copies the pending upstream buffer into blocks, as far as slots allow.
 * Returns 1 if it made progress, 0 if not, < 0 on error (reported). */
static int fill(gz_t* g) {
  int progress = 0;
  while (g->pending != NULL) {
    pipe_buf_t* b = g->pending;
    gz_job_t* j;
    size_t n;
    if (g->filling == NULL) {
      int r = start_filling(g);
      if (r == 1) break; /* every slot busy: wait for one */
      if (r < 0) {
        pipe_stage_fail(&g->stage, r, "gzip: cannot allocate a %zu-byte block",
                        g->block_size);
        return r;
      }
    }
    j = g->filling;
    n = g->block_size - j->in_len;
    if (n > b->len - g->pending_off) n = b->len - g->pending_off;
    memcpy(j->in + j->in_len, pipe_buf_data(b) + g->pending_off, n);
    j->in_len += n;
    g->pending_off += n;
    progress = 1;
    if (j->in_len == g->block_size) {
      j->state = JOB_READY;
      g->filling = NULL;
    }
    if (g->pending_off == b->len) {
      g->pending = NULL;
      g->pending_off = 0;
      pipe_buf_unref(b);
    }
  }
  return progress;
}

/* Moves everything forward as far as it can go: pushes finished pieces in
 * order (joining their CRCs, and the trailer after the last), starts READY jobs, copies pending input, closes the last block and
 * ends the stage, and drains upstream when it may write again. Called from
 * write, end, resume and every job completion. Returns < 0 on error. */
static int pump(gz_t* g) {
  pipe_stage_t* s = &g->stage;
  int r;
  for (;;) {
    int progress = 0;
    gz_job_t* j;
    if (pipe_stage_stopping(s) || g->ended) return 0;
    /* 1. Finished pieces, in order, while downstream takes them. */
    while (!s->blocked && (j = find_seq(g, g->emit_seq)) != NULL &&
           j->state == JOB_DONE) {
      pipe_buf_t* b = j->out; /* ownership moves downstream */
      g->crc = pipe__crc32_combine(g->crc, j->crc, j->in_len);
      g->total += j->in_len;
      if (j->last) { /* room was left: out_cap - out_len >= 8 */
        pipe__gz_trailer(b->base + b->off + b->len, g->crc, g->total);
        b->len += PIPE_GZ_TRAILER_LEN;
      }
      j->out = NULL;
      j->state = JOB_FREE;
      g->emit_seq++;
      progress = 1;
      r = pipe_stage_push(s, b);
      if (r < 0) return r;
    }
    /* 2. Start READY jobs, oldest first, up to `threads` in flight. */
    while (g->inflight < g->threads && (j = oldest_ready(g)) != NULL) {
      if (j->out == NULL) {
        j->out = pipe_pool_acquire(g->out_pool);
        if (j->out == NULL) { /* downstream still has our chunks */
          pipe_stage_wait_pool(s, g->out_pool);
          break;
        }
      }
      r = run_job(g, j);
      if (r < 0) return r;
      progress = 1;
    }
    /* 3. Input waiting to be copied. */
    if (g->pending != NULL) {
      r = fill(g);
      if (r < 0) return r;
      if (r > 0) progress = 1;
    }
    /* 4. End of input: the block being filled is the last piece; with no
     * such block (no input, or input ending on a block boundary) an empty
     * last piece carries the final block. Then end once every piece and the
     * trailer are out. */
    if (g->ending && g->pending == NULL) {
      if (g->filling != NULL && !g->last_made) {
        g->filling->last = 1;
        g->filling->state = JOB_READY;
        g->filling = NULL;
        g->last_made = 1;
        progress = 1;
      } else if (!g->last_made) {
        r = start_filling(g);
        if (r < 0) {
          pipe_stage_fail(s, r, NULL);
          return r;
        }
        if (r == 0) progress = 1; /* filling, empty: last on the next round */
      } else if (g->emit_seq == g->next_seq) {
        g->ended = 1;
        pipe_stage_end(s);
        return 0;
      }
    }
    if (!progress) break;
  }
  if (g->upstream_full && g->pending == NULL && !g->ending && can_accept(g)) {
    g->upstream_full = 0;
    pipe_stage_drain(s);
  }
  return 0;
}

/* ---- stage ops ----------------------------------------------------------- */

/* Takes buf, in every outcome. */
static int gz_write(pipe_stage_t* s, pipe_buf_t* buf) {
  gz_t* g = (gz_t*)s;
  int r;
  if (g->pending != NULL || g->ending) { /* upstream broke the contract */
    pipe_buf_unref(buf);
    pipe_stage_fail(s, PIPE_EINVAL, "gzip: write while full (bug)");
    return PIPE_EINVAL;
  }
  if (buf->len == 0) {
    pipe_buf_unref(buf);
  } else {
    g->pending = buf;
    g->pending_off = 0;
    r = pump(g);
    if (r < 0) return r;
  }
  if (g->pending != NULL || !can_accept(g)) {
    g->upstream_full = 1;
    return PIPE_FULL;
  }
  return PIPE_OK;
}

static int gz_end(pipe_stage_t* s) {
  gz_t* g = (gz_t*)s;
  g->ending = 1;
  return pump(g); /* < 0: detail already reported, the core ignores it */
}

static void gz_resume(pipe_stage_t* s) {
  (void)pump((gz_t*)s);
}

static void gz_destroy(pipe_stage_t* s, int status) {
  gz_t* g = (gz_t*)s;
  unsigned i;
  (void)status;
  g->destroyed = 1;
  pipe_buf_unref(g->pending);
  g->pending = NULL;
  g->filling = NULL;
  if (g->jobs != NULL) {
    for (i = 0; i < g->nslots; i++) {
      gz_job_t* j = &g->jobs[i];
      if (j->state == JOB_RUNNING)
        (void)pipe_work_cancel(&j->work); /* fails once it has started */
      else
        job_free(j);
    }
    if (g->inflight == 0) {
      free(g->jobs);
      g->jobs = NULL;
    }
  }
  if (g->out_pool != NULL) {
    /* Our waiter may sit on this private pool, where the core does not
     * look; the pool itself lingers until downstream and the running jobs
     * have returned their chunks. */
    pipe_pool_cancel(g->out_pool, &s->pool_waiter);
    g->final_pool = pipe_pool_stats(g->out_pool);
    pipe_pool_free(g->out_pool);
    g->out_pool = NULL;
  }
}

static const pipe_stage_ops_t gz_ops = {
    .name = "gzip",
    .size = sizeof(gz_t),
    .write = gz_write,
    .end = gz_end,
    .resume = gz_resume,
    .destroy = gz_destroy,
};

/* ---- construction -------------------------------------------------------- */

/* min(CPUs, pool size - 1): leave a pool thread for uv_fs_* requests even
 * without a context (the same formula as a context's default budget). */
static unsigned default_threads(void) { return pipe__default_cpu_jobs(); }

int pipe_gzip_new(pipe_pipeline_t* pl, const pipe_gzip_config_t* cfg,
                  pipe_stage_t** out) {
  pipe_gzip_config_t dflt = {0};
  pipe_stage_t* s;
  gz_t* g;
  int level, r;
  if (out != NULL) *out = NULL;
  if (cfg == NULL) cfg = &dflt;
  level = cfg->level == 0 ? 6 : cfg->level;
  if (level < 1 || level > 9) return PIPE_EINVAL;
  if (cfg->threads < 0 || cfg->threads > GZ_MAX_THREADS) return PIPE_EINVAL;
  if (cfg->block_size != 0 &&
      (cfg->block_size < GZ_MIN_BLOCK || cfg->block_size > GZ_MAX_BLOCK))
    return PIPE_EINVAL;
  r = pipe_stage_new(pl, &gz_ops, &s);
  if (r < 0) return r;
  g = (gz_t*)s;
  g->engine = level_map[level].engine;
  g->engine_level = level_map[level].level;
  g->level = level;
  g->threads = cfg->threads > 0 ? (unsigned)cfg->threads : default_threads();
  g->nslots = g->threads + 1;
  g->block_size = cfg->block_size ? cfg->block_size : PIPE_GZIP_DEFAULT_BLOCK;
  g->bound = pipe__dfb_bound(g->block_size);
  /* From here on a failure leaves the stage in the pipeline; destroy()
   * (run when the pipeline is freed) copes with what is missing. */
  g->jobs = calloc(g->nslots, sizeof(*g->jobs));
  if (g->jobs == NULL) return PIPE_ENOMEM;
  r = pipe_pool_new(g->bound, g->nslots + 1, &g->out_pool);
  if (r < 0) return r;
  if (out != NULL) *out = s;
  return 0;
}

pipe_gzip_stats_t pipe_gzip_stats(const pipe_stage_t* s) {
  const gz_t* g = (const gz_t*)s;
  pipe_gzip_stats_t st;
  pipe_pool_stats_t ps =
      g->out_pool != NULL ? pipe_pool_stats(g->out_pool) : g->final_pool;
  memset(&st, 0, sizeof(st));
  st.threads = g->threads;
  st.slots = g->nslots;
  st.block_size = g->block_size;
  st.blocks = g->emit_seq;
  st.max_inflight = g->max_inflight;
  st.out_pool_limit = ps.limit;
  st.out_pool_peak = ps.peak;
  st.out_buf_size = g->bound;
  return st;
}
