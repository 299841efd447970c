/* The real `pipe` binary, run through sh: exit codes, messages, files. */
#include <criterion/criterion.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "support/cli_exec.h"

#define RUN(cmd, in) cli_exec((cmd), (in))

Test(cli, version_prints_version_and_exits_0) {
  cli_result_t r = RUN("\"$PIPE\" --version", NULL);
  cr_assert_eq(r.status, 0);
  cr_assert(strncmp(r.out, "pipe ", 5) == 0, "got %s", r.out);
  cli_result_free(&r);
}

Test(cli, help_lists_commands_and_exit_codes) {
  cli_result_t r = RUN("\"$PIPE\" --help", NULL);
  cr_assert_eq(r.status, 0);
  cr_assert(strstr(r.out, "csv2json") != NULL);
  cr_assert(strstr(r.out, "exit status") != NULL);
  cli_result_free(&r);
}

Test(cli, help_command_shows_options) {
  cli_result_t r = RUN("\"$PIPE\" help csv2json", NULL);
  cr_assert_eq(r.status, 0);
  cr_assert(strstr(r.out, "--delimiter") != NULL);
  cr_assert(strstr(r.out, "--ragged") != NULL);
  cli_result_free(&r);
}

Test(cli, no_arguments_is_usage_error_2) {
  cli_result_t r = RUN("\"$PIPE\"", NULL);
  cr_assert_eq(r.status, 2);
  cli_result_free(&r);
}

Test(cli, unknown_command_is_usage_error_2) {
  cli_result_t r = RUN("\"$PIPE\" frobnicate", NULL);
  cr_assert_eq(r.status, 2);
  cr_assert(strstr(r.err, "unknown command 'frobnicate'") != NULL, "%s", r.err);
  cli_result_free(&r);
}

Test(cli, unknown_option_is_usage_error_2) {
  cli_result_t r = RUN("\"$PIPE\" csv2json --frob x.csv", NULL);
  cr_assert_eq(r.status, 2);
  cr_assert(strstr(r.err, "--frob") != NULL, "%s", r.err);
  cli_result_free(&r);
}

Test(cli, bad_delimiter_is_usage_error_2) {
  cli_result_t r = RUN("\"$PIPE\" csv2json -d ab", "a\n");
  cr_assert_eq(r.status, 2);
  cr_assert(strstr(r.err, "delimiter") != NULL, "%s", r.err);
  cli_result_free(&r);
}

Test(cli, converts_stdin_to_ndjson) {
  cli_result_t r = RUN("\"$PIPE\" csv2json", "a,b\n1,x\n2,\"y,z\"\n");
  cr_assert_eq(r.status, 0, "stderr: %s", r.err);
  cr_assert_str_eq(r.out, "{\"a\":\"1\",\"b\":\"x\"}\n{\"a\":\"2\",\"b\":\"y,z\"}\n");
  cli_result_free(&r);
}

Test(cli, dash_means_stdin_and_stdout) {
  cli_result_t r = RUN("\"$PIPE\" csv2json - -o -", "k\nv\n");
  cr_assert_eq(r.status, 0, "stderr: %s", r.err);
  cr_assert_str_eq(r.out, "{\"k\":\"v\"}\n");
  cli_result_free(&r);
}

Test(cli, converts_the_shipped_sample) {
  cli_result_t r = RUN("\"$PIPE\" csv2json " PIPE_SOURCE_DIR "/examples/sample.csv", NULL);
  cr_assert_eq(r.status, 0, "stderr: %s", r.err);
  cr_assert(strstr(r.out, "\"note\":\"Wrote the first \\\"program\\\"\"") != NULL, "%s", r.out);
  cr_assert(strstr(r.out, "\"note\":\"Compilers, bugs and\\nnanoseconds\"") != NULL, "%s", r.out);
  cr_assert(strstr(r.out, "\"name\":\"Zoë Ångström\"") != NULL);
  cr_assert(strstr(r.out, "\"price\":\"00123\"") != NULL);
  cli_result_free(&r);
}

Test(cli, infer_and_array_options) {
  cli_result_t r = RUN("\"$PIPE\" csv2json --infer --array", "n,b,e\n1.5,true,\n");
  cr_assert_eq(r.status, 0, "stderr: %s", r.err);
  cr_assert_str_eq(r.out, "[\n{\"n\":1.5,\"b\":true,\"e\":null}\n]\n");
  cli_result_free(&r);
}

