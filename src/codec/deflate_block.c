/* One block -> one piece of a single deflate stream (see deflate_block.h).
 *
 * The engine is libdeflate: whole-buffer, about twice as fast as zlib's
 * deflate at the same level and a little smaller (measurements at the top
 * of src/stages/gzip.c). It has no streaming API, no preset dictionary and
 * no flag to leave the last block open: every libdeflate_deflate_compress()
 * output ends with a block whose BFINAL bit is set. To join such outputs
 * into one stream we must know where that last block starts, and a deflate
 * block has no length field: the only way to find the last header is to
 * read every Huffman code before it. zlib's inflate(Z_BLOCK) does that (it
 * is how zlib's examples/gzjoin.c joins members), but it also produces the
 * output, keeps a 32 KiB window and copies every match: measured, it costs
 * about a quarter of the compression time at level 6. The walker below only
 * decodes codes: a 10-bit lookup table per Huffman code (literal/length and
 * distance, with the extra-bit counts folded into each entry), a slow
 * canonical decode for the rare codes longer than 10 bits (puff's method,
 * zlib contrib/puff), and no output at all. Figures are in gzip.c.
 *
 * After the walk, the final block's BFINAL bit is cleared and an empty
 * stored block is appended at the bit where the stream ended: 3 zero header
 * bits, zero padding to the byte boundary, then LEN 00 00 and NLEN FF FF.
 * That is the marker zlib's Z_SYNC_FLUSH writes and pigz puts between its
 * blocks, and it leaves the piece byte-aligned so the next one can follow.
 */
#include "codec/deflate_block.h"

#include <isa-l/igzip_lib.h>
#include <libdeflate.h>
#include <stdlib.h>
#include <string.h>
#include <zlib.h>

#include "pipe/error.h"

/* zlib's crc32_combine takes a z_off_t: 64 bits on every LP64 Debian. */
_Static_assert(sizeof(z_off_t) >= 8, "z_off_t must hold 64-bit lengths");

/* ---- Huffman tables for the walker --------------------------------------- */

#define TBITS 10 /* primary lookup bits; longer codes take the slow path */
#define TSIZE (1u << TBITS)

/* A table entry: bits 0-3 code length, 4-7 extra bits after the code, 8-9
 * kind, 16-31 symbol. KIND_SLOW: the code is longer than TBITS (or invalid):
 * decode it with count/symbol below. */
enum { KIND_LIT = 0, KIND_LEN = 1, KIND_EOB = 2, KIND_SLOW = 3 };
#define ENTRY(len, extra, kind, sym)                             \
  ((uint32_t)(len) | (uint32_t)(extra) << 4 | (uint32_t)(kind) << 8 | \
   (uint32_t)(sym) << 16)
#define E_LEN(e) ((e)&15u)
#define E_EXTRA(e) (((e) >> 4) & 15u)
#define E_KIND(e) (((e) >> 8) & 3u)
#define E_SYM(e) ((e) >> 16)

typedef struct huff_s {
  uint32_t fast[TSIZE];
  uint16_t count[16]; /* codes of each length (puff) */
  uint16_t sym[288];  /* symbols in canonical order */
  int is_dist;        /* symbols are distance codes (else literal/length) */
} huff_t;

static const uint8_t len_extra[29] = {0, 0, 0, 0, 0, 0, 0, 0, 1, 1,
                                      1, 1, 2, 2, 2, 2, 3, 3, 3, 3,
                                      4, 4, 4, 4, 5, 5, 5, 5, 0};
static const uint8_t dist_extra[30] = {0, 0, 0, 0, 1, 1, 2,  2,  3,  3,
                                       4, 4, 5, 5, 6, 6, 7,  7,  8,  8,
                                       9, 9, 10, 10, 11, 11, 12, 12, 13, 13};

/* The entry for symbol s with a code of length len, or 0 with *bad set for
 * a symbol that may not appear (286, 287; distance 30, 31). */
static uint32_t make_entry(const huff_t* h, unsigned s, unsigned len,
                           int* bad) {
  if (h->is_dist) {
    if (s >= 30) {
      *bad = 1;
      return 0;
    }
    return ENTRY(len, dist_extra[s], KIND_LEN, s);
  }
  if (s < 256) return ENTRY(len, 0, KIND_LIT, s);
  if (s == 256) return ENTRY(len, 0, KIND_EOB, s);
  if (s > 285) {
    *bad = 1;
    return 0;
  }
  return ENTRY(len, len_extra[s - 257], KIND_LEN, s);
}

