/* Every way the CLI writes gzip gives ONE member that a one-member reader
 * (Python's zlib.decompressobj(31) in a single call, the way HTTP clients
 * read) gets whole, and `gzip -l` reports the true size: `pipe gzip`,
 * `csv2json -o x.json.gz` and `pipe run '... | gzip | x.gz'`, on an input
 * of several 1 MiB blocks. */
#include <criterion/criterion.h>
#include <stdio.h>
#include <string.h>

#include "support/cli_exec.h"

/* A ~5 MB CSV in $d/in.csv. */
#define MKDATA                                                         \
  "d=$(mktemp -d); awk 'BEGIN{print \"id,name,note\"; "                \
  "for(i=0;i<250000;i++) printf \"%d,n%d,note %d x\\n\", i, i*7, i%13}' " \
  "> $d/in.csv; "

/* Prints "ONE <bytes out>" for a file Python reads whole in one call, else
 * "SEVERAL <bytes> <unused>"; then gzip -l's uncompressed size and the
 * true size. */
#define CHECK(f)                                                            \
  "/usr/bin/python3 -c 'import sys, zlib\n"                                 \
  "o = zlib.decompressobj(31); x = o.decompress(open(sys.argv[1], \"rb\")." \
  "read())\n"                                                               \
  "print((\"ONE\" if o.eof and not o.unused_data else \"SEVERAL\"), "       \
  "len(x), len(o.unused_data))' " f "; "                                    \
  "gzip -lq " f " | awk '{print \"gzip-l\", $2}'; "                         \
  "gzip -dc " f " | wc -c | awk '{print \"true\", $1}'; "

static void expect_one_member(const char* what, const char* cmd) {
  cli_result_t r = cli_exec(cmd, NULL);
  char one[64], l[64], t[64];
  long n = 0, unused = -1, gl = -1, tr = -2;
  cr_assert_eq(r.status, 0, "%s: %s", what, r.err);
  cr_assert(sscanf(r.out, "%63s %ld %ld %63s %ld %63s %ld", one, &n, &unused,
                   l, &gl, t, &tr) == 7,
            "%s: %s / %s", what, r.out, r.err);
  cr_expect_str_eq(one, "ONE", "%s: %s", what, r.out);
  cr_expect_eq(unused, 0, "%s: %ld bytes left unused", what, unused);
  cr_expect_eq(n, tr, "%s: one call gave %ld of %ld bytes", what, n, tr);
  cr_expect_eq(gl, tr, "%s: gzip -l says %ld, true size %ld", what, gl, tr);
  cr_expect_gt(tr, 3 << 20, "%s: several blocks of input", what);
  cli_result_free(&r);
}

Test(cli_one_member, pipe_gzip_writes_one_member) {
  expect_one_member("pipe gzip", MKDATA "\"$PIPE\" gzip $d/in.csv -o $d/o.gz && "
                    CHECK("$d/o.gz") "rm -rf $d");
}

Test(cli_one_member, csv2json_to_a_gz_name_writes_one_member) {
  expect_one_member("csv2json -o x.json.gz",
                    MKDATA "\"$PIPE\" csv2json $d/in.csv -o $d/o.json.gz && "
                    CHECK("$d/o.json.gz") "rm -rf $d");
}

Test(cli_one_member, run_spec_with_gzip_writes_one_member) {
  expect_one_member("pipe run", MKDATA
                    "\"$PIPE\" run \"$d/in.csv | csv2json | gzip -1 | "
                    "$d/o.json.gz\" && " CHECK("$d/o.json.gz") "rm -rf $d");
}
