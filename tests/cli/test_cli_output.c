/* `-o OUT` as a user meets it: devices and fd links written in place, a
 * reader that leaves is not an error, the input is never overwritten,
 * odd names get a clear answer. The real binary, through sh. */
#include <criterion/criterion.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "support/cli_exec.h"

#define RUN(cmd, in) cli_exec((cmd), (in))

/* A 300,000-record CSV in $f, removed by the command's end. */
#define BIG_CSV \
  "f=$(mktemp); awk 'BEGIN{print \"a,b\"; for(i=0;i<300000;i++) print i\",x\"}' > $f; "

Test(cli_output, dev_stdout_into_head_exits_0_as_dash_does) {
  cli_result_t r = RUN(BIG_CSV
      "{ \"$PIPE\" csv2json $f -o /dev/stdout; echo $? > $f.st; } | head -n 1; "
      "cat $f.st; rm -f $f $f.st",
      NULL);
  cr_assert_str_eq(r.out, "{\"a\":\"0\",\"b\":\"x\"}\n0\n", "got %s / %s", r.out, r.err);
  cr_assert_str_eq(r.err, "");
  cli_result_free(&r);
}

Test(cli_output, a_fifo_reader_that_closes_early_is_exit_0) {
  cli_result_t r = RUN(BIG_CSV
      "d=$(mktemp -d); mkfifo $d/ff; (head -c 10 $d/ff > $d/got &); "
      "\"$PIPE\" csv2json $f -o $d/ff; echo \"rc=$?\"; cat $d/got; echo; "
      "rm -rf $f $d",
      NULL);
  cr_assert_str_eq(r.out, "rc=0\n{\"a\":\"0\",\"\n", "got %s / %s", r.out, r.err);
  cr_assert_str_eq(r.err, "");
  cli_result_free(&r);
}

Test(cli_output, dev_fd_1_to_a_file_is_written_in_place) {
  /* /dev/fd/1 is the file the shell opened: write it, never try to put a
   * temp file in /proc/self/fd (exit 3) or rename over the link. */
  cli_result_t r = RUN(
      "d=$(mktemp -d); printf 'a\\n1\\n' > $d/s.csv; "
      "\"$PIPE\" csv2json $d/s.csv -o /dev/fd/1 > $d/out.txt; echo \"rc=$?\"; "
      "cat $d/out.txt; ls -A $d | tr '\\n' ' '; rm -rf $d",
      NULL);
  cr_assert_str_eq(r.out, "rc=0\n{\"a\":\"1\"}\nout.txt s.csv ", "got %s / %s",
                   r.out, r.err);
  cli_result_free(&r);
}

Test(cli_output, a_link_to_proc_self_fd_is_not_renamed_over) {
  /* /dev/stdout's own mechanism, on a link of ours (renaming over the real
   * /dev/stdout is what the bug did as root: not something to retry). */
  cli_result_t r = RUN(
      "d=$(mktemp -d); printf 'a\\n1\\n' > $d/s.csv; ln -s /proc/self/fd/1 $d/stdout; "
      "\"$PIPE\" csv2json $d/s.csv -o $d/stdout > $d/out.txt; echo \"rc=$?\"; "
      "test -L $d/stdout && echo still-a-link; cat $d/out.txt; rm -rf $d",
      NULL);
  cr_assert_str_eq(r.out, "rc=0\nstill-a-link\n{\"a\":\"1\"}\n", "got %s / %s", r.out,
                   r.err);
  cli_result_free(&r);
}

Test(cli_output, output_equal_to_the_input_is_refused_with_2) {
  /* The same file by name, by symlink, by hard link and on stdin: exit 2,
   * the input untouched. */
  cli_result_t r = RUN(
      "d=$(mktemp -d); cd $d; printf 'a,b\\n1,2\\n' > s.csv; ln -s s.csv sym.csv; "
      "ln s.csv hard.csv; "
      "\"$PIPE\" csv2json s.csv -o s.csv; echo \"1:$?\"; "
      "\"$PIPE\" csv2json sym.csv -o s.csv; echo \"2:$?\"; "
      "\"$PIPE\" csv2json s.csv -o hard.csv; echo \"3:$?\"; "
      "\"$PIPE\" csv2json -o s.csv < s.csv; echo \"4:$?\"; "
      "\"$PIPE\" run 's.csv | csv2json | sym.csv'; echo \"5:$?\"; "
      "cat s.csv; cd /; rm -rf $d",
      NULL);
  cr_assert_str_eq(r.out, "1:2\n2:2\n3:2\n4:2\n5:2\na,b\n1,2\n", "got %s / %s", r.out,
                   r.err);
  cr_assert(strstr(r.err, "is the input file") != NULL, "%s", r.err);
  cli_result_free(&r);
}

