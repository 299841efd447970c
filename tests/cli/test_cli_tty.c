/* At a terminal (a real pseudo-terminal from tests/cli/pty_run.py):
 * compressed data is neither written to nor read from one, and the
 * progress bar keeps out of the data and within the window. */
#include <criterion/criterion.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "support/cli_exec.h"

#define RUN(cmd, in) cli_exec((cmd), (in))
#define PTY "/usr/bin/python3 " PIPE_SOURCE_DIR "/tests/cli/pty_run.py"

Test(cli_tty, gzip_refuses_to_write_to_a_terminal) {
  cli_result_t r = RUN(
      "d=$(mktemp -d); printf 'a\\n1\\n' > $d/s.csv; "
      PTY " -- \"$PIPE\" gzip $d/s.csv; rm -rf $d",
      NULL);
  cr_assert(strstr(r.out, "compressed data not written to a terminal") != NULL,
            "%s", r.out);
  cr_assert(strstr(r.out, "exit=2") != NULL, "%s", r.out);
  cli_result_free(&r);
}

Test(cli_tty, gzip_to_a_file_from_a_terminal_session_still_works) {
  cli_result_t r = RUN(
      "d=$(mktemp -d); printf 'a\\n1\\n' > $d/s.csv; "
      PTY " -- \"$PIPE\" gzip $d/s.csv -o $d/s.gz; gzip -dc $d/s.gz; rm -rf $d",
      NULL);
  cr_assert(strstr(r.out, "exit=0") != NULL, "%s", r.out);
  cr_assert(strstr(r.out, "a\n1\n") != NULL, "%s", r.out);
  cli_result_free(&r);
}

Test(cli_tty, gunzip_refuses_to_read_from_a_terminal) {
  /* It used to wait silently for compressed bytes from the keyboard. */
  cli_result_t r = RUN(PTY " --timeout 3 --stdout /dev/null -- \"$PIPE\" gunzip", NULL);
  cr_assert(strstr(r.out, "compressed data not read from a terminal") != NULL,
            "%s", r.out);
  cr_assert(strstr(r.out, "exit=2") != NULL, "%s", r.out);
  cli_result_free(&r);
}

Test(cli_tty, progress_is_off_when_the_data_goes_to_the_same_terminal) {
  cli_result_t r = RUN(
      "d=$(mktemp -d); printf 'a\\n1\\n' > $d/s.csv; "
      PTY " -- \"$PIPE\" csv2json $d/s.csv; rm -rf $d",
      NULL);
  cr_assert(strstr(r.out, "{\"a\":\"1\"}") != NULL, "%s", r.out);
  cr_assert(strstr(r.out, "/s") == NULL, "no progress line: %s", r.out);
  cr_assert(strstr(r.out, "exit=0") != NULL, "%s", r.out);
  cli_result_free(&r);
}

/* True when every line the terminal showed (split at \r and \n) is at
 * most `max` bytes. */
static int lines_fit(const char* s, size_t max) {
  size_t n = 0;
  for (; *s; s++) {
    if (*s == '\r' || *s == '\n') n = 0;
    else if (++n > max) return 0;
  }
  return 1;
}

Test(cli_tty, progress_fits_a_50_column_terminal_and_ends_with_elapsed_time) {
  /* stdout to a file: the bar is on by default. The output goes to a FIFO
   * whose reader waits 1 s, so the bar is drawn mid-run too. */
  cli_result_t r = RUN(
      "d=$(mktemp -d); awk 'BEGIN{print \"a,b\"; for(i=0;i<200000;i++) print i\",x\"}' "
      "> $d/s.csv; mkfifo $d/ff; sh -c \"exec 3<$d/ff; sleep 1; cat <&3 >/dev/null\" & "
      PTY " --cols 50 --stdout /dev/null -- \"$PIPE\" csv2json $d/s.csv -o $d/ff; "
      "wait; rm -rf $d",
      NULL);
  cr_assert(strstr(r.out, "exit=0") != NULL, "%s", r.out);
  cr_assert(strstr(r.out, "ETA") != NULL, "drawn mid-run: %s", r.out);
  cr_assert(lines_fit(r.out, 49), "a line is wider than 49 columns: %s", r.out);
  cr_assert(strstr(r.out, "ETA 0:00") == NULL, "%s", r.out);
  cr_assert(strstr(r.out, " in 0:0") != NULL, "elapsed time at the end: %s", r.out);
  cli_result_free(&r);
}
