/* The real binary on CSV input that is not a plain file: gzip'd files and
 * streams, and a live pipe whose writer stays open (tail -f). */
#include <criterion/criterion.h>
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "support/cli_exec.h"

/* Reads from fd until `want` bytes have come or 10 s passed; returns the
 * count read (into buf, NUL-terminated). */
static size_t read_upto(int fd, char* buf, size_t want) {
  size_t got = 0;
  while (got < want) {
    struct pollfd p = {fd, POLLIN, 0};
    ssize_t n;
    if (poll(&p, 1, 10000) <= 0) break;
    n = read(fd, buf + got, want - got);
    if (n <= 0) break;
    got += (size_t)n;
  }
  buf[got] = '\0';
  return got;
}

Test(cli_csv, a_live_pipe_gets_each_record_while_the_writer_keeps_it_open) {
  int in[2], out[2], status;
  char buf[256];
  pid_t pid;
  const char* rec1 = "{\"a\":\"1\",\"b\":\"2\"}\n";
  const char* rec2 = "{\"a\":\"3\",\"b\":\"4\"}\n";
  signal(SIGPIPE, SIG_IGN);
  cr_assert_eq(pipe(in), 0);
  cr_assert_eq(pipe(out), 0);
  pid = fork();
  cr_assert_geq(pid, 0);
  if (pid == 0) {
    dup2(in[0], 0);
    dup2(out[1], 1);
    close(in[0]);
    close(in[1]);
    close(out[0]);
    close(out[1]);
    execl(PIPE_BIN, "pipe", "csv2json", (char*)NULL);
    _exit(127);
  }
  close(in[0]);
  close(out[1]);
  /* Header and one record, and the pipe stays open: the record's JSON must
   * come now, not at 128 KiB or EOF. */
  cr_assert_eq(write(in[1], "a,b\n1,2\n", 8), 8);
  cr_assert_eq(read_upto(out[0], buf, strlen(rec1)), strlen(rec1),
               "got only '%s' while the writer kept the pipe open", buf);
  cr_assert_str_eq(buf, rec1);
  cr_assert_eq(write(in[1], "3,4\n", 4), 4);
  cr_assert_eq(read_upto(out[0], buf, strlen(rec2)), strlen(rec2), "got '%s'", buf);
  cr_assert_str_eq(buf, rec2);
  close(in[1]);
  cr_assert_eq(read_upto(out[0], buf, 1), 0, "more output after EOF: %s", buf);
  close(out[0]);
  cr_assert_eq(waitpid(pid, &status, 0), pid);
  cr_assert(WIFEXITED(status) && WEXITSTATUS(status) == 0, "status %d", status);
}

Test(cli_csv, bulk_input_through_a_pipe_gives_the_same_output_as_from_a_file) {
  cli_result_t r = cli_exec(
      "d=$(mktemp -d); awk 'BEGIN{print \"id,name,note\"; for(i=0;i<50000;i++) "
      "printf \"%d,n%d,\\\"x, \\\"\\\"q\\\"\\\"\\ny\\\"\\r\", i, i*7}' > $d/in.csv; "
      "\"$PIPE\" csv2json $d/in.csv > $d/a.json && cat $d/in.csv | \"$PIPE\" csv2json > $d/b.json && "
      "cmp $d/a.json $d/b.json && wc -l < $d/a.json; rm -rf $d",
      NULL);
  cr_assert_eq(r.status, 0, "%s", r.err);
  cr_assert_str_eq(r.out, "50000\n", "%s", r.err);
  cli_result_free(&r);
}

/* 3 MB of CSV with quotes, newlines in fields and CR line ends, in $d/in.csv,
 * and its JSON from the plain file in $d/want.json. */
#define MKCSV                                                                 \
  "d=$(mktemp -d); awk 'BEGIN{print \"id,name,note\"; for(i=0;i<60000;i++) " \
  "printf \"%d,n%d,\\\"x, \\\"\\\"q\\\"\\\"\\ny\\\"\\n\", i, i*7}' > $d/in.csv; " \
  "\"$PIPE\" csv2json $d/in.csv > $d/want.json || echo plain-failed; "

