/* Part sizes of the S3 sink (pipe__s3_part_size) and the small helpers of
 * the client: pure functions, no server. */
#include <criterion/criterion.h>
#include <string.h>

#include "s3/client.h"

#define MIB (1024ull * 1024)
#define TIB (1024ull * 1024 * 1024 * 1024)

Test(s3_parts, a_stream_of_unknown_size_reaches_5_tib_within_10000_parts) {
  uint64_t total = 0;
  unsigned n;
  for (n = 1; n <= PIPE_S3_MAX_PARTS; n++) {
    size_t p = pipe__s3_part_size(PIPE_S3_DEFAULT_PART_SIZE, -1, n);
    cr_assert_geq(p, PIPE_S3_MIN_PART_SIZE);
    cr_assert_leq(p, PIPE_S3_MAX_PART_SIZE);
    if (n > 1)
      cr_assert_geq(p, pipe__s3_part_size(PIPE_S3_DEFAULT_PART_SIZE, -1, n - 1),
                    "sizes never shrink");
    total += p;
  }
  cr_expect_geq(total, 5 * TIB, "10,000 parts hold %llu bytes", (unsigned long long)total);
  cr_expect_eq(pipe__s3_part_size(8 * MIB, -1, 900), 8 * MIB, "the first 900 are the base");
  cr_expect_eq(pipe__s3_part_size(8 * MIB, -1, 901), 16 * MIB);
  /* The minimum part size grows too. */
  total = 0;
  for (n = 1; n <= PIPE_S3_MAX_PARTS; n++) total += pipe__s3_part_size(5 * MIB, -1, n);
  cr_expect_geq(total, 5 * TIB);
}

Test(s3_parts, a_known_size_gets_parts_big_enough_for_10000) {
  uint64_t size = 5 * TIB;
  size_t p = pipe__s3_part_size(8 * MIB, (int64_t)size, 1);
  cr_expect_eq(p % MIB, 0, "whole MiB");
  cr_expect_leq((size + p - 1) / p, PIPE_S3_MAX_PARTS, "%zu-byte parts", p);
  cr_expect_eq(pipe__s3_part_size(8 * MIB, (int64_t)size, 9999), p, "all the same");
  cr_expect_eq(pipe__s3_part_size(8 * MIB, 100 * (int64_t)MIB, 1), 8 * MIB,
               "small files use the configured size");
}

Test(s3_parts, xml_helpers_decode_entities_and_skip_longer_names) {
  const char* x = "<R><KeyMarker>no</KeyMarker><Key>a&amp;b &lt;c&gt; &quot;d&quot;</Key>"
                  "<Empty/><ETag>&quot;abc&quot;</ETag></R>";
  char out[64];
  size_t pos = 0;
  cr_assert(pipe__s3_xml_get(x, strlen(x), &pos, "Key", out, sizeof(out)));
  cr_expect_str_eq(out, "a&b <c> \"d\"");
  pos = 0;
  cr_assert(pipe__s3_xml_get(x, strlen(x), &pos, "Empty", out, sizeof(out)));
  cr_expect_str_eq(out, "");
  pos = 0;
  cr_assert(pipe__s3_xml_get(x, strlen(x), &pos, "ETag", out, sizeof(out)));
  cr_expect_str_eq(out, "\"abc\"");
  pos = 0;
  cr_expect_not(pipe__s3_xml_get(x, strlen(x), &pos, "Missing", out, sizeof(out)));
  pipe__s3_xml_escape("a<&>\"b", out, sizeof(out));
  cr_expect_str_eq(out, "a&lt;&amp;&gt;&quot;b");
  pipe__s3_base64((const uint8_t*)"\xd4\x1d\x8c\xd9\x8f\x00\xb2\x04\xe9\x80\x09\x98\xec\xf8\x42\x7e",
                  16, out, sizeof(out));
  cr_expect_str_eq(out, "1B2M2Y8AsgTpgAmY7PhCfg==", "Content-MD5 of the empty body");
  cr_expect_eq(pipe__s3_parse_time("2026-12-02T19:00:00.000Z"), 1796238000);
}
