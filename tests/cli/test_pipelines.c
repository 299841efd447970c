/* The example programs in pipelines/, built on the public headers only. */
#include <criterion/criterion.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "support/cli_exec.h"

Test(pipelines, etl_drop_empty_drops_records_with_an_empty_column) {
  cli_result_t r = cli_exec(
      "d=$(mktemp -d); printf 'id,email,name\\n1,a@x,Ann\\n2,,Bob\\n"
      "3,\"c@y\",\"Cy \"\"q\"\"\"\\n4,,\\n5,\"\",quoted empty\\n' > $d/in.csv; " PIPE_BUILD_DIR
      "/pipelines/etl_drop_empty $d/in.csv $d/out.json email && cat $d/out.json; rm -rf $d",
      NULL);
  cr_assert_eq(r.status, 0, "%s", r.err);
  cr_assert_str_eq(r.out,
                   "{\"id\":\"1\",\"email\":\"a@x\",\"name\":\"Ann\"}\n"
                   "{\"id\":\"3\",\"email\":\"c@y\",\"name\":\"Cy \\\"q\\\"\"}\n");
  cr_assert(strstr(r.err, "dropped 3 records") != NULL, "%s", r.err);
  cli_result_free(&r);
}

Test(pipelines, etl_drop_empty_streams_a_large_input_in_pieces) {
  /* 200k records over many 64 KiB buffers: lines split across buffers must
   * be joined; every even record has an empty email and is dropped. */
  cli_result_t r = cli_exec(
      "d=$(mktemp -d); awk 'BEGIN{print \"id,email\"; for(i=0;i<200000;i++) "
      "print i\",\"(i%2?\"x\"i\"@example.com\":\"\")}' > $d/in.csv; " PIPE_BUILD_DIR
      "/pipelines/etl_drop_empty $d/in.csv $d/out.json email && wc -l < $d/out.json "
      "&& grep -c '\"email\":\"\"' $d/out.json; rm -rf $d",
      NULL);
  cr_assert_str_eq(r.out, "100000\n0\n", "got %s / %s", r.out, r.err);
  cli_result_free(&r);
}

Test(pipelines, hello_world_reports_a_missing_input) {
  cli_result_t r = cli_exec(PIPE_BUILD_DIR "/pipelines/hello_csv2json /nonexistent.csv /tmp/x.json", NULL);
  cr_assert_eq(r.status, 1);
  cr_assert(strstr(r.err, "/nonexistent.csv") != NULL, "%s", r.err);
  cli_result_free(&r);
}

/* The shell recipes in pipelines/recipes, on a path with blanks and quotes. */
#define RECIPES "PIPE_BIN=\"$PIPE\"; export PIPE_BIN; R=" PIPE_SOURCE_DIR "/pipelines/recipes; "

Test(pipelines, recipe_csv_to_ndjson_gz_matches_csv2json) {
  cli_result_t r = cli_exec(RECIPES "d=$(mktemp -d); f=\"$d/a \\\"b\\\" c.csv\"; "
                            "printf 'x,y\\n1,\"2\"\\n' > \"$f\"; "
                            "$R/csv-to-ndjson-gz \"$f\" \"$d/o.json.gz\" --infer 2> $d/err && "
                            "gzip -dc $d/o.json.gz && grep -c '^SHA256 (' $d/err; rm -rf $d",
                            NULL);
  cr_assert_eq(r.status, 0, "%s", r.err);
  cr_assert_str_eq(r.out, "{\"x\":1,\"y\":\"2\"}\n1\n", "%s", r.err);
  cli_result_free(&r);
}

Test(pipelines, recipes_gzip_gunzip_and_checksum_round_trip) {
  cli_result_t r = cli_exec(RECIPES "d=$(mktemp -d); f=\"$d/my file\"; seq 1 100000 > \"$f\"; "
                            "cp \"$f\" $d/orig; $R/gzip-file \"$f\" 9 && gzip -t \"$f.gz\" && rm \"$f\" && "
                            "$R/gunzip-file \"$f.gz\" && cmp \"$f\" $d/orig && "
                            "$R/checksum \"$f\" md5 | sed 's/.*= //'; md5sum < $d/orig | cut -d' ' -f1; rm -rf $d",
                            NULL);
  char a[64], b[64];
  cr_assert_eq(sscanf(r.out, "%63s %63s", a, b), 2, "%s / %s", r.out, r.err);
  cr_assert_str_eq(a, b);
  cli_result_free(&r);
}