Test(cli_csv, a_gz_file_is_decompressed_first) {
  cli_result_t r = cli_exec(MKCSV "gzip -c $d/in.csv > $d/in.csv.gz && "
                            "\"$PIPE\" csv2json $d/in.csv.gz | cmp - $d/want.json && echo same; rm -rf $d",
                            NULL);
  cr_assert_eq(r.status, 0, "%s", r.err);
  cr_assert_str_eq(r.out, "same\n", "%s", r.err);
  cli_result_free(&r);
}

Test(cli_csv, gzip_data_is_recognised_by_its_magic_on_stdin_and_in_any_file) {
  cli_result_t r = cli_exec(MKCSV "gzip -c $d/in.csv > $d/data && "
                            "\"$PIPE\" csv2json $d/data | cmp - $d/want.json && "
                            "\"$PIPE\" csv2json < $d/data | cmp - $d/want.json && "
                            "cat $d/data | \"$PIPE\" csv2json | cmp - $d/want.json && "
                            "cat $d/data | \"$PIPE\" csv2json - | cmp - $d/want.json && "
                            "echo same; rm -rf $d",
                            NULL);
  cr_assert_eq(r.status, 0, "%s", r.err);
  cr_assert_str_eq(r.out, "same\n", "%s", r.err);
  cli_result_free(&r);
}

Test(cli_csv, a_gz_name_holding_plain_csv_is_a_gzip_error) {
  cli_result_t r = cli_exec("d=$(mktemp -d); printf 'a,b\\n1,2\\n' > $d/x.csv.gz; "
                            "\"$PIPE\" csv2json $d/x.csv.gz; echo \"rc=$?\"; rm -rf $d",
                            NULL);
  cr_assert(strstr(r.out, "rc=1") != NULL, "%s %s", r.out, r.err);
  cr_assert(strstr(r.err, "not gzip data") != NULL, "%s", r.err);
  cli_result_free(&r);
}

Test(cli_csv, gzip_output_of_gzip_input_round_trips) {
  cli_result_t r = cli_exec(MKCSV "gzip -c $d/in.csv | \"$PIPE\" csv2json -o $d/out.json.gz && "
                            "gzip -dc $d/out.json.gz | cmp - $d/want.json && echo same; rm -rf $d",
                            NULL);
  cr_assert_eq(r.status, 0, "%s", r.err);
  cr_assert_str_eq(r.out, "same\n", "%s", r.err);
  cli_result_free(&r);
}

/* What a user sees: the position once, then what is wrong and what to do. */
Test(cli_csv, error_lines_say_the_position_once_with_what_to_do) {
  cli_result_t r = cli_exec("printf 'a,b\\n1,caf\\351\\n' | \"$PIPE\" csv2json; "
                            "printf 'a,b\\n1,\"x\\n2,3\\n4,\"y\"z\\n' | \"$PIPE\" csv2json; "
                            "printf 'a,b\\n1\\n' | \"$PIPE\" csv2json",
                            NULL);
  cr_assert_str_eq(r.err,
                   "pipe: <stdin>:2:2: invalid UTF-8 (byte offset 9); the input looks "
                   "like Latin-1: convert it with iconv -f latin1 -t utf-8\n"
                   "pipe: <stdin>:4:2: unexpected character 'y' after closing quote; "
                   "that quoted field opened at line 2, column 2\n"
                   "pipe: <stdin>:2:2: expected 2 fields, found 1\n");
  cli_result_free(&r);
}

Test(cli_csv, cr_only_file_gives_every_record) {
  cli_result_t r = cli_exec("printf 'a,b,c\\r1,2,3\\r\"x\\ry\",5,6\\r' | \"$PIPE\" csv2json", NULL);
  cr_assert_eq(r.status, 0, "%s", r.err);
  cr_assert_str_eq(r.out, "{\"a\":\"1\",\"b\":\"2\",\"c\":\"3\"}\n"
                          "{\"a\":\"x\\ry\",\"b\":\"5\",\"c\":\"6\"}\n");
  cli_result_free(&r);
}
