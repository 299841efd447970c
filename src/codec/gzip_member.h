/* Internal: one block of bytes -> one complete gzip member (RFC 1952).
 *
 * The gzip stage (src/stages/gzip.c) compresses its input in independent
 * blocks on worker threads and concatenates the members: "blocked gzip".
 * A file made of several members is valid gzip; gzip -d, pigz -d, zlib's
 * inflate (with inflateReset between members) and Python's gzip module all
 * read it as one stream. Each member is
 *
 *   1f 8b 08 00 | MTIME=0 (4) | XFL | OS=3 (Unix) | raw deflate | CRC32 | ISIZE
 *
 * with no name, comment or extra field, as `gzip < file` writes it.
 *
 * Pure and loop-free: no libuv, no pools. A compressor (pipe_gzm_t) is not
 * thread-safe: use one per worker / job slot. Different compressors may be
 * used concurrently on different threads.
 */
#ifndef PIPE_CODEC_GZIP_MEMBER_H
#define PIPE_CODEC_GZIP_MEMBER_H

#include <stddef.h>
#include <stdint.h>

/* Header (10) + trailer (8) bytes around the deflate data of a member. */
#define PIPE_GZM_OVERHEAD 18

typedef struct pipe_gzm_s pipe_gzm_t;

/** A compressor at libdeflate level 1..12 (the stage maps gzip's -1..-9 to
 *  these: see the table in src/stages/gzip.c). Returns 0 and *out,
 *  PIPE_EINVAL for a bad level or PIPE_ENOMEM. Any thread. */
int pipe__gzm_new(int level, pipe_gzm_t** out);

/** Frees c (NULL is ignored). */
void pipe__gzm_free(pipe_gzm_t* c);

/** Most bytes a member for up to `len` input bytes can take (whatever the
 *  level): size the output buffer with it and compress never fails. */
size_t pipe__gzm_bound(size_t len);

/** Compresses in[0, len) into one complete member at out[0, cap) and
 *  returns its length, or 0 if cap < pipe__gzm_bound(len) could not hold it
 *  (never happens with a bound-sized buffer). len may be 0: the 20-byte
 *  empty member `gzip < /dev/null` writes. Borrows in and out for the call
 *  only. Thread: any, one call at a time per compressor. */
size_t pipe__gzm_compress(pipe_gzm_t* c, const uint8_t* in, size_t len,
                          uint8_t* out, size_t cap);

#endif /* PIPE_CODEC_GZIP_MEMBER_H */
