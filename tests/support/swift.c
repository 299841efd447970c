/* See swift.h. The work is done by the scripts in tests/integration/swift/
 * (start-swift, stop-swift); this file runs them and parses the
 * KEY=VALUE lines start-swift prints. */
#include "support/swift.h"

#include "codec/sigv4.h"

#include <criterion/criterion.h>
#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define SCRIPTS PIPE_SOURCE_DIR "/tests/integration/swift"

int swift_pid_alive(pid_t pid) {
  char path[64], buf[512];
  FILE* f;
  char* rp;
  size_t n;
  snprintf(path, sizeof(path), "/proc/%d/stat", (int)pid);
  f = fopen(path, "r");
  if (!f) return 0;
  n = fread(buf, 1, sizeof(buf) - 1, f);
  fclose(f);
  buf[n] = '\0';
  rp = strrchr(buf, ')'); /* the command name may hold spaces */
  if (!rp || rp[1] != ' ') return 0;
  return rp[2] != 'Z' && rp[2] != 'X';
}

static void copy_field(char* dst, size_t cap, const char* v, size_t n) {
  cr_assert_lt(n, cap, "start-swift value too long: %.*s", (int)n, v);
  memcpy(dst, v, n);
  dst[n] = '\0';
}

static int try_start(swift_t* sw, const swift_options_t* opt, const char* base,
                     char** why) {
  char tmpl[256], cmd[1024];
  cli_result_t r;
  const char* line;
  snprintf(tmpl, sizeof(tmpl), "%s/pipe-swift-XXXXXX", base);
  if (!mkdtemp(tmpl)) {
    *why = strdup(strerror(errno));
    return -1;
  }
  snprintf(cmd, sizeof(cmd),
           "'%s/start-swift' --watch %d --bucket '%s' "
           "--min-segment-size %ld '%s'",
           SCRIPTS, (int)getpid(), opt && opt->bucket ? opt->bucket : "test",
           opt && opt->min_segment_size > 0 ? opt->min_segment_size
                                            : 5L * 1024 * 1024,
           tmpl);
  r = cli_exec(cmd, NULL);
  if (r.status != 0) {
    size_t n = strlen(r.err ? r.err : "") + 64;
    *why = malloc(n);
    snprintf(*why, n, "exit %d: %s", r.status, r.err ? r.err : "");
    cli_result_free(&r);
    cli_rmtree(tmpl);               /* its logs are in the message already */
    return r.status == 2 ? -2 : -1; /* 2: this directory cannot work */
  }
  memset(sw, 0, sizeof(*sw));
  for (line = r.out; line && *line;) {
    const char* nl = strchr(line, '\n');
    const char* eq = strchr(line, '=');
    size_t len = nl ? (size_t)(nl - line) : strlen(line);
    if (eq && eq < line + len) {
      const char* v = eq + 1;
      size_t k = (size_t)(eq - line), vn = len - k - 1;
      if (k == 3 && !memcmp(line, "DIR", 3))
        copy_field(sw->dir, sizeof(sw->dir), v, vn);
      else if (k == 8 && !memcmp(line, "ENDPOINT", 8))
        copy_field(sw->endpoint, sizeof(sw->endpoint), v, vn);
      else if (k == 6 && !memcmp(line, "BUCKET", 6))
        copy_field(sw->bucket, sizeof(sw->bucket), v, vn);
      else if (k == 4 && !memcmp(line, "PORT", 4))
        sw->port = (int)strtol(v, NULL, 10);
      else if (k == 4 && !memcmp(line, "PIDS", 4)) {
        char* end;
        const char* p = v;
        while (sw->npids < SWIFT_MAX_PIDS) {
          long pid = strtol(p, &end, 10);
          if (end == p || end > v + vn) break;
          sw->pids[sw->npids++] = (pid_t)pid;
          p = end;
        }
      }
    }
    line = nl ? nl + 1 : NULL;
  }
  cli_result_free(&r);
  cr_assert(sw->dir[0] && sw->endpoint[0] && sw->port > 0 && sw->npids >= 4,
            "start-swift printed no DIR/ENDPOINT/PORT/PIDS");
  return 0;
}

