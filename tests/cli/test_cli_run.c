/* The real binary: `pipe run` specs a user gets wrong, digests and their
 * labels checked back with the system's sha256sum -c, option errors that
 * name the wrong word, and option ranges refused by the spec. */
#include <criterion/criterion.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "support/cli_exec.h"

#define RUN(cmd) cli_exec((cmd), NULL)
/* A small CSV in $d/s.csv, and the shell in $d. */
#define MKDATA "d=$(mktemp -d); cd $d; printf 'a,b\\n1,x\\n2,y\\n' > s.csv; "

Test(cli_run, a_stage_name_as_the_sink_is_a_forgotten_sink) {
  cli_result_t r = RUN(MKDATA "\"$PIPE\" run 's.csv | gzip'; echo \"rc=$?\"; ls; "
                       "rm -rf $d");
  cr_assert_not_null(strstr(r.out, "rc=2\n"), "%s / %s", r.out, r.err);
  cr_assert_null(strstr(r.out, "gzip"), "no file named gzip: %s", r.out);
  cr_assert_not_null(strstr(r.err, "missing sink?"), "%s", r.err);
  cr_assert_not_null(strstr(r.err, "        ^~~~"), "caret under gzip: %s",
                     r.err);
  cli_result_free(&r);
}

Test(cli_run, dot_slash_still_names_a_file_called_like_a_stage) {
  cli_result_t r = RUN(MKDATA "\"$PIPE\" run 's.csv | gzip | ./gzip' && "
                       "gzip -dc gzip | cmp - s.csv && echo same; rm -rf $d");
  cr_assert_eq(r.status, 0, "%s", r.err);
  cr_assert_str_eq(r.out, "same\n");
  cli_result_free(&r);
}

Test(cli_run, a_hash_after_the_source_labels_the_input_and_sha256sum_checks_it) {
  cli_result_t r = RUN(MKDATA "\"$PIPE\" run 's.csv | hash | csv2json | o.json' "
                       "2> sums && cat sums && sha256sum -c sums; echo \"rc=$?\"; "
                       "rm -rf $d");
  cr_assert_not_null(strstr(r.out, "SHA256 (s.csv) = "), "%s / %s", r.out,
                     r.err);
  cr_assert_not_null(strstr(r.out, "s.csv: OK\n"), "%s / %s", r.out, r.err);
  cr_assert_not_null(strstr(r.out, "rc=0\n"), "%s / %s", r.out, r.err);
  cli_result_free(&r);
}

Test(cli_run, a_hash_before_the_sink_and_checksum_label_the_output) {
  cli_result_t r = RUN(MKDATA "\"$PIPE\" run 's.csv | csv2json | hash md5 | o.json' "
                       "2> sums && \"$PIPE\" run --checksum sha256 "
                       "'s.csv | csv2json | gzip | o.gz' 2>> sums && cat sums && "
                       "md5sum -c sums 2>/dev/null | grep OK; "
                       "sha256sum -c sums 2>/dev/null | grep OK; rm -rf $d");
  cr_assert_not_null(strstr(r.out, "MD5 (o.json) = "), "%s / %s", r.out, r.err);
  cr_assert_not_null(strstr(r.out, "SHA256 (o.gz) = "), "%s / %s", r.out, r.err);
  cr_assert_not_null(strstr(r.out, "o.json: OK\n"), "%s", r.out);
  cr_assert_not_null(strstr(r.out, "o.gz: OK\n"), "%s", r.out);
  cli_result_free(&r);
}

Test(cli_run, a_hash_between_transforms_says_how_its_bytes_were_made) {
  /* No file holds the JSON before gzip: the label names the stages that
   * made the bytes, and the digest is theirs. */
  cli_result_t r = RUN(MKDATA "\"$PIPE\" run 's.csv | csv2json | hash | gzip | o.gz' "
                       "2> sums; cat sums; echo \"SHA256 (s.csv | csv2json) = "
                       "$(gzip -dc o.gz | sha256sum | cut -d' ' -f1)\" | cmp - sums "
                       "&& echo same; rm -rf $d");
  cr_assert_not_null(strstr(r.out, "same\n"), "%s / %s", r.out, r.err);
  cli_result_free(&r);
}

Test(cli_run, checksum_of_a_name_with_a_newline_or_backslash_is_escaped_as_coreutils_does) {
  /* The line must be exactly what `sha256sum --tag NAME` prints, and
   * `sha256sum -c` must read it back. */
  cli_result_t r = RUN(MKDATA "n=\"$(printf 'a\\nb.json')\"; m='c\\d.json'; "
                       "q=\"$(printf 'e\\rf.json')\"; "
                       "for o in \"$n\" \"$m\" \"$q\"; do "
                       "\"$PIPE\" csv2json s.csv -o \"$o\" --checksum sha256 2>> sums || echo fail; "
                       "sha256sum --tag \"$o\" >> want; done; "
                       "cmp sums want && sha256sum -c sums >/dev/null && echo ok; "
                       "cat -A sums; rm -rf $d");
  cr_assert_not_null(strstr(r.out, "ok\n"), "%s / %s", r.out, r.err);
  cr_assert_not_null(strstr(r.out, "\\SHA256 (a\\nb.json) = "), "%s", r.out);
  cr_assert_not_null(strstr(r.out, "\\SHA256 (c\\\\d.json) = "), "%s", r.out);
  cr_assert_null(strstr(r.out, "fail"), "%s", r.err);
  cli_result_free(&r);
}

Test(cli_run, an_unknown_short_option_names_the_word_it_is_in) {
  cli_result_t r = RUN(MKDATA "\"$PIPE\" csv2json --infer -zz s.csv; echo \"rc=$?\"; "
                       "rm -rf $d");
  cr_assert_not_null(strstr(r.out, "rc=2\n"), "%s", r.out);
  cr_assert_not_null(strstr(r.err, "'-zz'"), "%s", r.err);
  cr_assert_null(strstr(r.err, "--infer"), "blames --infer: %s", r.err);
  cli_result_free(&r);
}

Test(cli_run, an_out_of_range_option_is_refused_by_the_spec_with_a_caret) {
  cli_result_t r = RUN(MKDATA "\"$PIPE\" run 's.csv | gzip --block-size 128M | o.gz'; "
                       "echo \"rc=$?\"; \"$PIPE\" gzip --block-size 128M s.csv "
                       "> o2.gz; echo \"rc=$?\"; ls; rm -rf $d");
  cr_assert_not_null(strstr(r.out, "rc=2\nrc=2\n"), "%s / %s", r.out, r.err);
  cr_assert_not_null(strstr(r.err, "block size must be 1K..64M"), "%s", r.err);
  cr_assert_not_null(strstr(r.err, "                      ^~~~\n"), "%s", r.err);
  cr_assert_null(strstr(r.out, "o.gz\n"), "no output file: %s", r.out);
  cli_result_free(&r);
}
