/* The TLS front (tests/support/tls.h, tests/integration/tls/): curl
 * reaches Swift's /healthcheck through stunnel when it trusts the test CA
 * and fails when it does not; aws-cli lists and copies over HTTPS with
 * AWS_CA_BUNDLE; stopping leaves no process. */
#include <criterion/criterion.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "support/cli_exec.h"
#include "support/swift.h"
#include "support/tls.h"

TestSuite(tls, .timeout = 120);

Test(tls, curl_reaches_swift_through_stunnel_only_with_the_test_ca) {
  swift_t sw;
  tls_t t;
  char cmd[1024];
  cli_result_t r;
  swift_start(&sw, NULL);
  tls_start(&t, sw.port);

  snprintf(cmd, sizeof(cmd), "curl -sS --cacert '%s' '%s/healthcheck'", t.ca,
           t.url);
  r = cli_exec(cmd, NULL);
  cr_expect_eq(r.status, 0, "%s", r.err);
  cr_expect_str_eq(r.out, "OK");
  cli_result_free(&r);

  snprintf(cmd, sizeof(cmd), "curl -sS '%s/healthcheck'", t.url);
  r = cli_exec(cmd, NULL);
  cr_expect_eq(r.status, 60, "without the CA: exit %d (%s)", r.status, r.err);
  cli_result_free(&r);

  /* The name is checked too: the certificate is for 127.0.0.1/localhost. */
  snprintf(cmd, sizeof(cmd),
           "curl -sS --cacert '%s' --resolve other.test:%d:127.0.0.1 "
           "'https://other.test:%d/healthcheck'",
           t.ca, t.port, t.port);
  r = cli_exec(cmd, NULL);
  cr_expect_eq(r.status, 60, "a wrong name: exit %d (%s)", r.status, r.err);
  cli_result_free(&r);

  tls_stop(&t);
  swift_stop(&sw);
}

Test(tls, aws_cli_round_trips_over_https_with_aws_ca_bundle) {
  swift_t sw;
  tls_t t;
  char env[512], cmd[4096];
  cli_result_t r;
  swift_start(&sw, NULL);
  tls_start(&t, sw.port);
  swift_env(&sw, env, sizeof(env));
  snprintf(cmd, sizeof(cmd),
           "%s AWS_CA_BUNDLE='%s' /usr/bin/aws --endpoint-url '%s' "
           "s3 cp --only-show-errors - s3://%s/tls.txt && "
           "%s AWS_CA_BUNDLE='%s' /usr/bin/aws --endpoint-url '%s' "
           "s3 cp --only-show-errors s3://%s/tls.txt -",
           env, t.ca, t.url, sw.bucket, env, t.ca, t.url, sw.bucket);
  r = cli_exec(cmd, "over TLS\n");
  cr_expect_eq(r.status, 0, "%s", r.err);
  cr_expect_str_eq(r.out, "over TLS\n");
  cli_result_free(&r);

  snprintf(cmd, sizeof(cmd),
           "%s /usr/bin/aws --endpoint-url '%s' s3 ls s3://%s/", env, t.url,
           sw.bucket);
  r = cli_exec(cmd, NULL);
  cr_expect_neq(r.status, 0, "without the CA aws-cli refuses");
  cr_expect(strstr(r.err, "SSL") || strstr(r.err, "certificate"), "%s", r.err);
  cli_result_free(&r);
  tls_stop(&t);
  swift_stop(&sw);
}