/* Builds h from code lengths lens[0, n). Incomplete codes are allowed (a
 * lone distance code, as RFC 1951 permits); an unused prefix decodes to
 * nothing and fails in the slow path. Returns 0 or -1 (over-subscribed). */
static int huff_build(huff_t* h, const uint8_t* lens, unsigned n,
                      int is_dist) {
  uint16_t offs[16];
  unsigned code, len, s, i;
  int left = 1;
  h->is_dist = is_dist;
  memset(h->count, 0, sizeof(h->count));
  for (s = 0; s < n; s++) h->count[lens[s]]++;
  h->count[0] = 0;
  for (len = 1; len < 16; len++) {
    left <<= 1;
    left -= h->count[len];
    if (left < 0) return -1;
  }
  offs[1] = 0;
  for (len = 1; len < 15; len++) offs[len + 1] = offs[len] + h->count[len];
  for (s = 0; s < n; s++)
    if (lens[s] != 0) h->sym[offs[lens[s]]++] = (uint16_t)s;
  for (i = 0; i < TSIZE; i++) h->fast[i] = ENTRY(0, 0, KIND_SLOW, 0);
  /* Canonical codes in order: symbols sorted by (length, value) get
   * consecutive codes. Codes are stored MSB first in the stream's bit order
   * reversed, so the table index is the code bit-reversed. */
  code = 0;
  i = 0;
  for (len = 1; len <= TBITS; len++) {
    unsigned k;
    for (k = 0; k < h->count[len]; k++, i++, code++) {
      unsigned rev = 0, b, step;
      int bad = 0;
      uint32_t e = make_entry(h, h->sym[i], len, &bad);
      for (b = 0; b < len; b++) rev |= ((code >> b) & 1u) << (len - 1 - b);
      if (bad) continue; /* stays SLOW: the slow path rejects it */
      for (step = rev; step < TSIZE; step += 1u << len) h->fast[step] = e;
    }
    code <<= 1;
  }
  return 0;
}

/* ---- bit reader ---------------------------------------------------------- */

typedef struct bits_s {
  const uint8_t* p;
  size_t n;
  uint64_t pos; /* bit offset of the next unread bit */
} bits_t;

/* At least 56 bits from pos on, LSB first; zeros past the end (the caller
 * checks pos against the end). */
static inline uint64_t peek(const bits_t* br) {
  size_t byte = (size_t)(br->pos >> 3);
  uint64_t v = 0;
  if (byte + 8 <= br->n) {
    memcpy(&v, br->p + byte, 8); /* one unaligned load (little-endian x86) */
#if defined(__BYTE_ORDER__) && __BYTE_ORDER__ == __ORDER_BIG_ENDIAN__
    v = __builtin_bswap64(v);
#endif
  } else {
    unsigned i;
    for (i = 0; i < 8 && byte + i < br->n; i++)
      v |= (uint64_t)br->p[byte + i] << (8 * i);
  }
  return v >> (br->pos & 7);
}

static inline unsigned take(bits_t* br, unsigned n) {
  unsigned v = (unsigned)(peek(br) & ((1u << n) - 1));
  br->pos += n;
  return v;
}

/* Decodes one symbol's entry from the bits in b (at least 15 valid); the
 * slow path for codes longer than TBITS, puff-style. Returns the entry with
 * its true length, or KIND_SLOW for no code. */
static uint32_t decode_slow(const huff_t* h, uint64_t b) {
  int code = 0, first = 0, index = 0;
  unsigned len;
  for (len = 1; len < 16; len++) {
    int count = h->count[len];
    code |= (int)(b & 1);
    b >>= 1;
    if (code - count < first) {
      int bad = 0;
      uint32_t e = make_entry(h, h->sym[index + (code - first)], len, &bad);
      return bad ? ENTRY(0, 0, KIND_SLOW, 0) : e;
    }
    index += count;
    first += count;
    first <<= 1;
    code <<= 1;
  }
  return ENTRY(0, 0, KIND_SLOW, 0);
}

static inline uint32_t decode(const huff_t* h, uint64_t b) {
  uint32_t e = h->fast[b & (TSIZE - 1)];
  if (E_KIND(e) == KIND_SLOW) e = decode_slow(h, b);
  return e;
}

