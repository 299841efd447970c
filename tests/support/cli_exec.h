/* Runs the real `pipe` binary (or any shell command) and captures output. */
#ifndef TESTS_SUPPORT_CLI_EXEC_H
#define TESTS_SUPPORT_CLI_EXEC_H

#include <stddef.h>

typedef struct cli_result_s {
  int status;  /* exit status, or 128+signal */
  char* out;   /* stdout, NUL-terminated (malloc'd) */
  size_t out_len;
  char* err;   /* stderr, NUL-terminated (malloc'd) */
} cli_result_t;

/* Runs `sh -c CMD` where "$PIPE" is the pipe binary and "$DATA" the test
 * data folder, with optional stdin bytes. */
cli_result_t cli_exec(const char* cmd, const char* stdin_bytes);
void cli_result_free(cli_result_t* r);

/* A fresh empty directory under /tmp (malloc'd path). */
char* cli_tmpdir(void);
/* Writes a file; returns 0. */
int cli_write_file(const char* path, const void* data, size_t len);
/* Reads a whole file (malloc'd, NUL-terminated) or NULL. */
char* cli_read_file(const char* path, size_t* len);
/* Removes a directory and what is in it (rm -rf). */
void cli_rmtree(const char* dir);
/* Number of entries in a directory except . and .. */
int cli_count_entries(const char* dir);

#endif
