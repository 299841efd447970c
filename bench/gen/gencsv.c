/*
 * gencsv — deterministic CSV generator for the csv2json benchmarks.
 *
 *   gencsv SIZE_BYTES [SEED] > out.csv
 *
 * SIZE_BYTES accepts a k/m/g (KiB/MiB/GiB) suffix. The output is a header plus
 * whole records, as long as possible without exceeding SIZE_BYTES (it stops at
 * the last record that fits, so the file is at most one record short of it).
 * The same SEED always gives the same bytes, and a smaller SIZE_BYTES gives a
 * prefix of a larger one, so results taken on different machines compare.
 *
 * Twelve columns, chosen to exercise what a CSV->JSON converter has to do:
 *
 *   id           sequential integer
 *   name         "First Last"; ~10% UTF-8 (accents, CJK); quoted sometimes
 *                even when not needed, as spreadsheet exporters do
 *   city         short string; ~10% UTF-8; ~1% empty
 *   country      ISO 3166 alpha-2 code
 *   price        float with 2 decimals, ~5% integral, ~1% empty
 *   order_date   ISO date 2015-01-01 .. 2025-12-31
 *   created_at   ISO timestamp, Z / .mmmZ / +hh:mm offsets
 *   active       true / false
 *   zip          5-digit zero-padded code (leading zeros ~1 in 10), ~2% empty
 *   quantity     small integer, ~3% empty
 *   description  free text: commas, "" escaped quotes, ~10% UTF-8 (accents,
 *                CJK, emoji); ~1% of rows embed a newline (1 in 4 is CRLF)
 *   notes        short text, ~40% empty
 *
 * Records end in LF. Everything is produced into a 1 MiB buffer with
 * hand-rolled formatting (no printf), so the generator runs at several hundred
 * MB/s and a 1 GiB file takes a few seconds.
 */
#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define OUT_CAP (1u << 20)
#define ROW_MAX 4096 /* a generated record is well below this */
#define DEFAULT_SEED 0x5eed2024u

/* ---- PRNG: splitmix64 (one add, two multiplies); plenty for test data. ---- */

static uint64_t rng_state;

static uint64_t rng_next(void) {
  uint64_t z = (rng_state += 0x9e3779b97f4a7c15ull);
  z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
  z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
  return z ^ (z >> 31);
}

/* Uniform in [0, n) for n < 2^32, by multiply-shift (Lemire, without the
 * rejection step: the bias is < 2^-32, irrelevant here). */
static uint32_t rng_below(uint32_t n) {
  return (uint32_t)(((rng_next() >> 32) * (uint64_t)n) >> 32);
}

/* True with probability pct_x10 / 1000. */
static int rng_chance(uint32_t per_mille) { return rng_below(1000) < per_mille; }

/* ---- Vocabulary. ---- */

#define N(a) (sizeof(a) / sizeof((a)[0]))

static const char* const first_ascii[] = {
    "James", "Mary", "John", "Patricia", "Robert", "Jennifer", "Michael",
    "Linda", "William", "Elizabeth", "David", "Barbara", "Richard", "Susan",
    "Joseph", "Jessica", "Thomas", "Sarah", "Charles", "Karen", "Daniel",
    "Nancy", "Matthew", "Lisa", "Anthony", "Betty", "Mark", "Sandra", "Paul",
    "Ashley", "Steven", "Emily", "Andrew", "Donna", "Kevin", "Michelle",
    "Brian", "Carol", "George", "Amanda", "Ahmed", "Priya", "Wei", "Olga",
    "Kenji", "Fatima", "Lars", "Ana", "Ivan", "Mei"};
static const char* const last_ascii[] = {
    "Smith", "Johnson", "Williams", "Brown", "Jones", "Garcia", "Miller",
    "Davis", "Rodriguez", "Martinez", "Hernandez", "Lopez", "Gonzalez",
    "Wilson", "Anderson", "Thomas", "Taylor", "Moore", "Jackson", "Martin",
    "Lee", "Perez", "Thompson", "White", "Harris", "Sanchez", "Clark",
    "Ramirez", "Lewis", "Robinson", "Walker", "Young", "Allen", "King",
    "Wright", "Scott", "Torres", "Nguyen", "Hill", "Flores", "O'Brien",
    "Kowalski", "Schmidt", "Rossi", "Tanaka", "Singh", "Kim", "Petrov",
    "Jensen", "Silva"};