Test(cli_output, an_empty_output_name_is_a_usage_error) {
  cli_result_t r = RUN("\"$PIPE\" csv2json -o ''", "a\n1\n");
  cr_assert_eq(r.status, 2, "%s", r.err);
  cr_assert(strstr(r.err, "-o") != NULL, "%s", r.err);
  cli_result_free(&r);
}

Test(cli_output, a_file_in_the_output_path_is_not_a_directory) {
  cli_result_t r = RUN(
      "d=$(mktemp -d); printf 'a\\n1\\n' > $d/s.csv; "
      "\"$PIPE\" csv2json $d/s.csv -o $d/s.csv/x; echo \"rc=$?\"; rm -rf $d",
      NULL);
  cr_assert_str_eq(r.out, "rc=3\n", "%s", r.err);
  cr_assert(strstr(r.err, "s.csv is not a directory") != NULL, "%s", r.err);
  cr_assert(strstr(r.err, "does not exist") == NULL, "%s", r.err);
  cli_result_free(&r);
}

Test(cli_output, a_250_byte_output_name_works) {
  cli_result_t r = RUN(
      "d=$(mktemp -d); n=$(printf 'o%.0s' $(seq 250)); "
      "\"$PIPE\" csv2json -o $d/$n; echo \"rc=$?\"; cat $d/$n; ls -A $d | wc -l; "
      "rm -rf $d",
      "a\n1\n");
  cr_assert_str_eq(r.out, "rc=0\n{\"a\":\"1\"}\n1\n", "got %s / %s", r.out, r.err);
  cli_result_free(&r);
}

Test(cli_output, a_replaced_file_keeps_its_mode) {
  cli_result_t r = RUN(
      "d=$(mktemp -d); printf 'old' > $d/o.json; chmod 600 $d/o.json; "
      "\"$PIPE\" csv2json -o $d/o.json; echo \"rc=$?\"; stat -c %a $d/o.json; "
      "rm -rf $d",
      "a\n1\n");
  cr_assert_str_eq(r.out, "rc=0\n600\n", "got %s / %s", r.out, r.err);
  cli_result_free(&r);
}

Test(cli_output, a_fifo_output_without_a_reader_can_be_interrupted) {
  /* open(O_WRONLY) of a FIFO blocks until a reader comes: in start(), out
   * of SIGINT's reach, so only SIGKILL (here after 3 s: 137) ended it. */
  cli_result_t r = RUN(
      "d=$(mktemp -d); mkfifo $d/ff; \"$PIPE\" csv2json -o $d/ff < /dev/null & "
      "pid=$!; sleep 0.5; kill -INT $pid; (sleep 3; kill -KILL $pid 2>/dev/null) & "
      "wait $pid; echo \"rc=$?\"; rm -rf $d",
      NULL);
  cr_assert_str_eq(r.out, "rc=130\n", "got %s / %s", r.out, r.err);
  cli_result_free(&r);
}

Test(cli_output, a_fifo_output_with_a_stalled_reader_is_interrupted_at_once) {
  /* A write blocked on a thread-pool thread used to hold the teardown
   * until the reader read again (4 s here). */
  cli_result_t r = RUN(BIG_CSV
      "d=$(mktemp -d); mkfifo $d/ff; sh -c \"exec 3<$d/ff; sleep 4; cat <&3 >/dev/null\" & "
      "rd=$!; \"$PIPE\" csv2json $f -o $d/ff & pid=$!; sleep 0.5; kill -INT $pid; "
      "sleep 1; kill -0 $pid 2>/dev/null && echo still-running; wait $pid; "
      "echo \"rc=$?\"; kill $rd; rm -rf $f $d",
      NULL);
  cr_assert_str_eq(r.out, "rc=130\n", "got %s / %s", r.out, r.err);
  cr_assert(strstr(r.err, "incomplete") != NULL, "%s", r.err);
  cli_result_free(&r);
}

Test(cli_output, a_fifo_output_waits_for_its_reader) {
  cli_result_t r = RUN(BIG_CSV
      "d=$(mktemp -d); mkfifo $d/ff; \"$PIPE\" csv2json $f -o $d/ff & pid=$!; "
      "sleep 0.3; a=$(md5sum < $d/ff); wait $pid; echo \"rc=$?\"; "
      "b=$(\"$PIPE\" csv2json $f | md5sum); test \"$a\" = \"$b\" && echo same; "
      "rm -rf $f $d",
      NULL);
  cr_assert_str_eq(r.out, "rc=0\nsame\n", "got %s / %s", r.out, r.err);
  cli_result_free(&r);
}