/* ---- the walker ---------------------------------------------------------- */

typedef struct walk_s {
  huff_t lit, dist;
  huff_t fixed_lit, fixed_dist; /* built once per walk, when first needed */
  int have_fixed;
} walk_t;

/* Reads the symbols of one Huffman-coded block up to its end-of-block.
 *
 * This loop is the walker's whole cost, so it keeps the next bits in a
 * 64-bit register (refilled to >= 56 bits with one unaligned load, as
 * libdeflate's decompressor does) instead of re-reading them at the bit
 * position for every code, and tries a second literal before refilling:
 * one refill covers two literals or one length/distance pair (<= 48 bits).
 * Near the end of the input the refill goes byte by byte and feeds zeros
 * past the end; the position is checked at every end-of-block, and reading
 * more than 16 bytes past the end stops the walk. */
static int walk_codes(bits_t* br, const huff_t* lit, const huff_t* dist) {
  const uint8_t* p = br->p;
  size_t n = br->n;
  size_t ip = (size_t)(br->pos >> 3); /* next byte to load */
  uint64_t bb = 0;                    /* bits, LSB next */
  unsigned bl = 0;                    /* valid bits in bb */
  unsigned skip = (unsigned)(br->pos & 7);
#define WALK_REFILL()                                              \
  do {                                                             \
    if (ip + 8 <= n) {                                             \
      uint64_t v_;                                                 \
      memcpy(&v_, p + ip, 8);                                      \
      bb |= v_ << bl;                                              \
      ip += (63 - bl) >> 3;                                        \
      bl |= 56;                                                    \
    } else {                                                       \
      if (ip > n + 16) return PIPE_ETRUNC;                         \
      while (bl <= 56) {                                           \
        bb |= (uint64_t)(ip < n ? p[ip] : 0) << bl;                \
        ip++;                                                      \
        bl += 8;                                                   \
      }                                                            \
    }                                                              \
  } while (0)
#define WALK_DROP(k) \
  do {               \
    bb >>= (k);      \
    bl -= (k);       \
  } while (0)
  WALK_REFILL();
  WALK_DROP(skip);
  for (;;) {
    uint32_t e, d;
    unsigned is_len, dt;
    WALK_REFILL(); /* >= 56 bits: a length/distance pair takes <= 48 */
    e = lit->fast[bb & (TSIZE - 1)];
    if (E_KIND(e) >= KIND_EOB) { /* rare: end of block, long or bad code */
      if (E_KIND(e) == KIND_SLOW) e = decode_slow(lit, bb);
      if (E_KIND(e) == KIND_EOB) {
        WALK_DROP(E_LEN(e));
        br->pos = (uint64_t)ip * 8 - bl;
        return br->pos <= (uint64_t)n * 8 ? 0 : PIPE_ETRUNC;
      }
      if (E_KIND(e) == KIND_SLOW)
        return (uint64_t)ip * 8 - bl < (uint64_t)n * 8 ? PIPE_EGZIP
                                                        : PIPE_ETRUNC;
    }
    /* Literal or length, without a branch on which: literals and lengths
     * alternate unpredictably, and a mispredicted branch costs more than
     * the distance lookup done (and discarded) after every literal. */
    WALK_DROP(E_LEN(e) + E_EXTRA(e)); /* <= 20 bits: >= 36 left */
    is_len = E_KIND(e);               /* 1 for a length, 0 for a literal */
    d = dist->fast[bb & (TSIZE - 1)];
    if ((E_KIND(d) != KIND_LEN) & is_len) { /* rare: long or bad code */
      d = decode_slow(dist, bb);
      if (E_KIND(d) != KIND_LEN) return PIPE_EGZIP;
    }
    dt = (E_LEN(d) + E_EXTRA(d)) & (0u - is_len);
    WALK_DROP(dt);
  }
#undef WALK_REFILL
#undef WALK_DROP
}

