/* Behaviour tests for the CSV -> JSON codec. Every expectation runs through
 * csvj_expect*(), which repeats it on every scanner level, whole and cut at
 * every byte (short inputs), with random cuts and output caps of 256..1024,
 * and byte at a time: a buffer-boundary bug cannot hide behind one split. */
#include <criterion/criterion.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "codec/csv2json.h"
#include "codec/csv_scan.h"
#include "support/csvj_run.h"

static pipe_csvj_opts_t O(void) { return csvj_opts(); }

static pipe_csvj_opts_t OI(void) {
  pipe_csvj_opts_t o = csvj_opts();
  o.infer = 1;
  return o;
}

/* ---- structure and output shape ---- */

Test(csv2json, ndjson_one_compact_object_per_record) {
  pipe_csvj_opts_t o = O();
  csvj_expect(&o, "a,b\n1,x\n2,y\n", "{\"a\":\"1\",\"b\":\"x\"}\n{\"a\":\"2\",\"b\":\"y\"}\n");
}

Test(csv2json, header_keys_keep_column_order) {
  pipe_csvj_opts_t o = O();
  csvj_expect(&o, "z,a,m\n1,2,3\n", "{\"z\":\"1\",\"a\":\"2\",\"m\":\"3\"}\n");
}

Test(csv2json, array_mode_wraps_records) {
  pipe_csvj_opts_t o = O();
  o.array = 1;
  csvj_expect(&o, "a\n1\n2\n", "[\n{\"a\":\"1\"},\n{\"a\":\"2\"}\n]\n");
}

Test(csv2json, array_mode_empty_input_is_empty_array) {
  pipe_csvj_opts_t o = O();
  o.array = 1;
  csvj_expect(&o, "", "[]\n");
}

Test(csv2json, array_mode_header_only_is_empty_array) {
  pipe_csvj_opts_t o = O();
  o.array = 1;
  csvj_expect(&o, "a,b\n", "[]\n");
}

Test(csv2json, empty_input_gives_no_output) {
  pipe_csvj_opts_t o = O();
  csvj_expect(&o, "", "");
}

Test(csv2json, header_only_gives_no_output) {
  pipe_csvj_opts_t o = O();
  csvj_expect(&o, "a,b,c\n", "");
  csvj_expect(&o, "a,b,c", "");
}

Test(csv2json, no_header_uses_column_numbers) {
  pipe_csvj_opts_t o = O();
  o.header = 0;
  csvj_expect(&o, "x,y\n1,2\n", "{\"1\":\"x\",\"2\":\"y\"}\n{\"1\":\"1\",\"2\":\"2\"}\n");
}

Test(csv2json, records_counter_counts_data_records) {
  pipe_csvj_opts_t o = O();
  csvj_result_t r;
  csvj_convert(&o, -1, "h\n1\n\n2\n3", 9, NULL, 0, 4096, &r);
  cr_assert_eq(r.rc, 0);
  cr_assert_eq(r.records, 3);
  csvj_result_free(&r);
}

/* ---- RFC 4180 quoting ---- */

Test(csv2json, quoted_fields) {
  pipe_csvj_opts_t o = O();
  csvj_expect(&o, "a,b\n\"x\",\"y z\"\n", "{\"a\":\"x\",\"b\":\"y z\"}\n");
}

Test(csv2json, doubled_quote_is_one_quote) {
  pipe_csvj_opts_t o = O();
  csvj_expect(&o, "a\n\"say \"\"hi\"\"\"\n\"\"\"\"\n", "{\"a\":\"say \\\"hi\\\"\"}\n{\"a\":\"\\\"\"}\n");
}

Test(csv2json, empty_quoted_field_is_empty_string) {
  pipe_csvj_opts_t o = O();
  csvj_expect(&o, "a,b\n\"\",\"\"\n", "{\"a\":\"\",\"b\":\"\"}\n");
}

Test(csv2json, delimiter_inside_quotes_is_data) {
  pipe_csvj_opts_t o = O();
  csvj_expect(&o, "a,b\n\"1,2\",3\n", "{\"a\":\"1,2\",\"b\":\"3\"}\n");
}

Test(csv2json, lf_inside_quotes_is_data) {
  pipe_csvj_opts_t o = O();
  csvj_expect(&o, "a,b\n\"l1\nl2\",3\n", "{\"a\":\"l1\\nl2\",\"b\":\"3\"}\n");
}

Test(csv2json, crlf_inside_quotes_is_data) {
  pipe_csvj_opts_t o = O();
  csvj_expect(&o, "a,b\r\n\"l1\r\nl2\",3\r\n", "{\"a\":\"l1\\r\\nl2\",\"b\":\"3\"}\n");
}

Test(csv2json, quote_inside_unquoted_field_is_literal) {
  pipe_csvj_opts_t o = O();
  csvj_expect(&o, "a,b\nab\"c,d\n", "{\"a\":\"ab\\\"c\",\"b\":\"d\"}\n");
  csvj_expect(&o, "a,b\nx\"y\"z,\"q\"\n", "{\"a\":\"x\\\"y\\\"z\",\"b\":\"q\"}\n");
}

