/* The real binary: gzip, gunzip, run and --checksum, cross-checked with the
 * system's gzip, pigz, sha256sum and md5sum. */
#include <criterion/criterion.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "support/cli_exec.h"

#define RUN(cmd) cli_exec((cmd), NULL)
/* A 3 MB CSV with quotes and newlines in fields, in $d/in.csv. */
#define MKDATA                                                               \
  "d=$(mktemp -d); awk 'BEGIN{print \"id,name,note\"; for(i=0;i<60000;i++) " \
  "printf \"%d,n%d,\\\"x, \\\"\\\"q\\\"\\\"\\ny\\\"\\n\", i, i*7}' > $d/in.csv; "

Test(cli_gzip, gzip_output_is_read_back_by_gzip_and_pigz) {
  cli_result_t r = RUN(MKDATA "\"$PIPE\" gzip $d/in.csv -o $d/in.csv.gz && gzip -t $d/in.csv.gz && "
                       "gzip -dc $d/in.csv.gz | cmp - $d/in.csv && pigz -dc $d/in.csv.gz | "
                       "cmp - $d/in.csv && echo same; rm -rf $d");
  cr_assert_eq(r.status, 0, "%s", r.err);
  cr_assert_str_eq(r.out, "same\n");
  cli_result_free(&r);
}

Test(cli_gzip, gunzip_reads_gzip_and_pigz_output) {
  cli_result_t r = RUN(MKDATA "gzip -c $d/in.csv > $d/a.gz && pigz -c $d/in.csv > $d/b.gz && "
                       "\"$PIPE\" gunzip $d/a.gz | cmp - $d/in.csv && "
                       "\"$PIPE\" gunzip < $d/b.gz | cmp - $d/in.csv && "
                       "cat $d/a.gz $d/b.gz | \"$PIPE\" gunzip | cmp - $d/two 2>/dev/null; "
                       "cat $d/in.csv $d/in.csv > $d/two; "
                       "cat $d/a.gz $d/b.gz | \"$PIPE\" gunzip | cmp - $d/two && echo same; rm -rf $d");
  cr_assert_eq(r.status, 0, "%s", r.err);
  cr_assert(strstr(r.out, "same\n") != NULL, "%s %s", r.out, r.err);
  cli_result_free(&r);
}

Test(cli_gzip, every_level_round_trips) {
  cli_result_t r = RUN(MKDATA "for l in 1 2 3 4 5 6 7 8 9; do \"$PIPE\" gzip -$l < $d/in.csv | "
                       "gzip -dc | cmp - $d/in.csv || echo bad $l; done; echo done; rm -rf $d");
  cr_assert_str_eq(r.out, "done\n", "%s", r.err);
  cli_result_free(&r);
}

Test(cli_gzip, truncated_input_exits_1_with_the_offset) {
  cli_result_t r = RUN(MKDATA "gzip -c $d/in.csv | head -c 5000 > $d/t.gz; "
                       "\"$PIPE\" gunzip $d/t.gz -o $d/out; echo \"rc=$?\"; ls $d; rm -rf $d");
  cr_assert(strstr(r.out, "rc=1\n") != NULL, "%s", r.out);
  cr_assert(strstr(r.out, "out") == NULL, "no output file: %s", r.out);
  cr_assert(strstr(r.err, "5000") != NULL, "names the offset: %s", r.err);
  cli_result_free(&r);
}

Test(cli_gzip, trailing_garbage_is_an_error) {
  cli_result_t r = RUN("printf 'hello' | gzip -c > /tmp/tg.$$.gz; printf 'junk' >> /tmp/tg.$$.gz; "
                       "\"$PIPE\" gunzip /tmp/tg.$$.gz; echo \"rc=$?\"; rm -f /tmp/tg.$$.gz");
  cr_assert(strstr(r.out, "rc=1\n") != NULL, "%s / %s", r.out, r.err);
  cr_assert(strstr(r.err, "trailing") != NULL, "%s", r.err);
  cli_result_free(&r);
}

Test(cli_gzip, checksum_matches_sha256sum_and_md5sum_of_the_output) {
  cli_result_t r = RUN(MKDATA "\"$PIPE\" gzip $d/in.csv -o $d/o.gz --checksum sha256 2> $d/err && "
                       "echo \"SHA256 ($d/o.gz) = $(sha256sum < $d/o.gz | cut -d' ' -f1)\" | cmp - $d/err && "
                       "\"$PIPE\" csv2json $d/in.csv --checksum md5 2> $d/err2 > $d/o.json && "
                       "echo \"MD5 (-) = $(md5sum < $d/o.json | cut -d' ' -f1)\" | cmp - $d/err2 && echo ok; rm -rf $d");
  cr_assert_str_eq(r.out, "ok\n", "%s", r.err);
  cli_result_free(&r);
}

