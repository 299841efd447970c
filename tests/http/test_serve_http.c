/* HTTP/1.1 handling of `pipe serve` on raw bytes: strict framing (the
 * smuggling holes of a lenient parser), Expect: 100-continue answered with
 * the final status when the headers already decide it, limits and
 * timeouts. */
#include <criterion/criterion.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "support/serve_helpers.h"

static serve_t* srv;

static void start(void) {
  srv = serve_start("--header-timeout 0.5 --idle-timeout 0.5 --max-body-size 1M "
                    "--max-header-size 4K");
}
static void stop(void) {
  int rc = serve_stop(srv, 0);
  cr_assert_eq(rc, 0, "pipe serve exit status %d", rc);
}

TestSuite(serve_http, .init = start, .fini = stop, .timeout = 60);

static char* raw(const char* req, int idle_ms) {
  return serve_raw(srv, req, strlen(req), idle_ms);
}

static void expect_status(const char* req, int want, const char* code) {
  char* resp = serve_raw(srv, req, strlen(req), 3000);
  cr_assert_eq(serve_status(resp), want, "request:\n%s\nresponse:\n%s", req, resp);
  if (code != NULL)
    cr_assert(strstr(resp, code) != NULL, "want %s in %s", code, resp);
  /* Every error body is JSON with the request id of the header. */
  cr_assert(strstr(resp, "\"request_id\":\"") != NULL, "%s", resp);
  cr_assert(strstr(resp, "X-Request-Id: ") != NULL, "%s", resp);
  free(resp);
}

Test(serve_http, duplicate_content_length_is_400) {
  expect_status("PUT /v1/objects/a HTTP/1.1\r\nHost: x\r\nContent-Length: 1\r\n"
                "Content-Length: 1\r\n\r\nx", 400, NULL);
}

Test(serve_http, content_length_with_transfer_encoding_is_400) {
  expect_status("PUT /v1/objects/a HTTP/1.1\r\nHost: x\r\nContent-Length: 1\r\n"
                "Transfer-Encoding: chunked\r\n\r\n1\r\nx\r\n0\r\n\r\n",
                400, NULL);
}

Test(serve_http, a_space_before_the_colon_is_400) {
  expect_status("PUT /v1/objects/a HTTP/1.1\r\nHost: x\r\nContent-Length : 1\r\n\r\nx",
                400, "bad_header");
}

Test(serve_http, transfer_encoding_other_than_chunked_is_400) {
  expect_status("PUT /v1/objects/a HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: gzip, chunked\r\n\r\n",
                400, NULL);
}

Test(serve_http, missing_or_duplicate_host_is_400) {
  expect_status("GET /healthz HTTP/1.1\r\n\r\n", 400, "bad_host");
  expect_status("GET /healthz HTTP/1.1\r\nHost: a\r\nHost: b\r\n\r\n", 400, "bad_host");
}

Test(serve_http, a_control_byte_in_a_header_value_is_400) {
  expect_status("GET /healthz HTTP/1.1\r\nHost: x\r\nX-A: a\x01" "b\r\n\r\n", 400, NULL);
}

Test(serve_http, garbage_is_400_and_the_connection_closed) {
  expect_status("HELLO\r\n\r\n", 400, "malformed HTTP");
}

Test(serve_http, an_unknown_expectation_is_417) {
  expect_status("PUT /v1/objects/a HTTP/1.1\r\nHost: x\r\nExpect: magic\r\n"
                "Content-Length: 1\r\n\r\nx", 417, NULL);
}

Test(serve_http, headers_over_the_limit_are_431) {
  char req[8000];
  char pad[6000];
  memset(pad, 'a', sizeof(pad) - 1);
  pad[sizeof(pad) - 1] = '\0';
  snprintf(req, sizeof(req), "GET /healthz HTTP/1.1\r\nHost: x\r\nX-Pad: %s\r\n\r\n", pad);
  expect_status(req, 431, "headers_too_large");
}

Test(serve_http, a_body_over_max_body_size_is_413_from_content_length_alone) {
  /* Only the head is sent: the answer comes without reading any body. */
  expect_status("PUT /v1/objects/a HTTP/1.1\r\nHost: x\r\nContent-Length: 2000000\r\n"
                "Expect: 100-continue\r\n\r\n", 413, "too_large");
  {
    char* resp = raw(
        "PUT /v1/objects/a HTTP/1.1\r\nHost: x\r\nContent-Length: 2000000\r\n"
        "Expect: 100-continue\r\n\r\n", 3000);
    cr_assert(strstr(resp, "100 Continue") == NULL, "%s", resp);
    free(resp);
  }
}