Test(csv2json, junk_after_closing_quote_is_error) {
  pipe_csvj_opts_t o = O();
  pipe_error_t e;
  const char* in = "a,b\n1,2\n3,\"abc\"x\n";
  csvj_expect_error(&o, in, strlen(in), PIPE_ECSV, &e);
  cr_assert_str_eq(e.msg, "unexpected character 'x' after closing quote");
  cr_assert_eq(e.line, 3);
  cr_assert_eq(e.column, 2);
  cr_assert_eq(e.offset, 15);
  cr_assert_eq(e.record, 2);
}

Test(csv2json, lone_cr_after_closing_quote_ends_the_record) {
  pipe_csvj_opts_t o = O();
  csvj_expect(&o, "a,b\r\"x\",\"y\"\r1,2\r",
              "{\"a\":\"x\",\"b\":\"y\"}\n{\"a\":\"1\",\"b\":\"2\"}\n");
}

Test(csv2json, unterminated_quote_names_where_it_opened) {
  pipe_csvj_opts_t o = O();
  pipe_error_t e;
  const char* in = "a,b\n1,2\n3,\"open\nstill\n";
  csvj_expect_error(&o, in, strlen(in), PIPE_ECSV, &e);
  cr_assert_str_eq(e.msg, "unterminated quoted field: no closing quote from here to the end of input");
  cr_assert_eq(e.line, 3);
  cr_assert_eq(e.column, 2);
}

/* ---- line endings ---- */

Test(csv2json, crlf_line_endings) {
  pipe_csvj_opts_t o = O();
  csvj_expect(&o, "a,b\r\n1,2\r\n3,4\r\n", "{\"a\":\"1\",\"b\":\"2\"}\n{\"a\":\"3\",\"b\":\"4\"}\n");
}

Test(csv2json, mixed_line_endings) {
  pipe_csvj_opts_t o = O();
  csvj_expect(&o, "a,b\n1,2\r\n\"3\",\"4\"\r\n5,6\n", "{\"a\":\"1\",\"b\":\"2\"}\n{\"a\":\"3\",\"b\":\"4\"}\n{\"a\":\"5\",\"b\":\"6\"}\n");
}

Test(csv2json, missing_final_newline) {
  pipe_csvj_opts_t o = O();
  csvj_expect(&o, "a,b\n1,2", "{\"a\":\"1\",\"b\":\"2\"}\n");
  csvj_expect(&o, "a,b\n1,\"2\"", "{\"a\":\"1\",\"b\":\"2\"}\n");
}

Test(csv2json, trailing_delimiter_gives_empty_last_field) {
  pipe_csvj_opts_t o = O();
  csvj_expect(&o, "a,b\n1,\n2,", "{\"a\":\"1\",\"b\":\"\"}\n{\"a\":\"2\",\"b\":\"\"}\n");
}

Test(csv2json, cr_only_line_endings_end_records_and_cr_in_quotes_is_data) {
  pipe_csvj_opts_t o = O();
  /* The reproduction (classic Mac / Excel for Mac). */
  csvj_expect(&o, "a,b,c\r1,2,3\r\"x\ry\",5,6\r",
              "{\"a\":\"1\",\"b\":\"2\",\"c\":\"3\"}\n"
              "{\"a\":\"x\\ry\",\"b\":\"5\",\"c\":\"6\"}\n");
}

Test(csv2json, lone_cr_in_unquoted_field_ends_the_record) {
  pipe_csvj_opts_t o = O();
  o.ragged = 1;
  /* As Python's csv: x\ry,z is two records, "x" and "y","z". */
  csvj_expect(&o, "a,b\nx\ry,z\r\n", "{\"a\":\"x\"}\n{\"a\":\"y\",\"b\":\"z\"}\n");
  csvj_expect(&o, "a,b\nx\r,z\n", "{\"a\":\"x\"}\n{\"a\":\"\",\"b\":\"z\"}\n");
}

Test(csv2json, cr_lf_and_crlf_mixed_in_one_file) {
  pipe_csvj_opts_t o = O();
  csvj_expect(&o, "a,b\r1,2\n3,4\r\n5,\"6\"\r7,8",
              "{\"a\":\"1\",\"b\":\"2\"}\n{\"a\":\"3\",\"b\":\"4\"}\n"
              "{\"a\":\"5\",\"b\":\"6\"}\n{\"a\":\"7\",\"b\":\"8\"}\n");
}

Test(csv2json, cr_only_blank_lines_are_skipped) {
  pipe_csvj_opts_t o = O();
  csvj_expect(&o, "\r\ra\r\r1\r\r\r\n\n2\r\r", "{\"a\":\"1\"}\n{\"a\":\"2\"}\n");
}

Test(csv2json, cr_only_lines_count_for_error_lines) {
  pipe_csvj_opts_t o = O();
  pipe_error_t e;
  /* Line 3 holds a quoted CR (a line break inside the field); line 5 is short. */
  const char* in = "a,b\r1,2\r\"x\ry\",3\r\r4\r";
  csvj_expect_error(&o, in, strlen(in), PIPE_EFIELDS, &e);
  cr_assert_eq(e.line, 6);
  cr_assert_str_eq(e.msg, "expected 2 fields, found 1");
}