static const char* const name_utf8[] = {
    "Jos\xc3\xa9 Garc\xc3\xad" "a", "Zo\xc3\xab M\xc3\xbcller",
    "Fran\xc3\xa7ois Lef\xc3\xa8vre", "\xc5\x81ukasz W\xc3\xb3jcik",
    "Bj\xc3\xb6rk Gu\xc3\xb0mundsd\xc3\xb3ttir", "Ren\xc3\xa9" "e Dubois",
    "J\xc3\xbcrgen Wei\xc3\x9f", "S\xc3\xb8ren Kierkeg\xc3\xa5rd",
    "\xc3\x89lodie Fa\xc3\xaf" "d", "Jo\xc3\xa3o Concei\xc3\xa7\xc3\xa3o",
    "\xe5\xb1\xb1\xe7\x94\xb0\xe5\xa4\xaa\xe9\x83\x8e",       /* 山田太郎 */
    "\xe6\x9d\x8e\xe5\xa8\x9c",                               /* 李娜 */
    "\xea\xb9\x80\xeb\xaf\xbc\xec\xa4\x80",                   /* 김민준 */
    "\xd0\x98\xd0\xb2\xd0\xb0\xd0\xbd \xd0\x9f\xd0\xb5\xd1\x82\xd1\x80\xd0\xbe"
    "\xd0\xb2",                                               /* Иван Петров */
    "\xce\x9d\xce\xaf\xce\xba\xce\xbf\xcf\x82 \xce\x9a\xcf\x89\xce\xbd"
    "\xcf\x83\xcf\x84\xce\xb1\xce\xbd\xcf\x84\xce\xaf\xce\xbd\xce\xbf"
    "\xcf\x85"};                                              /* Νίκος Κωνσταντίνου */
static const char* const city_ascii[] = {
    "New York", "London", "Paris", "Berlin", "Madrid", "Rome", "Toronto",
    "Sydney", "Chicago", "Boston", "Seattle", "Austin", "Denver", "Dublin",
    "Lisbon", "Oslo", "Vienna", "Prague", "Warsaw", "Mumbai", "Delhi",
    "Shanghai", "Singapore", "Lagos", "Nairobi", "Cairo", "Lima", "Bogota",
    "Santiago", "Osaka", "Seoul", "Manila", "Jakarta", "Istanbul", "Athens",
    "Amsterdam", "Brussels", "Zagreb", "Helsinki", "Stockholm"};
static const char* const city_utf8[] = {
    "M\xc3\xbcnchen", "S\xc3\xa3o Paulo", "Krak\xc3\xb3w", "Z\xc3\xbcrich",
    "Malm\xc3\xb6", "Reykjav\xc3\xadk", "Ciudad de M\xc3\xa9xico",
    "Montr\xc3\xa9" "al", "D\xc3\xbcsseldorf", "Bras\xc3\xad" "lia",
    "\xe6\x9d\xb1\xe4\xba\xac",                               /* 東京 */
    "\xe5\x8c\x97\xe4\xba\xac",                               /* 北京 */
    "\xec\x84\x9c\xec\x9a\xb8",                               /* 서울 */
    "\xd0\x9c\xd0\xbe\xd1\x81\xd0\xba\xd0\xb2\xd0\xb0",       /* Москва */
    "\xce\x91\xce\xb8\xce\xae\xce\xbd\xce\xb1"};              /* Αθήνα */
static const char* const countries[] = {
    "US", "GB", "FR", "DE", "ES", "IT", "CA", "AU", "JP", "CN", "KR", "IN",
    "BR", "MX", "NL", "SE", "NO", "PL", "PT", "IE", "CH", "AT", "NG", "KE",
    "EG", "ZA", "AR", "CL", "CO", "PE", "RU", "TR", "GR", "FI", "DK", "BE"};