Test(serve_http, a_chunked_body_over_max_body_size_is_413) {
  cli_result_t r = serve_sh(srv,
      "head -c 3000000 /dev/zero | curl -sS -T - \"$U/v1/objects/big\" -w ' %%{http_code}'; echo; ls -A \"$S\" | wc -l");
  cr_assert(strstr(r.out, " 413\n0\n") != NULL, "%s %s", r.out, r.err);
  cli_result_free(&r);
}

Test(serve_http, expect_continue_gets_415_instead_of_100_for_a_non_multipart_post) {
  char* resp = raw(
      "POST /v1/uploads HTTP/1.1\r\nHost: x\r\nContent-Type: text/plain\r\n"
      "Content-Length: 10\r\nExpect: 100-continue\r\n\r\n", 3000);
  cr_assert_eq(serve_status(resp), 415, "%s", resp);
  cr_assert(strstr(resp, "100 Continue") == NULL, "%s", resp);
  free(resp);
}

Test(serve_http, a_slow_request_head_gets_408_after_header_timeout) {
  /* Part of a head, then nothing: the server answers 408 and closes. */
  char* resp = raw("GET /healthz HTTP/1.1\r\nHost: x\r\n", 5000);
  cr_assert_eq(serve_status(resp), 408, "%s", resp);
  cr_assert(strstr(resp, "header_timeout") != NULL, "%s", resp);
  free(resp);
}

Test(serve_http, a_body_that_stops_coming_gets_408_and_nothing_is_stored) {
  char* resp = raw(
      "PUT /v1/objects/idle HTTP/1.1\r\nHost: x\r\nContent-Length: 100\r\n\r\nabc", 5000);
  cli_result_t r;
  cr_assert_eq(serve_status(resp), 408, "%s", resp);
  cr_assert(strstr(resp, "idle_timeout") != NULL, "%s", resp);
  free(resp);
  r = serve_sh(srv, "ls -A \"$S\" | wc -l");
  cr_assert_str_eq(r.out, "0\n");
  cli_result_free(&r);
}

Test(serve_http, a_silent_connection_is_closed_after_idle_timeout) {
  char* resp = raw("", 5000);
  cr_assert_str_eq(resp, ""); /* closed without a word */
  free(resp);
}

Test(serve_http, http_1_0_requests_are_answered_and_closed) {
  char* resp = raw("GET /healthz HTTP/1.0\r\n\r\n", 3000);
  cr_assert_eq(serve_status(resp), 200, "%s", resp);
  cr_assert(strstr(resp, "Connection: close") != NULL, "%s", resp);
  free(resp);
}

Test(serve_http, other_http_versions_are_refused) {
  char* resp = raw("GET /healthz HTTP/2.0\r\nHost: x\r\n\r\n", 3000);
  int st = serve_status(resp);
  cr_assert(st == 505 || st == 400, "%s", resp);
  free(resp);
}

Test(serve_http, the_access_log_is_json_lines_with_request_ids) {
  cli_result_t r = serve_sh(srv,
      "curl -sS -D \"$D/h\" -o /dev/null \"$U/healthz\"; id=$(grep -i x-request-id \"$D/h\" | tr -d '\\r' | cut -d' ' -f2); "
      "sleep 0.1; grep \"\\\"request_id\\\":\\\"$id\\\"\" \"$D/log\" | /usr/bin/python3 -c 'import json,sys; d=json.loads(sys.stdin.readline()); print(d[\"status\"], d[\"path\"], d[\"level\"])'");
  cr_assert_str_eq(r.out, "200 /healthz info\n", "%s %s", r.out, r.err);
  cli_result_free(&r);
}

Test(serve_http, an_obs_fold_continuation_line_is_400) {
  expect_status("GET /healthz HTTP/1.1\r\nHost: x\r\nX-A: a\r\n b\r\n\r\n", 400, "bad_header");
}

Test(serve_http, chunk_data_not_followed_by_crlf_is_400_and_nothing_stored) {
  cli_result_t r;
  expect_status("PUT /v1/objects/c HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n"
                "3\r\nabcXY0\r\n\r\n", 400, "bad_framing");
  r = serve_sh(srv, "ls -A \"$S\" | wc -l");
  cr_assert_str_eq(r.out, "0\n");
  cli_result_free(&r);
}