Test(csv2json, crlf_inside_quotes_counts_as_one_line) {
  pipe_csvj_opts_t o = O();
  pipe_error_t e;
  const char* in = "a,b\r\n\"x\r\ny\",3\r\n4\r\n";
  csvj_expect_error(&o, in, strlen(in), PIPE_EFIELDS, &e);
  cr_assert_eq(e.line, 4);
}

/* Every line ending at every position of a 64-byte block: a CR in bit 63
 * with its LF in the next block, a lone CR there, and the same at the end
 * of a 16 KiB fast-path batch. The expected output is built alongside. */
Test(csv2json, cr_and_crlf_at_every_block_offset) {
  pipe_csvj_opts_t o = O();
  size_t cap = 1 << 20, n = 0, m = 0, w, k;
  char* in = malloc(cap);
  char* exp = malloc(cap);
  n += (size_t)snprintf(in, cap, "a,b\r\n");
  for (w = 0; n < 40000; w++) {
    const char* eol = (w % 3 == 0) ? "\r" : (w % 3 == 1) ? "\r\n" : "\n";
    int quoted = (w / 3) % 2;
    size_t len = w % 131;
    m += (size_t)snprintf(exp + m, cap - m, "{\"a\":\"%zu\",\"b\":\"", w);
    n += (size_t)snprintf(in + n, cap - n, "%zu,%s", w, quoted ? "\"" : "");
    for (k = 0; k < len; k++) {
      if (quoted && k % 17 == 16) { /* a CR inside quotes is data */
        in[n++] = '\r';
        exp[m++] = '\\';
        exp[m++] = 'r';
      } else {
        in[n++] = exp[m++] = (char)('a' + k % 26);
      }
    }
    n += (size_t)snprintf(in + n, cap - n, "%s%s", quoted ? "\"" : "", eol);
    m += (size_t)snprintf(exp + m, cap - m, "\"}\n");
  }
  csvj_expect_n(&o, in, n, exp);
  free(in);
  free(exp);
}

Test(csv2json, cr_at_end_of_input_ends_the_line) {
  pipe_csvj_opts_t o = O();
  csvj_expect(&o, "a,b\r\n1,2\r", "{\"a\":\"1\",\"b\":\"2\"}\n");
  csvj_expect(&o, "a,b\r\n1,\"2\"\r", "{\"a\":\"1\",\"b\":\"2\"}\n");
}

Test(csv2json, blank_lines_are_skipped_anywhere) {
  pipe_csvj_opts_t o = O();
  csvj_expect(&o, "\n\r\na,b\n\n1,2\r\n\r\n\n3,4\n\n", "{\"a\":\"1\",\"b\":\"2\"}\n{\"a\":\"3\",\"b\":\"4\"}\n");
}

Test(csv2json, blank_lines_count_for_error_lines) {
  pipe_csvj_opts_t o = O();
  pipe_error_t e;
  const char* in = "\na,b\n\n1,2\n\n3\n";
  csvj_expect_error(&o, in, strlen(in), PIPE_EFIELDS, &e);
  cr_assert_eq(e.line, 6);
  cr_assert_str_eq(e.msg, "expected 2 fields, found 1");
}

/* ---- BOM ---- */

Test(csv2json, utf8_bom_is_stripped) {
  pipe_csvj_opts_t o = O();
  csvj_expect(&o, "\xEF\xBB\xBF" "a,b\n1,2\n", "{\"a\":\"1\",\"b\":\"2\"}\n");
}

Test(csv2json, bom_split_over_feed_calls_is_stripped) {
  pipe_csvj_opts_t o = O();
  const char* in = "\xEF\xBB\xBF" "k\nv\n";
  size_t cuts[3] = {1, 2, 3};
  csvj_result_t r;
  csvj_convert(&o, -1, in, strlen(in), cuts, 3, 256, &r);
  cr_assert_eq(r.rc, 0);
  cr_assert_str_eq(r.out, "{\"k\":\"v\"}\n");
  csvj_result_free(&r);
}

Test(csv2json, bom_later_in_input_is_data) {
  pipe_csvj_opts_t o = O();
  csvj_expect(&o, "a\n\xEF\xBB\xBFx\n", "{\"a\":\"\xEF\xBB\xBFx\"}\n");
}

Test(csv2json, partial_bom_prefix_is_data) {
  pipe_csvj_opts_t o = O();
  o.header = 0;
  /* EF BB 80 is U+FEC0, valid UTF-8 that merely starts like a BOM. */
  csvj_expect(&o, "\xEF\xBB\x80,1\n", "{\"1\":\"\xEF\xBB\x80\",\"2\":\"1\"}\n");
  csvj_expect(&o, "\xEF\xBB\x80", "{\"1\":\"\xEF\xBB\x80\"}\n");
}

/* ---- values ---- */

Test(csv2json, values_are_lossless_strings_by_default) {
  pipe_csvj_opts_t o = O();
  csvj_expect(&o, "a,b,c,d\n00123,1.5,true,\n", "{\"a\":\"00123\",\"b\":\"1.5\",\"c\":\"true\",\"d\":\"\"}\n");
}

Test(csv2json, infer_emits_json_numbers_verbatim) {
  pipe_csvj_opts_t o = OI();
  csvj_expect(&o, "a,b,c,d,e,f\n0,-12,3.25,1e5,-0.5E-3,6.02e+23\n",
              "{\"a\":0,\"b\":-12,\"c\":3.25,\"d\":1e5,\"e\":-0.5E-3,\"f\":6.02e+23}\n");
}

