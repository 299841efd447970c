/* Internal: one block of input -> one piece of a single deflate stream, and
 * the gzip wrapper (RFC 1952) around the joined pieces.
 *
 * The gzip stage (src/stages/gzip.c) compresses its input in independent
 * blocks on worker threads and writes ONE gzip member (pigz's shape):
 *
 *   header (10) | piece 0 | piece 1 | ... | piece n-1 | CRC32 | ISIZE
 *
 * A piece that is not the last ends with an empty, non-final stored block
 * (the 00 00 FF FF "sync flush" marker), so it ends on a byte boundary and
 * the next piece's first block may follow it directly; the last piece ends
 * with the stream's only final block. The engine is libdeflate, which always
 * sets BFINAL on the last block it writes: pipe__dfb_compress() finds that
 * block by walking the compressed bytes (pipe__deflate_walk(), a
 * decode-only walker that reads Huffman codes but writes no output), clears
 * the bit and appends the marker. Pieces carry no dictionary: each decodes
 * on its own, and back-references never cross a piece.
 *
 * The CRC of the member is the pieces' CRCs joined with
 * pipe__crc32_combine(); ISIZE is the total length modulo 2^32.
 *
 * Pure and loop-free: no libuv, no pools. A compressor (pipe_dfb_t) is not
 * thread-safe: use one per worker / job slot; different compressors may run
 * concurrently on different threads.
 */
#ifndef PIPE_CODEC_DEFLATE_BLOCK_H
#define PIPE_CODEC_DEFLATE_BLOCK_H

#include <stddef.h>
#include <stdint.h>

#define PIPE_GZ_HEADER_LEN 10
#define PIPE_GZ_TRAILER_LEN 8

typedef struct pipe_dfb_s pipe_dfb_t;

/** The engines: libdeflate (levels 1..12; every piece but the last is
 *  walked to clear its final block) or ISA-L's igzip (levels 1..3; a
 *  streaming engine that ends a piece with a sync flush itself). */
typedef enum pipe_dfb_engine_e {
  PIPE_DFB_LIBDEFLATE,
  PIPE_DFB_ISAL
} pipe_dfb_engine_t;

/** A compressor for engine at its level (the stage maps gzip's -1..-9 to
 *  these: see src/stages/gzip.c). Returns 0 and *out, PIPE_EINVAL for a
 *  bad engine or level, or PIPE_ENOMEM. Any thread. */
int pipe__dfb_new(pipe_dfb_engine_t engine, int level, pipe_dfb_t** out);

/** Frees c (NULL is ignored). */
void pipe__dfb_free(pipe_dfb_t* c);

/** Most bytes a piece for up to `len` input bytes can take, plus room for
 *  the gzip header and trailer around it (whatever the level): size an
 *  output buffer with it and neither compress nor the wrapper fail. */
size_t pipe__dfb_bound(size_t len);

/** Compresses in[0, len) into one piece at out[0, cap): a non-final piece
 *  ending in an empty stored block when last == 0, the stream's final block
 *  when last != 0 (len 0 and last: the 2-byte empty final block 03 00 that
 *  gzip writes for empty input; len 0 and not last: nothing). Stores the
 *  piece's length in *out_len. Returns 0, PIPE_ENOSPC when
 *  cap < pipe__dfb_bound(len) - header - trailer could not hold it, or
 *  PIPE_EIO if the compressed bytes could not be walked (a bug). Borrows in
 *  and out for the call only. Thread: any, one call at a time per c. */
int pipe__dfb_compress(pipe_dfb_t* c, const uint8_t* in, size_t len, int last,
                       uint8_t* out, size_t cap, size_t* out_len);

/** Walks the raw deflate stream in p[0, n) block by block without writing
 *  output, up to the end of its first block with BFINAL set. Stores that
 *  block's header position (the bit offset of its BFINAL bit, counted from
 *  p[0] bit 0, LSB first) in *final_bit and the bit offset just past its
 *  end-of-block code in *end_bit. Returns 0, PIPE_ETRUNC if p ends first,
 *  or PIPE_EGZIP for bytes that are not deflate. Reads only p[0, n).
 *  Thread: any. */
int pipe__deflate_walk(const uint8_t* p, size_t n, uint64_t* final_bit,
                       uint64_t* end_bit);

/** Writes the 10-byte member header: no name, MTIME 0, OS 3 (Unix), XFL 2
 *  for level >= 9, 4 for level 1, else 0 (what `gzip -N < file` writes). */
void pipe__gz_header(uint8_t out[PIPE_GZ_HEADER_LEN], int level);

/** Writes the 8-byte trailer: crc, then total_len modulo 2^32 (ISIZE). */
void pipe__gz_trailer(uint8_t out[PIPE_GZ_TRAILER_LEN], uint32_t crc,
                      uint64_t total_len);

/** CRC-32 (gzip's) of p[0, n) continuing from crc (0 to start). */
uint32_t pipe__crc32(uint32_t crc, const uint8_t* p, size_t n);

/** The CRC-32 of A followed by B, from crc_a = CRC(A), crc_b = CRC(B) and
 *  B's length (any size: 64-bit). O(log len_b). */
uint32_t pipe__crc32_combine(uint32_t crc_a, uint32_t crc_b, uint64_t len_b);

#endif /* PIPE_CODEC_DEFLATE_BLOCK_H */
