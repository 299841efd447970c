/* Process hygiene: signals, closed standard fds, FIFO inputs, and what
 * the messages of an interrupted or failed run say. The real binary. */
#include <criterion/criterion.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "support/cli_exec.h"

#define RUN(cmd, in) cli_exec((cmd), (in))

/* Starts `pipe csv2json -o $d/out.json` on a stdin that stays open, sends
 * SIG after 0.5 s, prints "rc=STATUS" and what is left in $d. */
static cli_result_t interrupt_with(const char* sig) {
  char cmd[1024];
  snprintf(cmd, sizeof(cmd),
           "d=$(mktemp -d); (printf 'a,b\\n1,2\\n'; sleep 5) | "
           "\"$PIPE\" csv2json -o $d/out.json & pid=$!; sleep 0.5; "
           "kill -%s $pid; wait $pid; echo \"rc=$?\"; ls -A $d; rm -rf $d",
           sig);
  return RUN(cmd, NULL);
}

Test(cli_signals, sighup_removes_the_temp_file_and_exits_129) {
  cli_result_t r = interrupt_with("HUP");
  cr_assert_str_eq(r.out, "rc=129\n", "got %s / %s", r.out, r.err);
  cr_assert(strstr(r.err, "interrupted by SIGHUP") != NULL, "%s", r.err);
  cli_result_free(&r);
}

Test(cli_signals, sigterm_exits_143) {
  cli_result_t r = interrupt_with("TERM");
  cr_assert_str_eq(r.out, "rc=143\n", "got %s / %s", r.out, r.err);
  cli_result_free(&r);
}

Test(cli_signals, sigint_exits_130_and_says_the_file_was_not_written) {
  cli_result_t r = interrupt_with("INT");
  cr_assert_str_eq(r.out, "rc=130\n", "got %s / %s", r.out, r.err);
  cr_assert(strstr(r.err, "out.json was not written") != NULL, "%s", r.err);
  cli_result_free(&r);
}

Test(cli_signals, interrupted_after_streaming_to_stdout_says_it_is_incomplete) {
  /* 300,000 records are converted and written before the writer stalls:
   * "no output was written" would be false. */
  cli_result_t r = RUN(
      "d=$(mktemp -d); "
      "(awk 'BEGIN{print \"a,b\"; for(i=0;i<300000;i++) print i\",x\"}'; sleep 5) | "
      "\"$PIPE\" csv2json > $d/o & pid=$!; sleep 1; kill -INT $pid; wait $pid; "
      "echo \"rc=$?\"; test -s $d/o && echo some-output; rm -rf $d",
      NULL);
  cr_assert_str_eq(r.out, "rc=130\nsome-output\n", "got %s / %s", r.out, r.err);
  cr_assert(strstr(r.err, "no output was written") == NULL, "%s", r.err);
  cr_assert(strstr(r.err, "incomplete") != NULL, "%s", r.err);
  cli_result_free(&r);
}

Test(cli_signals, closed_stderr_stdout_or_stdin_still_completes) {
  /* As under cron or a daemon: libuv must not abort (134); the closed fds
   * behave as /dev/null. */
  cli_result_t r = RUN(
      "d=$(mktemp -d); printf 'a\\n1\\n' > $d/s.csv; "
      "\"$PIPE\" csv2json $d/s.csv -o $d/o1 2>&-; echo \"err:$?\"; "
      "\"$PIPE\" csv2json $d/s.csv >&-; echo \"out:$?\"; "
      "\"$PIPE\" csv2json -o $d/o2 <&-; echo \"in:$?\"; "
      "\"$PIPE\" csv2json $d/s.csv <&- >&- 2>&-; echo \"all:$?\"; "
      "cat $d/o1; wc -c < $d/o2; rm -rf $d",
      NULL);
  cr_assert_str_eq(r.out, "err:0\nout:0\nin:0\nall:0\n{\"a\":\"1\"}\n0\n", "got %s / %s",
                   r.out, r.err);
  cli_result_free(&r);
}

Test(cli_signals, a_fifo_input_without_a_writer_can_be_interrupted) {
  /* The open used to block in start(), out of SIGINT's reach: only
   * SIGKILL (here after 3 s, giving 137) ended it. */
  cli_result_t r = RUN(
      "d=$(mktemp -d); mkfifo $d/in; \"$PIPE\" csv2json $d/in & pid=$!; "
      "sleep 0.5; kill -INT $pid; (sleep 3; kill -KILL $pid 2>/dev/null) & "
      "wait $pid; echo \"rc=$?\"; rm -rf $d",
      NULL);
  cr_assert_str_eq(r.out, "rc=130\n", "got %s / %s", r.out, r.err);
  cli_result_free(&r);
}

Test(cli_signals, a_fifo_input_with_an_idle_writer_can_be_interrupted) {
  cli_result_t r = RUN(
      "d=$(mktemp -d); mkfifo $d/in; \"$PIPE\" csv2json $d/in -o $d/o & pid=$!; "
      "(printf 'a\\n1\\n'; sleep 5) > $d/in & w=$!; "
      "sleep 0.5; kill -INT $pid; (sleep 3; kill -KILL $pid 2>/dev/null) & "
      "wait $pid; echo \"rc=$?\"; kill $w; ls -A $d; rm -rf $d",
      NULL);
  cr_assert_str_eq(r.out, "rc=130\nin\n", "got %s / %s", r.out, r.err);
  cli_result_free(&r);
}

Test(cli_signals, a_fifo_input_waits_for_its_writer_and_reads_everything) {
  cli_result_t r = RUN(
      "d=$(mktemp -d); mkfifo $d/in; \"$PIPE\" csv2json $d/in & pid=$!; "
      "sleep 0.3; (printf 'a,b\\n1,2\\n'; sleep 0.3; printf '3,4\\n') > $d/in; "
      "wait $pid; echo \"rc=$?\"; rm -rf $d",
      NULL);
  cr_assert_str_eq(r.out, "{\"a\":\"1\",\"b\":\"2\"}\n{\"a\":\"3\",\"b\":\"4\"}\nrc=0\n",
                   "got %s / %s", r.out, r.err);
  cli_result_free(&r);
}

Test(cli_signals, messages_do_not_name_internal_stages) {
  /* The file or stream is named; file_source, file_sink and stdout_sink
   * mean nothing to a user. */
  cli_result_t r = RUN(
      "\"$PIPE\" csv2json /nonexistent/in.csv; "
      "\"$PIPE\" csv2json -o /nonexistent/dir/o.json < /dev/null; "
      "printf 'a\\n1\\n' | \"$PIPE\" csv2json > /dev/full",
      NULL);
  cr_assert(strstr(r.err, "/nonexistent/in.csv") != NULL, "%s", r.err);
  cr_assert(strstr(r.err, "/nonexistent/dir/o.json") != NULL, "%s", r.err);
  cr_assert(strstr(r.err, "standard output") != NULL, "%s", r.err);
  cr_assert(strstr(r.err, "_source") == NULL, "%s", r.err);
  cr_assert(strstr(r.err, "_sink") == NULL, "%s", r.err);
  cli_result_free(&r);
}