static int read_dynamic(bits_t* br, walk_t* w) {
  static const uint8_t order[19] = {16, 17, 18, 0, 8,  7, 9,  6, 10, 5,
                                    11, 4,  12, 3, 13, 2, 14, 1, 15};
  uint8_t lens[320];
  huff_t* cl = &w->dist; /* scratch for the code-length code */
  unsigned nlen, ndist, ncode, i;
  nlen = take(br, 5) + 257;
  ndist = take(br, 5) + 1;
  ncode = take(br, 4) + 4;
  if (nlen > 286 || ndist > 30) return PIPE_EGZIP;
  memset(lens, 0, 19);
  for (i = 0; i < ncode; i++) lens[order[i]] = (uint8_t)take(br, 3);
  if (huff_build(cl, lens, 19, 0) < 0) return PIPE_EGZIP;
  for (i = 0; i < nlen + ndist;) {
    uint64_t b = peek(br);
    uint32_t e = decode(cl, b);
    unsigned s, rep, val = 0;
    if (E_KIND(e) == KIND_SLOW || br->pos > (uint64_t)br->n * 8)
      return br->pos >= (uint64_t)br->n * 8 ? PIPE_ETRUNC : PIPE_EGZIP;
    s = E_SYM(e);
    br->pos += E_LEN(e);
    if (s < 16) {
      lens[i++] = (uint8_t)s;
      continue;
    }
    if (s == 16) {
      if (i == 0) return PIPE_EGZIP;
      val = lens[i - 1];
      rep = 3 + take(br, 2);
    } else if (s == 17) {
      rep = 3 + take(br, 3);
    } else {
      rep = 11 + take(br, 7);
    }
    if (i + rep > nlen + ndist) return PIPE_EGZIP;
    while (rep--) lens[i++] = (uint8_t)val;
  }
  if (lens[256] == 0) return PIPE_EGZIP; /* no end-of-block code */
  if (huff_build(&w->lit, lens, nlen, 0) < 0 ||
      huff_build(&w->dist, lens + nlen, ndist, 1) < 0)
    return PIPE_EGZIP;
  return 0;
}

static void build_fixed(walk_t* w) {
  uint8_t lens[288];
  unsigned i;
  for (i = 0; i < 144; i++) lens[i] = 8;
  for (; i < 256; i++) lens[i] = 9;
  for (; i < 280; i++) lens[i] = 7;
  for (; i < 288; i++) lens[i] = 8;
  (void)huff_build(&w->fixed_lit, lens, 288, 0);
  for (i = 0; i < 30; i++) lens[i] = 5;
  (void)huff_build(&w->fixed_dist, lens, 30, 1);
  w->have_fixed = 1;
}

static int walk(walk_t* w, const uint8_t* p, size_t n, uint64_t* final_bit,
                uint64_t* end_bit) {
  bits_t br = {p, n, 0};
  uint64_t limit = (uint64_t)n * 8;
  for (;;) {
    uint64_t hdr = br.pos;
    unsigned bfinal, type;
    int r;
    if (br.pos + 3 > limit) return PIPE_ETRUNC;
    bfinal = take(&br, 1);
    type = take(&br, 2);
    if (type == 0) { /* stored: LEN, NLEN on the next byte boundary */
      size_t at;
      unsigned len, nlen;
      br.pos = (br.pos + 7) & ~(uint64_t)7;
      at = (size_t)(br.pos >> 3);
      if (at + 4 > n) return PIPE_ETRUNC;
      len = p[at] | (unsigned)p[at + 1] << 8;
      nlen = p[at + 2] | (unsigned)p[at + 3] << 8;
      if ((len ^ 0xffffu) != nlen) return PIPE_EGZIP;
      if (at + 4 + len > n) return PIPE_ETRUNC;
      br.pos = (uint64_t)(at + 4 + len) * 8;
    } else if (type == 1) {
      if (!w->have_fixed) build_fixed(w);
      r = walk_codes(&br, &w->fixed_lit, &w->fixed_dist);
      if (r < 0) return r;
    } else if (type == 2) {
      r = read_dynamic(&br, w);
      if (r < 0) return r;
      r = walk_codes(&br, &w->lit, &w->dist);
      if (r < 0) return r;
    } else {
      return PIPE_EGZIP;
    }
    if (bfinal) {
      *final_bit = hdr;
      *end_bit = br.pos;
      return 0;
    }
  }
}

int pipe__deflate_walk(const uint8_t* p, size_t n, uint64_t* final_bit,
                       uint64_t* end_bit) {
  walk_t* w = malloc(sizeof(*w));
  int r;
  if (w == NULL) return PIPE_ENOMEM;
  w->have_fixed = 0;
  r = walk(w, p, n, final_bit, end_bit);
  free(w);
  return r;
}

