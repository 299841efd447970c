/* pipe csv2json [FILE|-] [-o FILE|-] [options] */
#include <getopt.h>
#include <stdio.h>
#include <string.h>
#include <uv.h>

#include "cli.h"

void help_csv2json(FILE* out) {
  fputs(
      "usage: pipe csv2json [FILE|-] [-o OUT|-] [options]\n\n"
      "Converts CSV (RFC 4180 and real-world: quotes, \"\" escapes, newlines in\n"
      "quotes, LF or CRLF, BOM, blank lines) to JSON, streaming, in bounded\n"
      "memory. Reads FILE or standard input; writes standard output or OUT\n"
      "(written to a temporary file and renamed when complete).\n\n"
      "options:\n"
      "  -o, --output OUT     write to OUT instead of standard output\n"
      "  -d, --delimiter C    field delimiter: one byte, or '\\t' / 'tab' "
      "(default ',')\n"
      "      --no-header      the first row is data; keys are \"1\",\"2\",...\n"
      "      --infer          unquoted numbers, true/false and empty fields "
      "become\n"
      "                       JSON numbers, booleans and null (default: all "
      "strings)\n"
      "      --array          one JSON array instead of NDJSON (one object per "
      "line)\n"
      "      --ragged         accept rows with fewer fields (keys omitted) or "
      "more\n"
      "                       (extra fields under keys _N, N = column number)\n"
      "      --progress       show a progress bar on stderr (default: when "
      "stderr\n"
      "      --no-progress    is a terminal and the input is a file)\n"
      "  -h, --help           this help\n\n"
      "Errors name the line and column (pipe: FILE:LINE:COL: message) and exit 1.\n",
      out);
}

static int parse_delim(const char* s, uint8_t* out) {
  if (strcmp(s, "\\t") == 0 || strcmp(s, "tab") == 0) {
    *out = '\t';
    return 0;
  }
  if (strlen(s) != 1) return -1;
  if (s[0] == '"' || s[0] == '\n' || s[0] == '\r') return -1;
  *out = (uint8_t)s[0];
  return 0;
}

enum { OPT_NO_HEADER = 256, OPT_INFER, OPT_ARRAY, OPT_RAGGED, OPT_PROGRESS,
       OPT_NO_PROGRESS };

int cmd_csv2json(int argc, char** argv) {
  static const struct option longopts[] = {
      {"output", required_argument, NULL, 'o'},
      {"delimiter", required_argument, NULL, 'd'},
      {"no-header", no_argument, NULL, OPT_NO_HEADER},
      {"infer", no_argument, NULL, OPT_INFER},
      {"array", no_argument, NULL, OPT_ARRAY},
      {"ragged", no_argument, NULL, OPT_RAGGED},
      {"progress", no_argument, NULL, OPT_PROGRESS},
      {"no-progress", no_argument, NULL, OPT_NO_PROGRESS},
      {"help", no_argument, NULL, 'h'},
      {NULL, 0, NULL, 0}};
  pipe_csv2json_config_t cfg;
  cli_common_t c = {NULL, NULL, -1};
  uv_loop_t loop;
  pipe_pipeline_t* pl;
  pipe_stage_t* src;
  int opt, rc;

  memset(&cfg, 0, sizeof(cfg));
  optind = 1;
  opterr = 0;
  while ((opt = getopt_long(argc, argv, ":o:d:h", longopts, NULL)) != -1) {
    switch (opt) {
      case 'o': c.output = optarg; break;
      case 'd':
        if (parse_delim(optarg, &cfg.delimiter) < 0)
          return cli_usage_error("csv2json",
                                 "bad delimiter '%s': give one byte (not a "
                                 "quote or newline), or '\\t'",
                                 optarg);
        break;
      case OPT_NO_HEADER: cfg.no_header = 1; break;
      case OPT_INFER: cfg.infer = 1; break;
      case OPT_ARRAY: cfg.array = 1; break;
      case OPT_RAGGED: cfg.ragged = 1; break;
      case OPT_PROGRESS: c.progress = 1; break;
      case OPT_NO_PROGRESS: c.progress = 0; break;
      case 'h': help_csv2json(stdout); return CLI_EXIT_OK;
      case ':':
        return cli_usage_error("csv2json", "option '%s' needs a value",
                               argv[optind - 1]);
      default:
        return cli_usage_error("csv2json", "unknown option '%s'",
                               argv[optind - 1]);
    }
  }
  if (optind < argc) c.input = argv[optind++];
  if (optind < argc)
    return cli_usage_error("csv2json", "unexpected argument '%s'", argv[optind]);

  uv_loop_init(&loop);
  rc = pipe_pipeline_new(&loop, NULL, &pl);
  if (rc < 0) return CLI_EXIT_IO;
  if (cli_add_source(pl, &c, &src) < 0 ||
      pipe_csv2json_new(pl, &cfg, NULL) < 0 || cli_add_sink(pl, &c) < 0) {
    pipe_pipeline_free(pl);
    uv_run(&loop, UV_RUN_DEFAULT);
    uv_loop_close(&loop);
    return CLI_EXIT_IO;
  }
  rc = cli_run(&loop, pl, &c, src);
  uv_loop_close(&loop);
  return rc;
}