Test(csv2json, infer_keeps_non_json_numbers_as_strings) {
  pipe_csvj_opts_t o = OI();
  csvj_expect(&o, "a,b,c,d,e,f,g,h,i\n00123,+1,.5,1.,NaN,0x1F,1e,-,Infinity\n",
              "{\"a\":\"00123\",\"b\":\"+1\",\"c\":\".5\",\"d\":\"1.\",\"e\":\"NaN\","
              "\"f\":\"0x1F\",\"g\":\"1e\",\"h\":\"-\",\"i\":\"Infinity\"}\n");
}

Test(csv2json, infer_number_grammar_edge_cases) {
  pipe_csvj_opts_t o = OI();
  o.header = 0;
  /* bare */
  csvj_expect(&o, "0\n", "{\"1\":0}\n");
  csvj_expect(&o, "0.5,-0,-0.0,10,12345678,123456789,1e5,1E+5,1.5e-3,-9\n",
              "{\"1\":0.5,\"2\":-0,\"3\":-0.0,\"4\":10,\"5\":12345678,"
              "\"6\":123456789,\"7\":1e5,\"8\":1E+5,\"9\":1.5e-3,\"10\":-9}\n");
  /* strings */
  csvj_expect(&o, "00.5,01,-01,1.2.3,1-2,2024-09-07,1e+,--1,0x10,1.5.\n",
              "{\"1\":\"00.5\",\"2\":\"01\",\"3\":\"-01\",\"4\":\"1.2.3\","
              "\"5\":\"1-2\",\"6\":\"2024-09-07\",\"7\":\"1e+\",\"8\":\"--1\","
              "\"9\":\"0x10\",\"10\":\"1.5.\"}\n");
  csvj_expect(&o, " 1,1 ,1\x01,tru,truex\n",
              "{\"1\":\" 1\",\"2\":\"1 \",\"3\":\"1\\u0001\",\"4\":\"tru\",\"5\":\"truex\"}\n");
}

Test(csv2json, infer_booleans) {
  pipe_csvj_opts_t o = OI();
  csvj_expect(&o, "a,b,c,d\ntrue,false,True,FALSE\n", "{\"a\":true,\"b\":false,\"c\":\"True\",\"d\":\"FALSE\"}\n");
}

Test(csv2json, infer_empty_unquoted_is_null) {
  pipe_csvj_opts_t o = OI();
  csvj_expect(&o, "a,b,c\n,,\n", "{\"a\":null,\"b\":null,\"c\":null}\n");
}

Test(csv2json, infer_quoted_fields_stay_strings) {
  pipe_csvj_opts_t o = OI();
  csvj_expect(&o, "a,b,c\n\"12\",\"true\",\"\"\n", "{\"a\":\"12\",\"b\":\"true\",\"c\":\"\"}\n");
}

Test(csv2json, infer_field_over_64_bytes_is_string) {
  pipe_csvj_opts_t o = OI();
  char in[256], exp[256];
  char digits64[65], digits65[66];
  memset(digits64, '7', 64);
  digits64[64] = 0;
  memset(digits65, '7', 65);
  digits65[65] = 0;
  snprintf(in, sizeof(in), "a,b\n%s,%s\n", digits64, digits65);
  snprintf(exp, sizeof(exp), "{\"a\":%s,\"b\":\"%s\"}\n", digits64, digits65);
  csvj_expect(&o, in, exp);
}

Test(csv2json, infer_streams_long_text_fields) {
  pipe_csvj_opts_t o = OI();
  size_t n = 5000, i;
  char* in = malloc(n + 16);
  char* exp = malloc(n + 32);
  memcpy(in, "a\n", 2);
  for (i = 0; i < n; i++) in[2 + i] = (char)('a' + i % 26);
  memcpy(in + 2 + n, "\n", 2);
  memcpy(exp, "{\"a\":\"", 6);
  memcpy(exp + 6, in + 2, n);
  memcpy(exp + 6 + n, "\"}\n", 4);
  csvj_expect(&o, in, exp);
  free(in);
  free(exp);
}

/* ---- JSON escaping ---- */

Test(csv2json, quote_and_backslash_are_escaped) {
  pipe_csvj_opts_t o = O();
  csvj_expect(&o, "a\n\"q\"\"\\b\"\nx\\y\n", "{\"a\":\"q\\\"\\\\b\"}\n{\"a\":\"x\\\\y\"}\n");
}

Test(csv2json, control_chars_are_escaped) {
  pipe_csvj_opts_t o = O();
  const char in[] = "a\n\"\b\f\t\x01\x1f\x00\"\n";
  csvj_expect_n(&o, in, sizeof(in) - 1,
                "{\"a\":\"\\b\\f\\t\\u0001\\u001f\\u0000\"}\n");
}

Test(csv2json, del_and_utf8_pass_through_raw) {
  pipe_csvj_opts_t o = O();
  csvj_expect(&o, "k\n\x7f" "caf\xC3\xA9 \xE2\x82\xAC \xF0\x9F\x98\x80\n",
              "{\"k\":\"\x7f" "caf\xC3\xA9 \xE2\x82\xAC \xF0\x9F\x98\x80\"}\n");
}