/* ---- the compressor ------------------------------------------------------ */

struct pipe_dfb_s {
  pipe_dfb_engine_t engine;
  int level;
  struct libdeflate_compressor* c; /* libdeflate; for ISA-L the fallback */
  struct isal_zstream* zs;         /* ISA-L only */
  uint8_t* level_buf;              /* ISA-L's per-level hash tables */
  uint32_t level_buf_size;
  walk_t w; /* the walker's tables, kept with the compressor */
};

int pipe__dfb_new(pipe_dfb_engine_t engine, int level, pipe_dfb_t** out) {
  pipe_dfb_t* d;
  *out = NULL;
  if (engine == PIPE_DFB_LIBDEFLATE ? level < 1 || level > 12
      : engine == PIPE_DFB_ISAL     ? level < 1 || level > ISAL_DEF_MAX_LEVEL
                                    : 1)
    return PIPE_EINVAL;
  d = calloc(1, sizeof(*d));
  if (d == NULL) return PIPE_ENOMEM;
  d->engine = engine;
  d->level = level;
  if (engine == PIPE_DFB_ISAL) {
    d->level_buf_size = level == 1   ? ISAL_DEF_LVL1_DEFAULT
                        : level == 2 ? ISAL_DEF_LVL2_DEFAULT
                                     : ISAL_DEF_LVL3_DEFAULT;
    d->zs = malloc(sizeof(*d->zs));
    d->level_buf = malloc(d->level_buf_size);
    if (d->zs == NULL || d->level_buf == NULL) goto fail;
  } else {
    d->c = libdeflate_alloc_compressor(level);
    if (d->c == NULL) goto fail;
  }
  *out = d;
  return 0;
fail:
  pipe__dfb_free(d);
  return PIPE_ENOMEM;
}

void pipe__dfb_free(pipe_dfb_t* d) {
  if (d == NULL) return;
  if (d->c != NULL) libdeflate_free_compressor(d->c);
  free(d->zs);
  free(d->level_buf);
  free(d);
}

/* Room after libdeflate's own bound: the sync marker (up to 5 bytes), or
 * the 2-byte empty final block, rounded up. */
#define PIECE_SLACK 8

size_t pipe__dfb_bound(size_t len) {
  /* NULL: the bound across every compressor of this libdeflate build, so
   * one figure serves all levels. ISA-L output that would not fit in it is
   * redone with libdeflate (see isal_piece()). */
  return PIPE_GZ_HEADER_LEN + libdeflate_deflate_compress_bound(NULL, len) +
         PIECE_SLACK + PIPE_GZ_TRAILER_LEN;
}

/* libdeflate: compress, then (not last) walk to the final block, clear its
 * BFINAL bit and append an empty stored block. */
static int libdeflate_piece(pipe_dfb_t* d, const uint8_t* in, size_t len,
                            int last, uint8_t* out, size_t cap,
                            size_t* out_len) {
  uint64_t final_bit, end_bit;
  size_t n, end;
  int r;
  if (cap < PIECE_SLACK) return PIPE_ENOSPC;
  n = libdeflate_deflate_compress(d->c, in, len, out, cap - PIECE_SLACK);
  if (n == 0) return PIPE_ENOSPC;
  if (last) {
    *out_len = n;
    return 0;
  }
  r = walk(&d->w, out, n, &final_bit, &end_bit);
  if (r < 0) return PIPE_EIO;
  if ((end_bit + 7) / 8 != n) return PIPE_EIO; /* bytes after the final block */
  out[final_bit >> 3] &= (uint8_t) ~(1u << (final_bit & 7));
  /* The stored block's 3 header bits (BFINAL 0, BTYPE 00) start at end_bit;
   * they and the padding up to the byte boundary are zero bits. */
  end = (size_t)(end_bit >> 3);
  if (end_bit & 7) {
    out[end] &= (uint8_t)((1u << (end_bit & 7)) - 1);
    end++;
    if (8 - (end_bit & 7) < 3) out[end++] = 0; /* the header spills over */
  } else {
    out[end++] = 0;
  }
  out[end++] = 0x00; /* LEN */
  out[end++] = 0x00;
  out[end++] = 0xff; /* NLEN */
  out[end++] = 0xff;
  *out_len = end;
  return 0;
}

