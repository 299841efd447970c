#include "support/cli_exec.h"

#include <dirent.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

char* cli_read_file(const char* path, size_t* len) {
  FILE* f = fopen(path, "rb");
  char* buf;
  long n;
  if (f == NULL) return NULL;
  fseek(f, 0, SEEK_END);
  n = ftell(f);
  fseek(f, 0, SEEK_SET);
  buf = malloc((size_t)n + 1);
  if (n > 0 && fread(buf, 1, (size_t)n, f) != (size_t)n) {
    free(buf);
    fclose(f);
    return NULL;
  }
  buf[n] = 0;
  fclose(f);
  if (len) *len = (size_t)n;
  return buf;
}

int cli_write_file(const char* path, const void* data, size_t len) {
  FILE* f = fopen(path, "wb");
  if (f == NULL) return -1;
  if (len > 0 && fwrite(data, 1, len, f) != len) {
    fclose(f);
    return -1;
  }
  return fclose(f);
}

char* cli_tmpdir(void) {
  char tmpl[] = "/tmp/pipe-test-XXXXXX";
  char* d = mkdtemp(tmpl);
  return d ? strdup(d) : NULL;
}

int cli_count_entries(const char* dir) {
  DIR* d = opendir(dir);
  struct dirent* e;
  int n = 0;
  if (d == NULL) return -1;
  while ((e = readdir(d)) != NULL)
    if (strcmp(e->d_name, ".") && strcmp(e->d_name, "..")) n++;
  closedir(d);
  return n;
}

cli_result_t cli_exec(const char* cmd, const char* stdin_bytes) {
  cli_result_t r = {0};
  char* dir = cli_tmpdir();
  char in[256], out[256], err[256];
  char* full;
  size_t n;
  int st;
  snprintf(in, sizeof(in), "%s/stdin", dir);
  snprintf(out, sizeof(out), "%s/stdout", dir);
  snprintf(err, sizeof(err), "%s/stderr", dir);
  cli_write_file(in, stdin_bytes ? stdin_bytes : "",
                 stdin_bytes ? strlen(stdin_bytes) : 0);
  n = strlen(cmd) + 1024;
  full = malloc(n);
  snprintf(full, n,
           "PIPE='%s' DATA='%s'; export PIPE DATA; (%s) <'%s' >'%s' 2>'%s'",
           PIPE_BIN, PIPE_TEST_DATA, cmd, in, out, err);
  st = system(full);
  free(full);
  r.status = WIFEXITED(st) ? WEXITSTATUS(st) : 128 + WTERMSIG(st);
  r.out = cli_read_file(out, &r.out_len);
  r.err = cli_read_file(err, NULL);
  unlink(in);
  unlink(out);
  unlink(err);
  rmdir(dir);
  free(dir);
  return r;
}

void cli_result_free(cli_result_t* r) {
  free(r->out);
  free(r->err);
  r->out = r->err = NULL;
}

void cli_rmtree(const char* dir) {
  char cmd[512];
  snprintf(cmd, sizeof(cmd), "rm -rf '%s'", dir);
  if (system(cmd) != 0) fprintf(stderr, "cannot remove %s\n", dir);
}