/* ---- delimiters ---- */

Test(csv2json, tab_delimiter) {
  pipe_csvj_opts_t o = O();
  o.delim = '\t';
  csvj_expect(&o, "a\tb\n1,5\t\"x\ty\"\n", "{\"a\":\"1,5\",\"b\":\"x\\ty\"}\n");
}

Test(csv2json, semicolon_and_pipe_delimiters) {
  pipe_csvj_opts_t o = O();
  o.delim = ';';
  csvj_expect(&o, "a;b\n1,2;3\n", "{\"a\":\"1,2\",\"b\":\"3\"}\n");
  o.delim = '|';
  csvj_expect(&o, "a|b\n1;2|\"3|4\"\n", "{\"a\":\"1;2\",\"b\":\"3|4\"}\n");
}

Test(csv2json, space_and_high_byte_delimiters) {
  pipe_csvj_opts_t o = O();
  o.delim = ' ';
  csvj_expect(&o, "a b\n1 \"2 3\"\n", "{\"a\":\"1\",\"b\":\"2 3\"}\n");
  o.delim = 0xA7;
  csvj_expect(&o, "a\xA7" "b\n1\xA7" "2\n", "{\"a\":\"1\",\"b\":\"2\"}\n");
}

Test(csv2json, quote_or_newline_delimiter_is_rejected) {
  pipe_csvj_opts_t o = O();
  pipe_csvj_t* cj = NULL;
  o.delim = '"';
  cr_assert_eq(pipe__csvj_new(&o, &cj), PIPE_EINVAL);
  cr_assert_null(cj);
  o.delim = '\n';
  cr_assert_eq(pipe__csvj_new(&o, &cj), PIPE_EINVAL);
  o.delim = 0; /* default */
  cr_assert_eq(pipe__csvj_new(&o, &cj), 0);
  pipe__csvj_free(cj);
}

/* ---- header keys ---- */

Test(csv2json, duplicate_header_keys_get_suffixes) {
  pipe_csvj_opts_t o = O();
  csvj_expect(&o, "a,b,a,a,b\n1,2,3,4,5\n", "{\"a\":\"1\",\"b\":\"2\",\"a_2\":\"3\",\"a_3\":\"4\",\"b_2\":\"5\"}\n");
}

Test(csv2json, dedupe_skips_names_already_taken) {
  pipe_csvj_opts_t o = O();
  csvj_expect(&o, "a,a_2,a\n1,2,3\n", "{\"a\":\"1\",\"a_2\":\"2\",\"a_3\":\"3\"}\n");
}

Test(csv2json, empty_header_field_gets_column_number) {
  pipe_csvj_opts_t o = O();
  csvj_expect(&o, "a,,c,\n1,2,3,4\n", "{\"a\":\"1\",\"2\":\"2\",\"c\":\"3\",\"4\":\"4\"}\n");
}

Test(csv2json, header_keys_are_json_escaped) {
  pipe_csvj_opts_t o = O();
  csvj_expect(&o, "\"we\"\"ird\\\",\"tab\there\"\n1,2\n", "{\"we\\\"ird\\\\\":\"1\",\"tab\\there\":\"2\"}\n");
}

Test(csv2json, header_with_bom_and_crlf) {
  pipe_csvj_opts_t o = O();
  csvj_expect(&o, "\xEF\xBB\xBF\"id\",name\r\n7,x\r\n", "{\"id\":\"7\",\"name\":\"x\"}\n");
}

/* ---- field counts ---- */

Test(csv2json, too_many_fields_is_error) {
  pipe_csvj_opts_t o = O();
  pipe_error_t e;
  const char* in = "a,b,c\n1,2,3\n4,5,6\n1,2,3\n1,2,3\n1,2,3\n1,2,3,4,5\n";
  csvj_expect_error(&o, in, strlen(in), PIPE_EFIELDS, &e);
  cr_assert_str_eq(e.msg, "expected 3 fields, found 5");
  cr_assert_eq(e.line, 7);
  cr_assert_eq(e.record, 6);
  cr_assert_eq(e.column, 4);
}

Test(csv2json, too_few_fields_is_error) {
  pipe_csvj_opts_t o = O();
  pipe_error_t e;
  const char* in = "a,b,c\n1,2,3\n1,2\n";
  csvj_expect_error(&o, in, strlen(in), PIPE_EFIELDS, &e);
  cr_assert_str_eq(e.msg, "expected 3 fields, found 2");
  cr_assert_eq(e.column, 3);
}

Test(csv2json, no_header_first_record_fixes_count) {
  pipe_csvj_opts_t o = O();
  pipe_error_t e;
  o.header = 0;
  csvj_expect_error(&o, "1,2\n3\n", 6, PIPE_EFIELDS, &e);
  cr_assert_str_eq(e.msg, "expected 2 fields, found 1");
}

Test(csv2json, ragged_omits_missing_keys) {
  pipe_csvj_opts_t o = O();
  o.ragged = 1;
  csvj_expect(&o, "a,b,c\n1\n1,2\n", "{\"a\":\"1\"}\n{\"a\":\"1\",\"b\":\"2\"}\n");
}