Test(cli, tab_delimiter_by_escape) {
  cli_result_t r = RUN("\"$PIPE\" csv2json -d '\\t'", "a\tb\n1\t2\n");
  cr_assert_eq(r.status, 0, "stderr: %s", r.err);
  cr_assert_str_eq(r.out, "{\"a\":\"1\",\"b\":\"2\"}\n");
  cli_result_free(&r);
}

Test(cli, output_file_is_written) {
  char* dir = cli_tmpdir();
  char cmd[512], path[300];
  cli_result_t r;
  char* got;
  snprintf(path, sizeof(path), "%s/out.json", dir);
  snprintf(cmd, sizeof(cmd), "\"$PIPE\" csv2json -o '%s'", path);
  r = RUN(cmd, "a\n1\n");
  cr_assert_eq(r.status, 0, "stderr: %s", r.err);
  got = cli_read_file(path, NULL);
  cr_assert_not_null(got);
  cr_assert_str_eq(got, "{\"a\":\"1\"}\n");
  cr_assert_eq(cli_count_entries(dir), 1, "no temp file left behind");
  free(got);
  cli_rmtree(dir);
  free(dir);
  cli_result_free(&r);
}

Test(cli, malformed_csv_exits_1_names_line_and_leaves_no_output) {
  char* dir = cli_tmpdir();
  char cmd[512], path[300];
  cli_result_t r;
  struct stat st;
  snprintf(path, sizeof(path), "%s/out.json", dir);
  snprintf(cmd, sizeof(cmd), "\"$PIPE\" csv2json -o '%s'", path);
  r = RUN(cmd, "a,b\n1,2\n3,4\n5,\"open\n");
  cr_assert_eq(r.status, 1, "stderr: %s", r.err);
  cr_assert(strstr(r.err, "<stdin>:4:") != NULL, "message names line 4: %s", r.err);
  cr_assert_neq(stat(path, &st), 0, "no output file on failure");
  cr_assert_eq(cli_count_entries(dir), 0, "no temp file left behind");
  cli_rmtree(dir);
  free(dir);
  cli_result_free(&r);
}

Test(cli, failed_run_leaves_existing_output_untouched) {
  char* dir = cli_tmpdir();
  char cmd[512], path[300];
  cli_result_t r;
  char* got;
  snprintf(path, sizeof(path), "%s/out.json", dir);
  cli_write_file(path, "precious\n", 9);
  snprintf(cmd, sizeof(cmd), "\"$PIPE\" csv2json -o '%s'", path);
  r = RUN(cmd, "a,b\n1,2,3\n");
  cr_assert_eq(r.status, 1, "stderr: %s", r.err);
  got = cli_read_file(path, NULL);
  cr_assert_str_eq(got, "precious\n");
  cr_assert_eq(cli_count_entries(dir), 1);
  free(got);
  cli_rmtree(dir);
  free(dir);
  cli_result_free(&r);
}

Test(cli, field_count_error_names_line) {
  cli_result_t r = RUN("\"$PIPE\" csv2json", "a,b\n1,2\n1,2,3\n");
  cr_assert_eq(r.status, 1);
  cr_assert(strstr(r.err, ":3:") != NULL, "%s", r.err);
  cli_result_free(&r);
}

Test(cli, missing_input_exits_3_naming_the_file) {
  cli_result_t r = RUN("\"$PIPE\" csv2json /nonexistent/in.csv", NULL);
  cr_assert_eq(r.status, 3);
  cr_assert(strstr(r.err, "/nonexistent/in.csv") != NULL, "%s", r.err);
  cli_result_free(&r);
}

Test(cli, unwritable_output_exits_3) {
  cli_result_t r = RUN("\"$PIPE\" csv2json -o /nonexistent/dir/out.json", "a\n1\n");
  cr_assert_eq(r.status, 3, "stderr: %s", r.err);
  cli_result_free(&r);
}

