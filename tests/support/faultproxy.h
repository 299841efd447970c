/* The fault-injecting proxy (tests/integration/faultproxy.py) from
 * criterion tests: start it between a client and an upstream port, change
 * its faults while it runs, read its request log, stop it by PID.
 *
 *   fproxy_t fp;
 *   fproxy_start(&fp, sw.port, "{\"slowdown\": {\"every\": 3}}");
 *   ... point the client at fp.url ...
 *   fproxy_faults(&fp, "{\"reset\": {\"query\": \"partNumber\"}}");
 *   cr_expect_gt(fproxy_count(&fp, "slowdown"), 0);   // retries happened
 *   fproxy_stop(&fp);
 *
 * The fault JSON is documented at the top of faultproxy.py. The proxy
 * watches the test's PID and exits with it. All functions assert on
 * failure. */
#ifndef TESTS_SUPPORT_FAULTPROXY_H
#define TESTS_SUPPORT_FAULTPROXY_H

#include <sys/types.h>

typedef struct fproxy_s {
  int port;    /* clients connect here */
  int control; /* the control port */
  pid_t pid;
  char url[64];  /* "http://127.0.0.1:PORT" */
  char dir[256]; /* holds log (the request log) */
  char log[300];
} fproxy_t;

/** Starts the proxy to 127.0.0.1:upstream_port with faults (JSON, NULL for
 *  none). */
void fproxy_start(fproxy_t* fp, int upstream_port, const char* faults);

/** Replaces the faults (POST /faults) and resets their counters. */
void fproxy_faults(const fproxy_t* fp, const char* faults);

/** POSTs to a control path: "/down", "/up", "/refuse?seconds=5". */
void fproxy_post(const fproxy_t* fp, const char* path);

/** The request log (malloc'd, NUL-terminated; free it). */
char* fproxy_log(const fproxy_t* fp);

/** Lines of the request log whose ACTION column is action ("slowdown",
 *  "reset", "forward", ...). */
int fproxy_count(const fproxy_t* fp, const char* action);

/** Stops the proxy (SIGTERM, by PID) and removes its directory. */
void fproxy_stop(fproxy_t* fp);

/** Starts the echo upstream (faultproxy.py echo: 200 and a JSON of method,
 *  path, body length and SHA-256 for every request); returns its port and
 *  its PID in *pid. Stop it with fproxy_kill(*pid). */
int fproxy_echo_start(pid_t* pid);

/** SIGTERM to pid, then waits (up to 5 s) until it is gone. */
void fproxy_kill(pid_t pid);

#endif