Test(csv2json, ragged_extra_fields_get_underscore_keys) {
  pipe_csvj_opts_t o = O();
  o.ragged = 1;
  csvj_expect(&o, "a,b,c\n1,2,3,4,5\n", "{\"a\":\"1\",\"b\":\"2\",\"c\":\"3\",\"_4\":\"4\",\"_5\":\"5\"}\n");
}

Test(csv2json, ragged_extra_keys_never_repeat_a_header_name) {
  pipe_csvj_opts_t o = O();
  o.ragged = 1;
  /* The case: header a,_3 and a row of 3 fields. */
  csvj_expect(&o, "a,_3\n1,2,3\n", "{\"a\":\"1\",\"_3\":\"2\",\"_3_2\":\"3\"}\n");
  /* Against names the header dedupe made too, and later rows. */
  csvj_expect(&o, "_3,_3,_4_2\n1,2,3,4,5\n6,7,8,9\n",
              "{\"_3\":\"1\",\"_3_2\":\"2\",\"_4_2\":\"3\",\"_4\":\"4\",\"_5\":\"5\"}\n"
              "{\"_3\":\"6\",\"_3_2\":\"7\",\"_4_2\":\"8\",\"_4\":\"9\"}\n");
  csvj_expect(&o, "a,_4,_4_2\n1,2,3,4\n",
              "{\"a\":\"1\",\"_4\":\"2\",\"_4_2\":\"3\",\"_4_3\":\"4\"}\n");
}

Test(csv2json, ragged_without_header_uses_numbers) {
  pipe_csvj_opts_t o = O();
  o.ragged = 1;
  o.header = 0;
  csvj_expect(&o, "1\n1,2,3\n", "{\"1\":\"1\"}\n{\"1\":\"1\",\"2\":\"2\",\"3\":\"3\"}\n");
}

/* ---- error messages ---- */

Test(csv2json, quote_closing_lines_later_names_where_it_opened) {
  pipe_csvj_opts_t o = O();
  pipe_error_t e;
  /* The case: the quote opened on line 2 closes on line 4. */
  const char* in = "a,b\n1,\"x\n2,3\n4,\"y\"z\n";
  csvj_expect_error(&o, in, strlen(in), PIPE_ECSV, &e);
  cr_assert_eq(e.line, 4);
  cr_assert_eq(e.column, 2);
  cr_assert_str_eq(e.msg, "unexpected character 'y' after closing quote; that "
                          "quoted field opened at line 2, column 2");
}

/* The position is in the error's fields and printed once before the
 * message (FILE:LINE:COL: ...); the message must not say it again. */
Test(csv2json, error_messages_do_not_repeat_the_position) {
  static const struct {
    const char* in;
    int code;
  } cases[] = {
      {"a,b\n1,\xE9t\xE9\n", PIPE_EUTF8},
      {"a,b\n1,x\xED\xA0\x80\n", PIPE_EUTF8},
      {"a,b\n1\n", PIPE_EFIELDS},
      {"a,b\n1,2,3\n", PIPE_EFIELDS},
      {"a,b\n1,\"x\n", PIPE_ECSV},
      {"a,b\n1,\"x\"y\n", PIPE_ECSV},
  };
  size_t i;
  for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
    pipe_csvj_opts_t o = O();
    pipe_error_t e;
    csvj_expect_error(&o, cases[i].in, strlen(cases[i].in), cases[i].code, &e);
    cr_assert_eq(e.line, 2);
    cr_assert(strstr(e.msg, "line") == NULL && strstr(e.msg, "column") == NULL,
              "case %zu repeats the position: %s", i, e.msg);
  }
}

Test(csv2json, latin1_looking_input_gets_an_iconv_hint) {
  static const char* const latin1[] = {
      "a,b\n1,caf\xE9\n",       /* lead byte at the end of a field */
      "a,b\n1,\xE9t\xE9\n",     /* lead byte before ASCII */
      "a,b\n1,\xA9 2024\n",     /* a byte that is no lead at all */
      "a\n\"na\xEF\xEF\"\n",    /* two Latin-1 letters in a row */
  };
  static const char* const broken[] = {
      "a,b\n1,x\xED\xA0\x80\n", /* surrogate: damaged UTF-8, not Latin-1 */
      "a,b\n1,x\xE0\x80\xAF\n", /* overlong */
      "a,b\n\xE2\x82,2\n",      /* a cut 3-byte sequence */
  };
  size_t i;
  for (i = 0; i < sizeof(latin1) / sizeof(latin1[0]); i++) {
    pipe_csvj_opts_t o = O();
    pipe_error_t e;
    csvj_expect_error(&o, latin1[i], strlen(latin1[i]), PIPE_EUTF8, &e);
    cr_assert(strstr(e.msg, "looks like Latin-1: convert it with iconv -f "
                            "latin1 -t utf-8") != NULL,
              "case %zu: %s", i, e.msg);
  }
  for (i = 0; i < sizeof(broken) / sizeof(broken[0]); i++) {
    pipe_csvj_opts_t o = O();
    pipe_error_t e;
    csvj_expect_error(&o, broken[i], strlen(broken[i]), PIPE_EUTF8, &e);
    cr_assert(strstr(e.msg, "Latin-1") == NULL, "case %zu: %s", i, e.msg);
  }
}

/* ---- UTF-8 validation ---- */