Test(cli, closed_stdout_reader_ends_quietly_with_0) {
  /* 200k records; head takes one line and closes the pipe. PIPESTATUS
   * needs bash; with sh we save pipe's status through a file. */
  cli_result_t r = RUN(
      "f=$(mktemp); awk 'BEGIN{print \"a,b\"; for(i=0;i<200000;i++) print i\",x\"}' > $f;"
      "{ \"$PIPE\" csv2json $f; echo $? > $f.st; } | head -n 1; cat $f.st; rm -f $f $f.st",
      NULL);
  cr_assert_eq(r.status, 0);
  cr_assert_str_eq(r.out, "{\"a\":\"0\",\"b\":\"x\"}\n0\n", "got %s / %s", r.out, r.err);
  cr_assert_str_eq(r.err, "");
  cli_result_free(&r);
}

Test(cli, file_and_stdin_give_identical_output_on_a_large_input) {
  cli_result_t a = RUN(
      "f=$(mktemp); awk 'BEGIN{print \"id,t\"; for(i=0;i<300000;i++) print i\",\\\"q\\\"\\\"\\\"\"}' > $f;"
      "\"$PIPE\" csv2json $f | md5sum; \"$PIPE\" csv2json < $f | md5sum; "
      "cat $f | \"$PIPE\" csv2json | md5sum; rm -f $f",
      NULL);
  char l1[64], l2[64], l3[64];
  cr_assert_eq(a.status, 0, "%s", a.err);
  cr_assert_eq(sscanf(a.out, "%63s %*s %63s %*s %63s", l1, l2, l3), 3, "%s", a.out);
  cr_assert_str_eq(l1, l2);
  cr_assert_str_eq(l1, l3);
  cli_result_free(&a);
}

Test(cli, library_hello_world_from_readme_converts_a_file) {
  cli_result_t r = RUN("d=$(mktemp -d); printf 'a,b\\n1,2\\n' > $d/in.csv; "
                       PIPE_BUILD_DIR "/pipelines/hello_csv2json $d/in.csv $d/out.json && "
                       "cat $d/out.json; rm -rf $d", NULL);
  cr_assert_eq(r.status, 0, "%s", r.err);
  cr_assert_str_eq(r.out, "{\"a\":\"1\",\"b\":\"2\"}\n");
  cli_result_free(&r);
}

Test(cli, output_to_a_device_or_fifo_is_written_in_place) {
  /* /dev/null must stay a device (no temp file + rename in /dev), and a
   * FIFO is written to, not replaced. */
  cli_result_t r = RUN(
      "d=$(mktemp -d); mkfifo $d/fifo; (cat $d/fifo > $d/got &) ; "
      "\"$PIPE\" csv2json -o /dev/null && test -c /dev/null && "
      "printf 'a\\n1\\n' | \"$PIPE\" csv2json -o $d/fifo && sleep 0.2 && "
      "test -p $d/fifo && cat $d/got; rm -rf $d",
      "a\n1\n");
  cr_assert_eq(r.status, 0, "%s", r.err);
  cr_assert_str_eq(r.out, "{\"a\":\"1\"}\n");
  cli_result_free(&r);
}

Test(cli, sigint_exits_130_and_leaves_no_output) {
  /* stdin stays open (a sleeping writer), so the run is mid-way when the
   * signal arrives: the temp file must go and the target must not appear. */
  cli_result_t r = RUN(
      "d=$(mktemp -d); (printf 'a,b\\n1,2\\n'; sleep 5) | "
      "\"$PIPE\" csv2json -o $d/out.json & pid=$!; sleep 0.5; "
      "kill -INT $pid; wait $pid; "
      "echo \"rc=$?\"; ls -A $d; rm -rf $d",
      NULL);
  cr_assert_str_eq(r.out, "rc=130\n", "got %s / %s", r.out, r.err);
  cr_assert(strstr(r.err, "interrupted") != NULL, "%s", r.err);
  cli_result_free(&r);
}

Test(cli, a_header_row_over_the_limit_exits_1) {
  cli_result_t r = RUN("head -c 1100000 /dev/zero | tr '\\0' k | \"$PIPE\" csv2json", NULL);
  cr_assert_eq(r.status, 1, "%s", r.err);
  cr_assert(strstr(r.err, "header row is longer") != NULL, "%s", r.err);
  cli_result_free(&r);
}