/* ISA-L: a streaming engine, so no walk is needed: SYNC_FLUSH ends a piece
 * with the empty stored block itself, end_of_stream writes the final
 * block. A fresh stream per block (isal_deflate_init), no dictionary, as
 * for libdeflate. ISA-L has no stored-block fallback for data that does not
 * compress, and its worst case is a little above libdeflate's bound: a
 * block that does not fit is redone with libdeflate level 1 (then
 * walked), so the output buffer never needs more than that bound. */
static int isal_piece(pipe_dfb_t* d, const uint8_t* in, size_t len, int last,
                      uint8_t* out, size_t cap, size_t* out_len) {
  struct isal_zstream* z = d->zs;
  int r;
  isal_deflate_init(z);
  z->level = (uint32_t)d->level;
  z->level_buf = d->level_buf;
  z->level_buf_size = d->level_buf_size;
  z->gzip_flag = IGZIP_DEFLATE;
  z->end_of_stream = last ? 1 : 0;
  z->flush = last ? NO_FLUSH : SYNC_FLUSH;
  z->next_in = (uint8_t*)in;
  z->avail_in = (uint32_t)len;
  z->next_out = out;
  z->avail_out = cap > UINT32_MAX ? UINT32_MAX : (uint32_t)cap;
  r = isal_deflate(z);
  if (r == COMP_OK && z->avail_in == 0 &&
      z->internal_state.state == (last ? ZSTATE_END : ZSTATE_NEW_HDR)) {
    *out_len = z->total_out;
    return 0;
  }
  if (r != COMP_OK) return PIPE_EIO;
  /* Out of room: the fallback. */
  if (d->c == NULL) {
    d->c = libdeflate_alloc_compressor(1);
    if (d->c == NULL) return PIPE_ENOMEM;
  }
  return libdeflate_piece(d, in, len, last, out, cap, out_len);
}

int pipe__dfb_compress(pipe_dfb_t* d, const uint8_t* in, size_t len, int last,
                       uint8_t* out, size_t cap, size_t* out_len) {
  *out_len = 0;
  if (len == 0) {
    if (!last) return 0;
    if (cap < 2) return PIPE_ENOSPC;
    /* One final fixed-Huffman block holding only end-of-block: what gzip
     * writes for empty input (and what ends pigz's stream). */
    out[0] = 0x03;
    out[1] = 0x00;
    *out_len = 2;
    return 0;
  }
  if (d->engine == PIPE_DFB_ISAL && len <= UINT32_MAX)
    return isal_piece(d, in, len, last, out, cap, out_len);
  if (d->c == NULL) return PIPE_EINVAL;
  return libdeflate_piece(d, in, len, last, out, cap, out_len);
}

/* ---- the gzip wrapper ---------------------------------------------------- */

static void put_le32(uint8_t* p, uint32_t v) {
  p[0] = (uint8_t)v;
  p[1] = (uint8_t)(v >> 8);
  p[2] = (uint8_t)(v >> 16);
  p[3] = (uint8_t)(v >> 24);
}

void pipe__gz_header(uint8_t out[PIPE_GZ_HEADER_LEN], int level) {
  out[0] = 0x1f; /* ID1, ID2 */
  out[1] = 0x8b;
  out[2] = 8;           /* CM = deflate */
  out[3] = 0;           /* FLG: no name, comment, extra, header CRC */
  put_le32(out + 4, 0); /* MTIME: none (reproducible output) */
  out[8] = level >= 9 ? 2 : level == 1 ? 4 : 0; /* XFL */
  out[9] = 3;                                   /* OS = Unix */
}

void pipe__gz_trailer(uint8_t out[PIPE_GZ_TRAILER_LEN], uint32_t crc,
                      uint64_t total_len) {
  put_le32(out, crc);
  /* ISIZE is the input length modulo 2^32 (RFC 1952 2.3.1). */
  put_le32(out + 4, (uint32_t)(total_len & 0xffffffffu));
}

uint32_t pipe__crc32(uint32_t crc, const uint8_t* p, size_t n) {
  return n ? libdeflate_crc32(crc, p, n) : crc;
}

uint32_t pipe__crc32_combine(uint32_t crc_a, uint32_t crc_b, uint64_t len_b) {
  return (uint32_t)crc32_combine(crc_a, crc_b, (z_off_t)len_b);
}