static void expect_utf8_error(const char* in, uint64_t line, uint64_t col,
                              uint64_t off) {
  pipe_csvj_opts_t o = O();
  pipe_error_t e;
  csvj_expect_error(&o, in, strlen(in), PIPE_EUTF8, &e);
  cr_assert_eq(e.line, line, "line %llu", (unsigned long long)e.line);
  cr_assert_eq(e.column, col, "column %llu", (unsigned long long)e.column);
  cr_assert_eq(e.offset, off, "offset %llu", (unsigned long long)e.offset);
}

Test(csv2json, invalid_utf8_overlong_is_error) {
  expect_utf8_error("a,b\n1,x\xC0\xAF\n", 2, 2, 7);
  expect_utf8_error("a,b\n1,x\xE0\x80\xAF\n", 2, 2, 7);
}

Test(csv2json, invalid_utf8_surrogate_is_error) {
  expect_utf8_error("a,b\n1,2\n\"\xED\xA0\x80\",2\n", 3, 1, 9);
}

Test(csv2json, invalid_utf8_above_max_is_error) {
  expect_utf8_error("a\n\xF4\x90\x80\x80\n", 2, 1, 2);
  expect_utf8_error("a\n\xF5\x80\x80\x80\n", 2, 1, 2);
}

Test(csv2json, invalid_utf8_stray_continuation_is_error) {
  expect_utf8_error("a,b\n1,ok\x80\n", 2, 2, 8);
}

Test(csv2json, invalid_utf8_truncated_sequence_is_error) {
  expect_utf8_error("a,b\n\xE2\x82,2\n", 2, 1, 4);
  expect_utf8_error("a,b\n1,\xE2\x82", 2, 2, 6); /* at EOF */
  /* lead byte followed by plain ASCII (the streamed-string fast copy must not
   * skip the validator) */
  expect_utf8_error("a,b\n1,x\xC3yz\n", 2, 2, 7);
}

Test(csv2json, invalid_utf8_in_header_is_error) {
  expect_utf8_error("a\xFF,b\n1,2\n", 1, 1, 1);
}

/* ---- size and paths ---- */

Test(csv2json, multi_megabyte_field_streams_through_small_buffers) {
  pipe_csvj_opts_t o = O();
  size_t big = 3 << 20, n = 0, i, cuts[64];
  uint8_t* in = malloc(big + 64);
  csvj_result_t r;
  memcpy(in, "a,b\n\"", 5);
  n = 5;
  for (i = 0; i < big; i++) in[n++] = (i % 1000 == 999) ? '\n' : (uint8_t)('a' + i % 26);
  memcpy(in + n, "\",tail\n", 7);
  n += 7;
  for (i = 0; i < 64; i++) cuts[i] = (i + 1) * (n / 65);
  csvj_convert(&o, -1, in, n, cuts, 64, 4096, &r);
  cr_assert_eq(r.rc, 0, "%s", r.err.msg);
  cr_assert_eq(r.records, 1);
  /* {"a":" + big + big/1000 extra escape bytes + ","b":"tail"}\n */
  cr_assert_eq(r.len, 6 + big + big / 1000 + 14);
  cr_assert(memcmp(r.out + r.len - 14, "\",\"b\":\"tail\"}\n", 14) == 0);
  csvj_result_free(&r);
  free(in);
}

Test(csv2json, scanner_levels_agree_on_long_mixed_input) {
  pipe_csvj_opts_t o = OI();
  uint64_t seed = 42;
  size_t cap = 1 << 16, n = 0, rows, c;
  char* in = malloc(cap);
  n += (size_t)snprintf(in, cap, "id,name,note,v\n");
  for (rows = 0; rows < 300; rows++) {
    uint64_t r = csvj_rand(&seed);
    n += (size_t)snprintf(in + n, cap - n, "%zu,n%llu,", rows, (unsigned long long)(r % 1000));
    switch (r >> 60 & 3) {
      case 0: n += (size_t)snprintf(in + n, cap - n, "\"q,\"\"x\"\"\ny\\\""); break;
      case 1: n += (size_t)snprintf(in + n, cap - n, "caf\xC3\xA9 %llu", (unsigned long long)(r & 0xffff)); break;
      case 2: n += (size_t)snprintf(in + n, cap - n, "\"\""); break;
      default: for (c = 0; c < (r >> 20) % 90; c++) in[n++] = (char)('a' + c % 26); break;
    }
    n += (size_t)snprintf(in + n, cap - n, ",%s\r\n", (r & 1) ? "1.5" : "");
  }
  {
    csvj_result_t ref;
    csvj_convert(&o, PIPE_CSV_SCAN_SCALAR, in, n, NULL, 0, 1 << 20, &ref);
    cr_assert_eq(ref.rc, 0, "%s", ref.err.msg);
    cr_assert_eq(ref.records, 300);
    csvj_expect_n(&o, in, n, ref.out);
    csvj_result_free(&ref);
  }
  free(in);
}

Test(csv2json, output_cap_of_256_always_progresses) {
  pipe_csvj_opts_t o = O();
  /* A long key and a value that needs escaping: neither fits in 256 bytes. */
  char in[2048], *p = in;
  int i;
  for (i = 0; i < 300; i++) *p++ = 'k';
  p += snprintf(p, 8, ",b\n\"");
  for (i = 0; i < 400; i++) *p++ = '\t';
  p += snprintf(p, 8, "\",1\n");
  *p = 0;
  {
    csvj_result_t r;
    csvj_convert(&o, -1, in, strlen(in), NULL, 0, 256, &r);
    cr_assert_eq(r.rc, 0);
    cr_assert_eq(r.len, 2 + 300 + 3 + 800 + 1 + 8 + 2);
    csvj_result_free(&r);
  }
}