static const char* const words[] = {
    "the", "order", "shipped", "late", "customer", "asked", "for", "a",
    "refund", "package", "arrived", "damaged", "please", "call", "back",
    "before", "noon", "delivery", "address", "changed", "gift", "wrap",
    "requested", "item", "out", "of", "stock", "backordered", "until",
    "next", "week", "priority", "shipping", "upgrade", "free", "returns",
    "warranty", "claim", "filed", "invoice", "attached", "paid", "by",
    "card", "bank", "transfer", "discount", "applied", "loyalty", "member",
    "size", "color", "blue", "red", "large", "small", "fragile", "handle",
    "with", "care", "leave", "at", "door", "signature", "required", "and",
    "to", "is", "was", "not", "in", "on", "it", "this", "that", "no"};
static const char* const words_utf8[] = {
    "caf\xc3\xa9", "na\xc3\xafve", "cr\xc3\xa8me br\xc3\xbbl\xc3\xa9" "e",
    "fa\xc3\xa7" "ade", "r\xc3\xa9sum\xc3\xa9", "stra\xc3\x9f" "e",
    "\xc3\xa5r", "se\xc3\xb1or", "\xc3\xbc" "ber",
    "\xe6\x9d\xb1\xe4\xba\xac",                               /* 東京 */
    "\xe3\x81\x82\xe3\x82\x8a\xe3\x81\x8c\xe3\x81\xa8\xe3\x81\x86", /* ありがとう */
    "\xe9\x85\x8d\xe9\x80\x81",                               /* 配送 */
    "\xe2\x82\xac" "12",                                      /* €12 */
    "\xe2\x80\x94",                                           /* — */
    "\xe2\x80\x9cquoted\xe2\x80\x9d",                         /* “quoted” */
    "\xf0\x9f\x9a\x80",                                       /* 🚀 */
    "\xf0\x9f\x98\x80",                                       /* 😀 */
    "\xf0\x9f\x91\x8d\xf0\x9f\x8f\xbd",                       /* 👍🏽 */
    "\xf0\x9f\x87\xab\xf0\x9f\x87\xb7",                       /* 🇫🇷 */
    "\xf0\x9f\x93\xa6"};                                      /* 📦 */
static const char* const notes_txt[] = {
    "VIP", "repeat customer", "fraud check passed", "gift", "B2B",
    "call before delivery", "net 30", "wholesale", "test order",
    "marketplace", "needs invoice", "tax exempt"};

/* ---- Output: one big buffer, written with write(2) as it fills. ---- */

static char out_buf[OUT_CAP];
static size_t out_len;

static int flush_out(void) {
  size_t off = 0;
  while (off < out_len) {
    ssize_t n = write(STDOUT_FILENO, out_buf + off, out_len - off);
    if (n < 0) {
      if (errno == EINTR)
        continue;
      perror("gencsv: write");
      return -1;
    }
    off += (size_t)n;
  }
  out_len = 0;
  return 0;
}

/* Row-building helpers append at *p and return the new end. */

static char* put_str(char* p, const char* s) {
  size_t n = strlen(s);
  memcpy(p, s, n);
  return p + n;
}

static char* put_uint(char* p, uint64_t v) {
  char tmp[20];
  int i = 0;
  do {
    tmp[i++] = (char)('0' + v % 10);
    v /= 10;
  } while (v != 0);
  while (i > 0)
    *p++ = tmp[--i];
  return p;
}

/* Exactly `width` digits, zero-padded. */
static char* put_fixed(char* p, uint32_t v, int width) {
  for (int i = width - 1; i >= 0; i--) {
    p[i] = (char)('0' + v % 10);
    v /= 10;
  }
  return p + width;
}

static const uint8_t days_in_month[12] = {31, 28, 31, 30, 31, 30,
                                          31, 31, 30, 31, 30, 31};

