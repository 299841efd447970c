/* Tests of `pipe serve`: start the real binary on 127.0.0.1 with a free
 * port (--listen 127.0.0.1:0 --port-file), talk to it with curl or raw
 * bytes, stop it by PID. */
#ifndef TESTS_SUPPORT_SERVE_HELPERS_H
#define TESTS_SUPPORT_SERVE_HELPERS_H

#include <stddef.h>
#include <sys/types.h>

#include "support/cli_exec.h"

typedef struct serve_s {
  pid_t pid;
  int port;
  char* dir;   /* a fresh temp dir (removed by serve_stop) */
  char store[512];
  char log[512];
  char url[64]; /* http://127.0.0.1:PORT */
} serve_t;

/* Starts `pipe serve` with extra arguments (shell words, may be "") and
 * its store in DIR/store, log in DIR/log. Fails the test if it does not
 * come up within 10 s. */
serve_t* serve_start(const char* extra);

/* SIGTERM, wait; returns the exit status (128+signal if killed). Removes
 * the temp dir unless keep. */
int serve_stop(serve_t* s, int keep);

/* Runs `sh -c CMD` with U (base URL), S (store dir), D (temp dir) set, as
 * cli_exec does (PIPE, DATA too). */
cli_result_t serve_sh(const serve_t* s, const char* fmt, ...)
    __attribute__((format(printf, 2, 3)));

/* A blocking TCP connection to the server (fails the test if refused). */
int serve_connect(const serve_t* s);

/* Sends all n bytes on fd (fails the test on error). */
void serve_send(int fd, const void* p, size_t n);

/* Sends raw request bytes, half-closes nothing, reads until the server
 * closes or `idle_ms` pass without data. Returns what was read
 * (malloc'd, NUL-terminated). */
char* serve_raw(const serve_t* s, const void* req, size_t len, int idle_ms);

/* The server's log so far (malloc'd). */
char* serve_log(const serve_t* s);

/* Writes n pseudo-random bytes (seeded) to path. */
int serve_make_file(const char* path, size_t n, unsigned seed);

/* sha256 hex of a file via sha256sum (malloc'd), NULL if unreadable. */
char* serve_sha256(const char* path);

/* The HTTP status of a raw response ("HTTP/1.1 404 ..."), or -1. */
int serve_status(const char* resp);

#endif
