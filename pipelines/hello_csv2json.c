/* The README's library hello-world: CSV file in, NDJSON file out, using
 * only the public headers. Built by CMake and run by the tests.
 *   hello_csv2json IN.csv OUT.json */
#include <pipe.h>
#include <stdio.h>
#include <uv.h>

static void done(pipe_pipeline_t* pl, int status) {
  if (status < 0) fprintf(stderr, "%s\n", pipe_pipeline_error(pl)->msg);
}

int main(int argc, char** argv) {
  uv_loop_t* loop = uv_default_loop();
  pipe_pipeline_t* pl;
  pipe_file_source_config_t in = {argc > 1 ? argv[1] : "big.csv"};
  pipe_file_sink_config_t out = {.path = argc > 2 ? argv[2] : "big.json", .fsync = 1};
  const pipe_error_t* err;
  int status;
  pipe_pipeline_new(loop, NULL, &pl);
  pipe_file_source_new(pl, &in, NULL);
  pipe_csv2json_new(pl, NULL, NULL); /* NULL: default options */
  pipe_file_sink_new(pl, &out, NULL);
  pipe_pipeline_run(pl, done);
  uv_run(loop, UV_RUN_DEFAULT);
  err = pipe_pipeline_error(pl);
  status = err->code;
  pipe_pipeline_free(pl);
  return status == 0 ? 0 : 1;
}