static char* put_date(char* p) {
  uint32_t y = 2015 + rng_below(11);
  uint32_t m = 1 + rng_below(12);
  uint32_t dim = days_in_month[m - 1];
  if (m == 2 && y % 4 == 0) /* 2015..2025: %4 suffices */
    dim = 29;
  uint32_t d = 1 + rng_below(dim);
  p = put_fixed(p, y, 4);
  *p++ = '-';
  p = put_fixed(p, m, 2);
  *p++ = '-';
  return put_fixed(p, d, 2);
}

static char* put_timestamp(char* p) {
  p = put_date(p);
  uint32_t secs = rng_below(86400);
  *p++ = 'T';
  p = put_fixed(p, secs / 3600, 2);
  *p++ = ':';
  p = put_fixed(p, secs / 60 % 60, 2);
  *p++ = ':';
  p = put_fixed(p, secs % 60, 2);
  uint32_t kind = rng_below(10);
  if (kind < 6) { /* 60%: Z */
    *p++ = 'Z';
  } else if (kind < 8) { /* 20%: .mmmZ */
    *p++ = '.';
    p = put_fixed(p, rng_below(1000), 3);
    *p++ = 'Z';
  } else { /* 20%: +hh:mm / -hh:mm */
    *p++ = rng_chance(500) ? '+' : '-';
    p = put_fixed(p, rng_below(13), 2);
    *p++ = ':';
    p = put_fixed(p, rng_chance(800) ? 0 : 30, 2);
  }
  return p;
}

/* Free text into scratch; returns its end and sets *special when the field
 * needs quoting. Quote characters are written raw and doubled on output. */
static char* gen_text(char* p, int* special) {
  int utf8 = rng_chance(100);
  int newline = rng_chance(10);
  uint32_t nwords = 3 + rng_below(14);
  uint32_t nl_at = newline ? 1 + rng_below(nwords - 1) : UINT32_MAX;
  uint32_t utf8_at = utf8 ? rng_below(nwords) : UINT32_MAX;
  *special = 0;
  for (uint32_t i = 0; i < nwords; i++) {
    if (i == nl_at) {
      if (rng_chance(250))
        *p++ = '\r';
      *p++ = '\n';
      *special = 1;
    } else if (i > 0) {
      if (rng_chance(120)) {
        *p++ = ',';
        *special = 1;
      }
      *p++ = ' ';
    }
    int quoted = rng_chance(40);
    if (quoted) {
      *p++ = '"';
      *special = 1;
    }
    if (i == utf8_at)
      p = put_str(p, words_utf8[rng_below(N(words_utf8))]);
    else
      p = put_str(p, words[rng_below(N(words))]);
    if (quoted)
      *p++ = '"';
  }
  if (rng_chance(300))
    *p++ = rng_chance(500) ? '.' : '!';
  return p;
}

/* Appends scratch[0, n) as one CSV field, quoting when asked to. */
static char* put_field(char* p, const char* s, size_t n, int quote) {
  if (!quote) {
    memcpy(p, s, n);
    return p + n;
  }
  *p++ = '"';
  for (size_t i = 0; i < n; i++) {
    if (s[i] == '"')
      *p++ = '"';
    *p++ = s[i];
  }
  *p++ = '"';
  return p;
}

