/* A real S3 server for criterion tests: OpenStack Swift with s3api, started
 * by tests/integration/swift/start-swift on 127.0.0.1 (free ports, its own
 * directory) and stopped by PID.
 *
 *   swift_t sw;
 *   swift_start(&sw, NULL);                 // asserts on failure
 *   ... sw.endpoint ("http://127.0.0.1:PORT"), sw.bucket ("test"),
 *       access key SWIFT_ACCESS_KEY ("test:tester"), SWIFT_SECRET_KEY ...
 *   cli_result_t r = swift_aws(&sw, "s3 cp s3://test/k -");  // /usr/bin/aws
 *   swift_stop(&sw);                        // asserts every process is gone
 *
 * A test that dies without swift_stop leaves nothing behind: start-swift
 * watches the test's PID and stops the servers when it exits. Start takes
 * a few seconds. Each criterion test runs in its own process: start one
 * Swift per test (or per test that needs one).
 */
#ifndef TESTS_SUPPORT_SWIFT_H
#define TESTS_SUPPORT_SWIFT_H

#include <stdint.h>
#include <sys/types.h>

#include "support/cli_exec.h"

#define SWIFT_ACCESS_KEY "test:tester"
#define SWIFT_SECRET_KEY "testing"
#define SWIFT_REGION "us-east-1"
#define SWIFT_MAX_PIDS 8

typedef struct swift_options_s {
  const char* bucket;    /* created at start; NULL: "test"; "": none */
  long min_segment_size; /* s3api's smallest part but the last, bytes;
                            0: 5 MiB (AWS's) */
  const char* base;      /* parent of the server's directory; NULL:
                            /dev/shm, else /tmp (needs user xattrs) */
} swift_options_t;

typedef struct swift_s {
  char dir[256];     /* the server's directory (logs in dir/log/) */
  char endpoint[64]; /* "http://127.0.0.1:PORT" */
  char bucket[64];
  int port;                   /* the proxy's port */
  pid_t pids[SWIFT_MAX_PIDS]; /* proxy, object, container, account, watchdog */
  int npids;
} swift_t;

/** Starts Swift (opt may be NULL). Asserts (cr_assert) on failure, with
 *  start-swift's reason and log tail in the message. */
void swift_start(swift_t* sw, const swift_options_t* opt);

/** Stops every process by PID, removes sw->dir, and asserts that none of
 *  the PIDs is still running. */
void swift_stop(swift_t* sw);

/** 1 while the process pid runs (a zombie does not count). */
int swift_pid_alive(pid_t pid);

/** Runs `/usr/bin/aws --endpoint-url ENDPOINT ARGS` with the server's
 *  credentials and region in its environment (and no profile files), via
 *  cli_exec (so "$PIPE" and "$DATA" work in args; stdin_bytes may be
 *  NULL). Free the result with cli_result_free. */
cli_result_t swift_aws(const swift_t* sw, const char* args,
                       const char* stdin_bytes);

/** The environment assignments a child command needs to reach the server:
 *  "AWS_ACCESS_KEY_ID='test:tester' AWS_SECRET_ACCESS_KEY='testing'
 *  AWS_REGION='us-east-1' AWS_DEFAULT_REGION=... AWS_CONFIG_FILE=/dev/null
 *  AWS_SHARED_CREDENTIALS_FILE=/dev/null AWS_ENDPOINT_URL='http://...'",
 *  written to out (cap bytes); for a cli_exec command line prefix. */
void swift_env(const swift_t* sw, char* out, size_t cap);

/** swift_env() with the profile files pointed at a missing path (no error:
 *  as if there were none): the prefix for `"$PIPE"` command lines. */
void swift_pipe_env(const swift_t* sw, char* out, size_t cap);

/** Number of multipart uploads left in the bucket (aws s3api
 *  list-multipart-uploads). */
int swift_uploads_left(const swift_t* sw);

/** Writes n pseudo-random bytes (xorshift from seed) to path. */
void swift_random_file(const char* path, size_t n, uint64_t seed);

/** Lowercase hex SHA-256 of the file at path. */
void swift_sha256_file(const char* path, char out[65]);

#endif