Test(cli_gzip, unknown_checksum_is_usage_error) {
  cli_result_t r = RUN("\"$PIPE\" gzip --checksum sha3 < /dev/null");
  cr_assert_eq(r.status, 2);
  cr_assert(strstr(r.err, "sha3") != NULL, "%s", r.err);
  cli_result_free(&r);
}

Test(cli_gzip, csv2json_output_ending_in_gz_is_compressed) {
  cli_result_t r = RUN(MKDATA "\"$PIPE\" csv2json $d/in.csv -o $d/o.json.gz && gzip -t $d/o.json.gz && "
                       "\"$PIPE\" csv2json $d/in.csv > $d/o.json && gzip -dc $d/o.json.gz | cmp - $d/o.json "
                       "&& echo ok; rm -rf $d");
  cr_assert_str_eq(r.out, "ok\n", "%s", r.err);
  cli_result_free(&r);
}

Test(cli_gzip, bad_level_is_usage_error) {
  cli_result_t r = RUN("\"$PIPE\" gzip --level 10 < /dev/null");
  cr_assert_eq(r.status, 2, "%s", r.err);
  cli_result_free(&r);
}

Test(cli_run, full_pipeline_matches_the_commands_it_is_made_of) {
  cli_result_t r = RUN(MKDATA "\"$PIPE\" run \"$d/in.csv | csv2json --infer | gzip -9 | $d/o.json.gz\" && "
                       "\"$PIPE\" csv2json --infer $d/in.csv > $d/o.json && "
                       "gzip -dc $d/o.json.gz | cmp - $d/o.json && echo ok; rm -rf $d");
  cr_assert_eq(r.status, 0, "%s", r.err);
  cr_assert_str_eq(r.out, "ok\n", "%s", r.err);
  cli_result_free(&r);
}

Test(cli_run, stdin_to_stdout_with_gunzip_and_hash) {
  cli_result_t r = cli_exec("\"$PIPE\" run '- | gzip | gunzip | hash md5 | -'", "a,b\n1,2\n");
  cr_assert_eq(r.status, 0, "%s", r.err);
  cr_assert_str_eq(r.out, "a,b\n1,2\n");
  /* md5 of "a,b\n1,2\n" */
  cr_assert(strstr(r.err, "MD5 (-) = ") != NULL, "%s", r.err);
  cli_result_free(&r);
}

Test(cli_run, checksum_option_hashes_what_reaches_the_sink) {
  cli_result_t r = cli_exec("\"$PIPE\" run --checksum sha256 '- | csv2json | -' 2>&1 >/dev/null | "
                            "sed 's/.*= //'; printf '{\"a\":\"1\"}\\n' | sha256sum | cut -d' ' -f1",
                            "a\n1\n");
  char got[80], want[80];
  cr_assert_eq(sscanf(r.out, "%79s %79s", got, want), 2, "%s", r.out);
  cr_assert_str_eq(got, want);
  cli_result_free(&r);
}

Test(cli_run, spec_error_points_at_the_word_and_exits_2) {
  cli_result_t r = RUN("\"$PIPE\" run 'in.csv | csv2json --frob | out.json'");
  cr_assert_eq(r.status, 2);
  cr_assert(strstr(r.err, "--frob") != NULL, "%s", r.err);
  /* the caret line sits under --frob: column 19 */
  cr_assert(strstr(r.err, "\n                  ^~~~~~") != NULL, "%s", r.err);
  cli_result_free(&r);
}

Test(cli_run, missing_spec_is_usage_error) {
  cli_result_t r = RUN("\"$PIPE\" run");
  cr_assert_eq(r.status, 2);
  cli_result_free(&r);
}

Test(cli_run, bad_data_in_a_run_exits_1_and_leaves_no_output) {
  cli_result_t r = RUN("d=$(mktemp -d); printf 'a,b\\n1,2,3\\n' > $d/in.csv; "
                       "\"$PIPE\" run \"$d/in.csv | csv2json | gzip | $d/o.gz\"; echo \"rc=$?\"; ls $d; rm -rf $d");
  cr_assert_str_eq(r.out, "rc=1\nin.csv\n", "%s", r.err);
  cli_result_free(&r);
}