/* One record, ending in LF, at p; returns its end. */
static char* gen_row(char* p, uint64_t id) {
  char scratch[1024];
  char* s;
  int special;

  p = put_uint(p, id);
  *p++ = ',';

  /* name: sometimes quoted though it need not be */
  int qname = rng_chance(200);
  if (qname)
    *p++ = '"';
  if (rng_chance(100)) {
    p = put_str(p, name_utf8[rng_below(N(name_utf8))]);
  } else {
    p = put_str(p, first_ascii[rng_below(N(first_ascii))]);
    *p++ = ' ';
    p = put_str(p, last_ascii[rng_below(N(last_ascii))]);
  }
  if (qname)
    *p++ = '"';
  *p++ = ',';

  if (!rng_chance(10)) /* city, ~1% empty */
    p = put_str(p, rng_chance(100) ? city_utf8[rng_below(N(city_utf8))]
                                   : city_ascii[rng_below(N(city_ascii))]);
  *p++ = ',';

  p = put_str(p, countries[rng_below(N(countries))]);
  *p++ = ',';

  if (!rng_chance(10)) { /* price, ~1% empty */
    uint32_t cents = rng_below(2000000);
    p = put_uint(p, cents / 100);
    if (!rng_chance(50)) {
      *p++ = '.';
      p = put_fixed(p, cents % 100, 2);
    }
  }
  *p++ = ',';

  p = put_date(p);
  *p++ = ',';
  p = put_timestamp(p);
  *p++ = ',';
  p = put_str(p, rng_chance(700) ? "true" : "false");
  *p++ = ',';

  if (!rng_chance(20)) /* zip, ~2% empty */
    p = put_fixed(p, rng_below(100000), 5);
  *p++ = ',';

  if (!rng_chance(30)) /* quantity, ~3% empty */
    p = put_uint(p, 1 + rng_below(rng_chance(900) ? 10 : 1000));
  *p++ = ',';

  s = gen_text(scratch, &special);
  p = put_field(p, scratch, (size_t)(s - scratch), special || rng_chance(300));
  *p++ = ',';

  if (!rng_chance(400)) { /* notes, ~40% empty */
    s = put_str(scratch, notes_txt[rng_below(N(notes_txt))]);
    special = 0;
    if (rng_chance(150)) {
      s = put_str(s, ", ");
      s = put_str(s, rng_chance(100) ? words_utf8[rng_below(N(words_utf8))]
                                     : words[rng_below(N(words))]);
      special = 1;
    }
    p = put_field(p, scratch, (size_t)(s - scratch), special);
  }
  *p++ = '\n';
  return p;
}

/* Parses "123", "100m", "1g" (binary multiples). Returns 0 on error. */
static uint64_t parse_size(const char* arg) {
  char* end;
  errno = 0;
  unsigned long long v = strtoull(arg, &end, 10);
  if (errno != 0 || end == arg)
    return 0;
  switch (*end) {
  case 'k': case 'K': v <<= 10; end++; break;
  case 'm': case 'M': v <<= 20; end++; break;
  case 'g': case 'G': v <<= 30; end++; break;
  default: break;
  }
  if (*end != '\0')
    return 0;
  return (uint64_t)v;
}

static const char header[] =
    "id,name,city,country,price,order_date,created_at,active,zip,quantity,"
    "description,notes\n";

int main(int argc, char** argv) {
  if (argc < 2 || argc > 3) {
    fprintf(stderr, "usage: gencsv SIZE_BYTES[k|m|g] [SEED] > out.csv\n");
    return 2;
  }
  uint64_t limit = parse_size(argv[1]);
  if (limit == 0) {
    fprintf(stderr, "gencsv: bad size '%s'\n", argv[1]);
    return 2;
  }
  uint64_t seed = DEFAULT_SEED;
  if (argc == 3) {
    char* end;
    errno = 0;
    seed = strtoull(argv[2], &end, 0);
    if (errno != 0 || end == argv[2] || *end != '\0') {
      fprintf(stderr, "gencsv: bad seed '%s'\n", argv[2]);
      return 2;
    }
  }
  rng_state = seed;

  uint64_t total = sizeof(header) - 1;
  if (total > limit) {
    fprintf(stderr, "gencsv: size %llu is smaller than the header\n",
            (unsigned long long)limit);
    return 2;
  }
  memcpy(out_buf, header, sizeof(header) - 1);
  out_len = sizeof(header) - 1;

  for (uint64_t id = 1;; id++) {
    if (out_len > OUT_CAP - ROW_MAX && flush_out() != 0)
      return 1;
    char* start = out_buf + out_len;
    char* end = gen_row(start, id);
    size_t n = (size_t)(end - start);
    if (total + n > limit) /* the record does not fit: drop it and stop */
      break;
    out_len += n;
    total += n;
  }
  return flush_out() != 0;
}