Test(csv2json, errors_are_sticky_and_feed_after_error_consumes_nothing) {
  pipe_csvj_opts_t o = O();
  pipe_csvj_t* cj;
  uint8_t out[512];
  size_t c, p;
  cr_assert_eq(pipe__csvj_new(&o, &cj), 0);
  cr_assert_eq(pipe__csvj_feed(cj, (const uint8_t*)"a\n\"x\"y\n", 8, &c, out, sizeof(out), &p), PIPE_ECSV);
  cr_assert_eq(pipe__csvj_error(cj)->code, PIPE_ECSV);
  cr_assert_eq(pipe__csvj_finish(cj, out, sizeof(out), &p), PIPE_ECSV);
  cr_assert_eq(p, 0);
  pipe__csvj_free(cj);
}

Test(csv2json, finish_reports_full_and_resumes) {
  pipe_csvj_opts_t o = OI();
  pipe_csvj_t* cj;
  uint8_t out[8192];
  size_t c, p, total = 0, calls = 0;
  char in[1024];
  int i, r;
  for (i = 0; i < 600; i++) in[i] = 'h';
  in[600] = '\n';
  for (i = 0; i < 50; i++) in[601 + i] = 'v';
  cr_assert_eq(pipe__csvj_new(&o, &cj), 0);
  /* The last field has no end yet: with infer it waits in the converter. */
  cr_assert_eq(pipe__csvj_feed(cj, (const uint8_t*)in, 651, &c, out, 256, &p), 0);
  cr_assert_eq(c, 651);
  cr_assert_eq(p, 0);
  do {
    r = pipe__csvj_finish(cj, out + total, 256, &p);
    total += p;
    calls++;
  } while (r == PIPE_FULL);
  cr_assert_eq(r, 0);
  cr_assert_geq(calls, 3);
  cr_assert_eq(total, 2 + 600 + 3 + 50 + 3);
  cr_assert(memcmp(out + total - 5, "vv\"}\n", 5) == 0);
  cr_assert_eq(pipe__csvj_records(cj), 1);
  pipe__csvj_free(cj);
}

/* ---- limits: width is bounded, length is not ---- */

/* n fields "x" joined by commas, then a newline; malloc'd. */
static char* wide_row(size_t n, size_t* len) {
  char* s = malloc(2 * n + 1);
  size_t i;
  for (i = 0; i < n; i++) {
    s[2 * i] = 'x';
    s[2 * i + 1] = ',';
  }
  s[2 * n - 1] = '\n';
  s[2 * n] = 0;
  *len = 2 * n;
  return s;
}

Test(csv2json, a_record_wider_than_65536_fields_is_a_limit_error) {
  pipe_csvj_opts_t o = O();
  csvj_result_t res;
  size_t n, split;
  char* body = wide_row(65537, &n);
  char* in = malloc(n + 8);
  memcpy(in, "a\n", 2); /* header of one column, then a ragged wide row */
  memcpy(in + 2, body, n);
  o.ragged = 1;
  split = 70000; /* also across a feed boundary */
  csvj_convert(&o, -1, in, n + 2, &split, 1, 65536, &res);
  cr_assert_eq(res.err.code, PIPE_ELIMIT, "got %d", res.err.code);
  cr_assert_eq(res.err.line, 2);
  cr_assert_eq(res.err.column, 65537);
  cr_assert(strstr(res.err.msg, "more than 65536 fields") != NULL, "%s", res.err.msg);
  csvj_result_free(&res);
  free(in);
  free(body);
}

Test(csv2json, a_header_of_65536_fields_is_accepted_one_more_is_not) {
  pipe_csvj_opts_t o = O();
  csvj_result_t res;
  size_t n;
  char* in = wide_row(65536, &n);
  csvj_convert(&o, -1, in, n, NULL, 0, 65536, &res);
  cr_assert_eq(res.err.code, 0, "%s", res.err.msg);
  csvj_result_free(&res);
  free(in);
  in = wide_row(65537, &n);
  csvj_convert(&o, -1, in, n, NULL, 0, 65536, &res);
  cr_assert_eq(res.err.code, PIPE_ELIMIT);
  cr_assert_eq(res.err.line, 1);
  csvj_result_free(&res);
  free(in);
}

Test(csv2json, a_header_row_over_1_mib_is_a_limit_error) {
  pipe_csvj_opts_t o = O();
  csvj_result_t res;
  size_t n = (1u << 20) + 10;
  char* in = malloc(n);
  memset(in, 'k', n - 1);
  in[n - 1] = '\n';
  csvj_convert(&o, -1, in, n, NULL, 0, 65536, &res);
  cr_assert_eq(res.err.code, PIPE_ELIMIT, "got %d", res.err.code);
  cr_assert(strstr(res.err.msg, "header row is longer") != NULL, "%s", res.err.msg);
  csvj_result_free(&res);
  free(in);
}