void swift_start(swift_t* sw, const swift_options_t* opt) {
  const char* bases[2] = {"/dev/shm", "/tmp"};
  char* why = NULL;
  int i, rc = -1;
  if (opt && opt->base) {
    bases[0] = opt->base;
    bases[1] = NULL;
  }
  for (i = 0; i < 2 && bases[i]; i++) {
    free(why);
    why = NULL;
    rc = try_start(sw, opt, bases[i], &why);
    if (rc != -2) break; /* only a directory problem is worth a 2nd place */
  }
  cr_assert_eq(rc, 0, "start-swift failed: %s", why ? why : "?");
  free(why);
}

void swift_stop(swift_t* sw) {
  char cmd[512];
  cli_result_t r;
  int i;
  if (!sw->dir[0]) return;
  snprintf(cmd, sizeof(cmd), "'%s/stop-swift' '%s'", SCRIPTS, sw->dir);
  r = cli_exec(cmd, NULL);
  cr_expect_eq(r.status, 0, "stop-swift: %s", r.err ? r.err : "");
  cli_result_free(&r);
  for (i = 0; i < sw->npids; i++)
    cr_expect(!swift_pid_alive(sw->pids[i]), "pid %d still runs",
              (int)sw->pids[i]);
  cr_expect_neq(access(sw->dir, F_OK), 0, "%s still exists", sw->dir);
  sw->dir[0] = '\0';
}

void swift_env(const swift_t* sw, char* out, size_t cap) {
  snprintf(out, cap,
           "AWS_ACCESS_KEY_ID='" SWIFT_ACCESS_KEY
           "' AWS_SECRET_ACCESS_KEY='" SWIFT_SECRET_KEY
           "' AWS_REGION='" SWIFT_REGION "' AWS_DEFAULT_REGION='" SWIFT_REGION
           "' AWS_CONFIG_FILE=/dev/null AWS_SHARED_CREDENTIALS_FILE=/dev/null"
           " AWS_EC2_METADATA_DISABLED=true AWS_ENDPOINT_URL='%s'",
           sw->endpoint);
}

cli_result_t swift_aws(const swift_t* sw, const char* args,
                       const char* stdin_bytes) {
  char env[512];
  size_t n = strlen(args) + 1024;
  char* cmd = malloc(n);
  cli_result_t r;
  cr_assert(cmd);
  swift_env(sw, env, sizeof(env));
  snprintf(cmd, n, "%s /usr/bin/aws --endpoint-url '%s' %s", env, sw->endpoint,
           args);
  r = cli_exec(cmd, stdin_bytes);
  free(cmd);
  return r;
}

void swift_pipe_env(const swift_t* sw, char* out, size_t cap) {
  size_t n;
  swift_env(sw, out, cap);
  n = strlen(out);
  snprintf(out + n, cap - n, " AWS_CONFIG_FILE=/nonexistent/config "
           "AWS_SHARED_CREDENTIALS_FILE=/nonexistent/credentials");
}

int swift_uploads_left(const swift_t* sw) {
  char args[256];
  cli_result_t r;
  int n = 0;
  const char* p;
  snprintf(args, sizeof(args), "s3api list-multipart-uploads --bucket %s --output json",
           sw->bucket);
  r = swift_aws(sw, args, NULL);
  cr_assert_eq(r.status, 0, "list-multipart-uploads: %s", r.err);
  for (p = r.out; (p = strstr(p, "\"UploadId\"")) != NULL; p++) n++;
  cli_result_free(&r);
  return n;
}

void swift_random_file(const char* path, size_t n, uint64_t seed) {
  char* b = malloc(n ? n : 1);
  size_t i;
  uint64_t x = seed | 1;
  cr_assert(b);
  for (i = 0; i < n; i++) {
    x ^= x << 13, x ^= x >> 7, x ^= x << 17;
    b[i] = (char)(x >> 24);
  }
  cr_assert_eq(cli_write_file(path, b, n), 0);
  free(b);
}

void swift_sha256_file(const char* path, char out[65]) {
  size_t n = 0;
  char* b = cli_read_file(path, &n);
  cr_assert(b, "cannot read %s", path);
  pipe__sigv4_sha256_hex(b, n, out);
  free(b);
}