Test(serve_http, chunk_extensions_and_many_chunks_are_fine) {
  char* resp = raw("PUT /v1/objects/c2 HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n"
                   "3;ext=1\r\nabc\r\n1\r\nd\r\n0\r\n\r\n", 3000);
  cli_result_t r;
  cr_assert_eq(serve_status(resp), 201, "%s", resp);
  free(resp);
  r = serve_sh(srv, "cat \"$S/c2\"");
  cr_assert_str_eq(r.out, "abcd");
  cli_result_free(&r);
}

Test(serve_http, a_head_trickled_byte_by_byte_still_gets_408_at_the_header_deadline) {
  /* Each byte resets no clock: --header-timeout bounds the whole head. */
  cli_result_t r = serve_sh(srv,
      "/usr/bin/python3 -c '\n"
      "import socket, time, sys\n"
      "s = socket.create_connection((\"127.0.0.1\", int(sys.argv[1])))\n"
      "s.settimeout(0.1)\n"
      "got = b\"\"\n"
      "for ch in b\"GET /healthz HTTP/1.1\\r\\nHost: x\\r\\nX-Long: \" + b\"a\" * 200:\n"
      "    try:\n"
      "        s.send(bytes([ch]))\n"
      "        got += s.recv(1000)\n"
      "        if got: break\n"
      "    except socket.timeout: pass\n"
      "    except OSError: break\n"
      "print(got.split(b\"\\r\\n\")[0].decode())\n"
      "' %d", srv->port);
  cr_assert_str_eq(r.out, "HTTP/1.1 408 Request Timeout\n", "%s %s", r.out, r.err);
  cli_result_free(&r);
}

Test(serve_http, random_and_mutated_requests_never_take_the_server_down) {
  /* 300 requests: random bytes, and valid requests with bytes flipped,
   * cut or duplicated (seeded); each connection gets an answer or is
   * closed, and the server still serves afterwards. */
  cli_result_t r = serve_sh(srv,
      "/usr/bin/python3 -c '\n"
      "import random, socket, sys\n"
      "rnd = random.Random(1)\n"
      "port = int(sys.argv[1])\n"
      "base = [b\"PUT /v1/objects/f HTTP/1.1\\r\\nHost: x\\r\\nTransfer-Encoding: chunked\\r\\n\\r\\n5\\r\\nhello\\r\\n0\\r\\n\\r\\n\",\n"
      "        b\"POST /v1/uploads HTTP/1.1\\r\\nHost: x\\r\\nContent-Type: multipart/form-data; boundary=B\\r\\nContent-Length: 60\\r\\n\\r\\n--B\\r\\nContent-Disposition: form-data; name=\\\"a\\\"\\r\\n\\r\\nv\\r\\n--B--\\r\\n\",\n"
      "        b\"GET /v1/objects/f HTTP/1.1\\r\\nHost: x\\r\\nRange: bytes=1-2\\r\\n\\r\\n\"]\n"
      "for i in range(300):\n"
      "    if i %% 3 == 0:\n"
      "        req = bytes(rnd.randrange(256) for _ in range(rnd.randrange(1, 200)))\n"
      "    else:\n"
      "        req = bytearray(rnd.choice(base))\n"
      "        for _ in range(rnd.randrange(1, 4)):\n"
      "            k = rnd.randrange(len(req))\n"
      "            op = rnd.randrange(3)\n"
      "            if op == 0: req[k] = rnd.randrange(256)\n"
      "            elif op == 1: del req[k:]\n"
      "            else: req[k:k] = req[k:k + rnd.randrange(1, 20)]\n"
      "            if not req: req = bytearray(b\"x\")\n"
      "        req = bytes(req)\n"
      "    s = socket.create_connection((\"127.0.0.1\", port))\n"
      "    s.settimeout(3)\n"
      "    try:\n"
      "        s.sendall(req)\n"
      "        s.shutdown(socket.SHUT_WR)\n"
      "        while s.recv(65536): pass\n"
      "    except (socket.timeout, ConnectionError):\n"
      "        pass\n"
      "    s.close()\n"
      "print(\"done\")\n"
      "' %d; curl -sS \"$U/healthz\"", srv->port);
  cr_assert_str_eq(r.out, "done\n{\"status\":\"ok\"}\n", "%s %s", r.out, r.err);
  cli_result_free(&r);
}
