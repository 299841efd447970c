/* A TLS front for criterion tests: stunnel4 on a free 127.0.0.1 port in
 * front of a plain-HTTP port, with a test CA made at start
 * (tests/integration/tls/start-tls).
 *
 *   swift_t sw;  tls_t t;
 *   swift_start(&sw, NULL);
 *   tls_start(&t, sw.port);
 *   ... https client on t.url ("https://127.0.0.1:PORT"), trusting t.ca ...
 *   tls_stop(&t);  swift_stop(&sw);
 *
 * stunnel exits with the test process if tls_stop is not reached. All
 * functions assert on failure. */
#ifndef TESTS_SUPPORT_TLS_H
#define TESTS_SUPPORT_TLS_H

#include <sys/types.h>

typedef struct tls_s {
  int port;
  char url[64]; /* "https://127.0.0.1:PORT" */
  char ca[300]; /* the CA certificate (PEM) to trust */
  char dir[256];
  pid_t pid; /* stunnel */
} tls_t;

/** Starts stunnel forwarding to 127.0.0.1:upstream_port. */
void tls_start(tls_t* t, int upstream_port);

/** Stops stunnel by PID, removes its directory, asserts it is gone. */
void tls_stop(tls_t* t);

#endif
