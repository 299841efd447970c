/* The commands' table and the runner shared by one-stage commands:
 *
 *   pipe NAME [FILE|-] [-o OUT|-] [--checksum ALG] [--progress] [options]
 *
 * getopt recognizes the stage's options only to tell them from the input
 * path; their meaning and validation belong to the library's stage parser
 * (pipe_spec_add_stage), so `pipe csv2json -d ';'` and
 * `pipe run 'x | csv2json -d ";" | y'` accept exactly the same words. */
#include <stdlib.h>
#include <string.h>

#include "cli.h"
#include "pipe/spec.h"

enum { OPT_CHECKSUM = 256, OPT_PROGRESS, OPT_NO_PROGRESS, OPT_STAGE = 512 };

#define COMMON_HELP                                                          \
  "  -o, --output OUT     write OUT instead of standard output (written to a\n" \
  "                       temporary file, renamed into place when complete)\n" \
  "      --checksum ALG   print the sha256, md5 or crc32c of the output on\n" \
  "                       stderr at the end (`SHA256 (OUT) = hex`)\n"         \
  "      --progress       progress bar on stderr (default: when stderr is a\n" \
  "      --no-progress    terminal, the input is a file and the output does\n" \
  "                       not go to that terminal)\n"                        \
  "      --endpoint-url, --region, --profile, --part-size... as `pipe cp`\n" \
  "                       for s3:// as FILE or OUT\n"                        \
  "  -h, --help           this help\n"

static const struct option csv2json_opts[] = {
    {"delimiter", required_argument, NULL, 'd'},
    {"no-header", no_argument, NULL, OPT_STAGE + 1},
    {"infer", no_argument, NULL, OPT_STAGE + 2},
    {"array", no_argument, NULL, OPT_STAGE + 3},
    {"ragged", no_argument, NULL, OPT_STAGE + 4},
    {NULL, 0, NULL, 0}};

static const struct option gzip_opts[] = {
    {"level", required_argument, NULL, OPT_STAGE + 1},
    {"threads", required_argument, NULL, OPT_STAGE + 2},
    {"block-size", required_argument, NULL, OPT_STAGE + 3},
    {NULL, 0, NULL, 0}};

static const struct option no_opts[] = {{NULL, 0, NULL, 0}};

const cli_command_t cli_commands[] = {
    {"csv2json", "convert CSV to NDJSON or a JSON array",
     "Converts CSV (RFC 4180 and real-world: quotes, \"\" escapes, newlines in\n"
     "quotes, LF, CRLF or CR, BOM, blank lines) to JSON, streaming, in bounded\n"
     "memory. Gzip'd input (a .gz name or the gzip magic) is decompressed;\n"
     "an OUT ending in .gz is gzip-compressed.\n\n"
     "options:\n" COMMON_HELP
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
     "                       (extra fields under keys _N, N = column number)\n\n"
     "Errors name the line and column (pipe: FILE:LINE:COL: message; COL is\n"
     "the field number) and exit 1.\n",
     csv2json_opts, "d:", cli_stage_command},
    {"gzip", "compress to gzip, in parallel",
     "Compresses to standard gzip (RFC 1952) on all cores: blocks are\n"
     "compressed in parallel and joined into one gzip member (as pigz\n"
     "does), which every decoder reads whole: gzip, pigz, zlib, Python,\n"
     "Node, browsers (Content-Encoding: gzip, DecompressionStream).\n"
     "Levels 1-3 use ISA-L (fastest), 4-9 libdeflate.\n\n"
     "options:\n" COMMON_HELP
     "  -1 .. -9             compression level, as gzip's (default 6)\n"
     "      --level N        the same\n"
     "      --threads N      compression jobs in parallel, 0..256 (default 0:\n"
     "                       one per CPU)\n"
     "      --block-size N   input bytes per gzip member, 1K..64M (suffix K, M;\n"
     "                       default 1M)\n",
     gzip_opts, "123456789", cli_stage_command},
    {"gunzip", "decompress gzip (one or more members)",
     "Decompresses gzip (one or more members). CRC and length are checked;\n"
     "truncated or corrupt input, or trailing bytes that are not gzip, is an\n"
     "error naming the byte offset (exit 1), never a silent short output.\n\n"
     "options:\n" COMMON_HELP,
     no_opts, "", cli_stage_command},
    {"run", "run a pipeline from a one-line spec",
     "usage: pipe run [--checksum ALG] [--progress] 'SOURCE | STAGE... | SINK'\n\n"
     "SOURCE and SINK are a path, '-' (stdin/stdout) or s3://bucket/key.\n"
     "Stages and options:\n"
     "  csv2json [-d C] [--no-header] [--infer] [--array] [--ragged]\n"
     "  gzip [-1..-9] [--threads N] [--block-size N]\n"
     "  gunzip\n"
     "  hash [sha256|md5|crc32c]      (digest printed on stderr at the end)\n\n"
     "example: pipe run 'big.csv | csv2json --infer | gzip -9 | out.json.gz'\n"
     "A mistake in the spec is shown with a caret under the offending word.\n\n"
     CLI_S3_HELP,
     no_opts, "", cli_run_command},
    {"cp", "copy between files, standard streams and S3",
     "usage: pipe cp [options] SRC DST\n\n"
     "SRC and DST are each a path, '-' (standard input / output) or\n"
     "s3://bucket/key. An upload below the part size is one PutObject, a\n"
     "bigger one a multipart upload with --concurrency parts in flight; every\n"
     "request carries Content-MD5 and the final ETag is checked. At the end\n"
     "the receipt is printed on stderr: bytes, ETag and the SHA-256 of what\n"
     "was stored, as `SHA256 (NAME) = hex` (sha256sum -c checks a download\n"
     "named NAME, the key's last segment). Downloads of objects bigger than a\n"
     "part are ranged GETs in parallel; the length (and a plain-MD5 ETag) is\n"
     "checked. Failed or interrupted uploads are aborted (none is left\n"
     "behind). Transient errors (5xx, SlowDown, resets, refused connections,\n"
     "timeouts) are retried with exponential backoff.\n\n"
     "options:\n"
     "      --checksum ALG   print the sha256, md5 or crc32c of the data\n"
     "      --progress / --no-progress\n"
     CLI_S3_HELP
     "\nexit status: 0 ok, 2 usage, 3 local I/O, 4 S3 refused (credentials,\n"
     "access denied, no such bucket or key), 5 S3 unreachable after retries,\n"
     "6 integrity (ETag or length mismatch), 130 interrupted.\n",
     no_opts, "", cli_cp_command},
    {"s3", "list objects, clean up multipart uploads",
     "usage: pipe s3 ls s3://bucket[/prefix] [S3 options]\n"
     "       pipe s3 cleanup s3://bucket[/prefix] [--older-than DURATION] [S3 options]\n\n"
     "ls lists the objects under the prefix (date, size, key). cleanup lists\n"
     "the multipart uploads under the prefix and aborts them, or only those\n"
     "initiated more than DURATION ago (90s, 30m, 2h, 7d): what an upload that\n"
     "could not be aborted (the server was gone) leaves behind.\n\n"
     CLI_S3_HELP,
     no_opts, "", cli_s3_command},
    {"serve", "HTTP upload service: files stream through pipelines into a store",
     "usage: pipe serve [--listen HOST:PORT] [--store DIR] [options]\n\n"
     "Routes: PUT/GET/HEAD /v1/objects/KEY[?pipeline=SPEC], POST /v1/uploads\n"
     "(multipart/form-data)[?pipeline=SPEC], /healthz, /readyz, /metrics, / "
     "(upload page).\n"
     "SPEC is transforms only, e.g. 'csv2json --infer | gzip'.\n\n"
     "options:\n"
     "  --listen HOST:PORT       default 127.0.0.1:8080 (env PIPE_LISTEN); port 0: "
     "any\n"
     "  --port-file FILE         write the bound port to FILE\n"
     "  --store DIR|s3://BUCKET[/PREFIX]  local object directory (default\n"
     "                           ./store), or an S3 bucket: S3 settings as for\n"
     "                           pipe cp (--endpoint-url, --region, --profile,\n"
     "                           --ca-bundle, --no-verify-ssl, --max-attempts,\n"
     "                           --retry-timeout, --part-size, --concurrency,\n"
     "                           AWS_* environment, ~/.aws files)\n"
     "  --auth-token-file FILE   one bearer token per line; required for /v1/\n"
     "  --insecure-no-auth       allow a non-loopback --listen without tokens\n"
     "  --max-body-size BYTES    request body (default 64G, 0: none)\n"
     "  --max-file-size BYTES    one object as received (default none)\n"
     "  --max-header-size BYTES  request head (default 32K: 431 above)\n"
     "  --max-part-header-size BYTES, --max-files N, --max-fields N,\n"
     "  --max-parts N, --max-field-size BYTES (default 1M)   multipart limits\n"
     "  --max-memory BYTES       worst-case buffers of all uploads (503 above;\n"
     "                           default 1G, 0: none)\n"
     "  --max-uploads N          uploads in flight (503 above)\n"
     "  --max-cpu-jobs N         CPU jobs (gzip blocks) of all uploads on the\n"
     "                           thread pool at once; more wait their turn\n"
     "                           (default 0: min(CPUs, UV_THREADPOOL_SIZE - 1),\n"
     "                           a pool thread left for file I/O)\n"
     "  --header-timeout SECS    request head must arrive within (default 10)\n"
     "  --idle-timeout SECS      close a connection silent that long (default "
     "60)\n"
     "  --max-connections N      connections open at once (default 1024, 0: "
     "none);\n"
     "                           at the cap the longest idle keep-alive one is "
     "closed\n"
     "                           for a new one; with none idle, 503 "
     "(Retry-After: 1)\n"
     "  --grace SECS             on SIGTERM/SIGINT, let uploads finish (default "
     "30)\n"
     "  --workers N              N processes sharing the socket, restarted if "
     "they crash;\n"
     "                           --max-memory, --max-uploads and "
     "--max-connections\n"
     "                           are the server's, split evenly (each worker "
     "1/N,\n"
     "                           at least 1); --max-cpu-jobs is per process;\n"
     "                           /metrics answers for the worker reached\n"
     "Sizes take K, M, G, T suffixes (binary). Logs: JSON lines on stderr.\n",
     no_opts, "", cli_serve_command},
};
const size_t cli_ncommands = sizeof(cli_commands) / sizeof(cli_commands[0]);

/* argv words for the stage parser, built while getopt walks argv. */
typedef struct words_s {
  char* v[64];
  char own[64][64]; /* storage for words we compose ("--level", "-6") */
  int n;
} words_t;

static int words_add(words_t* w, const char* prefix, const char* word) {
  if (w->n >= 63) return -1;
  if (prefix != NULL) {
    snprintf(w->own[w->n], sizeof(w->own[0]), "%s%s", prefix, word);
    w->v[w->n] = w->own[w->n];
  } else {
    w->v[w->n] = (char*)word;
  }
  w->n++;
  w->v[w->n] = NULL;
  return 0;
}

static const struct option* find_opt(const struct option* o, int val) {
  for (; o->name != NULL; o++)
    if (o->val == val) return o;
  return NULL;
}

/* The first word of argv that is a cluster of short options holding
 * letter c (for an error message), or NULL. */
static const char* short_word(int argc, char** argv, int c) {
  int i;
  for (i = 1; i < argc; i++) {
    const char* a = argv[i];
    if (strcmp(a, "--") == 0) break;
    if (a[0] == '-' && a[1] != '-' && a[1] != '\0' && strchr(a + 1, c))
      return a;
  }
  return NULL;
}

int cli_stage_command(const cli_command_t* cmd, int argc, char** argv) {
  struct option longopts[32];
  char shortopts[64];
  cli_common_t c = {NULL, NULL, NULL, -1, NULL};
  cli_s3_t s3o;
  char* args[256];
  int nargs;
  pipe_ctx_t* ctx = NULL;
  words_t w;
  uv_loop_t loop;
  pipe_pipeline_t* pl;
  pipe_error_t err;
  size_t n = 0, i;
  int opt, idx, r;
  const struct option common[] = {
      {"output", required_argument, NULL, 'o'},
      {"checksum", required_argument, NULL, OPT_CHECKSUM},
      {"progress", no_argument, NULL, OPT_PROGRESS},
      {"no-progress", no_argument, NULL, OPT_NO_PROGRESS},
      {"help", no_argument, NULL, 'h'}};

  for (i = 0; i < sizeof(common) / sizeof(common[0]); i++) longopts[n++] = common[i];
  for (i = 0; cmd->stage_opts[i].name != NULL; i++) longopts[n++] = cmd->stage_opts[i];
  memset(&longopts[n], 0, sizeof(longopts[0]));
  snprintf(shortopts, sizeof(shortopts), ":o:h%s", cmd->stage_short);

  /* S3 options are taken out first (getopt never sees them). */
  memset(&s3o, 0, sizeof(s3o));
  {
    int k, m;
    nargs = 0;
    for (k = 0; k < argc && nargs < 255; k++) {
      if (k > 0 && strcmp(argv[k], "--") == 0) {
        for (; k < argc && nargs < 255; k++) args[nargs++] = argv[k];
        break;
      }
      if (k > 0 && (m = cli_s3_option(cmd->name, argc, argv, &k, &s3o)) != 0) {
        if (m < 0) return CLI_EXIT_USAGE;
        continue;
      }
      args[nargs++] = argv[k];
    }
    args[nargs] = NULL;
    argc = nargs;
    argv = args;
  }
  memset(&w, 0, sizeof(w));
  words_add(&w, NULL, cmd->name);
  optind = 1;
  opterr = 0;
  while ((opt = getopt_long(argc, argv, shortopts, longopts, &idx)) != -1) {
    const struct option* so;
    switch (opt) {
      case 'o':
        if (optarg[0] == '\0')
          return cli_usage_error(cmd->name, "option '-o' needs a file name "
                                            "('-' for standard output)");
        c.output = optarg;
        continue;
      case OPT_CHECKSUM: c.checksum = optarg; continue;
      case OPT_PROGRESS: c.progress = 1; continue;
      case OPT_NO_PROGRESS: c.progress = 0; continue;
      case 'h':
        printf("usage: pipe %s [FILE|-] [-o OUT|-] [options]\n\n%s", cmd->name,
               cmd->usage);
        return CLI_EXIT_OK;
      case ':': /* optopt is the option's val for a long one too */
        if (strncmp(argv[optind - 1], "--", 2) != 0 && optopt != 0 &&
            optopt < OPT_CHECKSUM)
          return cli_usage_error(cmd->name, "option '-%c' needs a value",
                                 optopt);
        return cli_usage_error(cmd->name, "option '%s' needs a value",
                               argv[optind - 1]);
      case '?':
        /* A bad letter inside a cluster (-zz) leaves optind on that word
         * or just past it: name the letter and the word it is in, never
         * the word before (`--infer -zz` used to blame --infer). */
        if (optopt != 0 && optopt < OPT_CHECKSUM) {
          const char* word = short_word(argc, argv, optopt);
          if (word != NULL && strlen(word) > 2)
            return cli_usage_error(cmd->name, "unknown option '-%c' in '%s'",
                                   optopt, word);
          return cli_usage_error(cmd->name, "unknown option '-%c'", optopt);
        }
        return cli_usage_error(cmd->name, "unknown option '%s'",
                               argv[optind - 1]);
      default: break;
    }
    if (opt >= '1' && opt <= '9') { /* gzip -1..-9 */
      char d[2] = {(char)opt, 0};
      words_add(&w, "-", d);
      continue;
    }
    so = find_opt(cmd->stage_opts, opt);
    if (so == NULL) return cli_usage_error(cmd->name, "unknown option");
    words_add(&w, "--", so->name);
    if (so->has_arg) words_add(&w, NULL, optarg);
  }
  if (optind < argc) c.input = argv[optind++];
  if (optind < argc)
    return cli_usage_error(cmd->name, "unexpected argument '%s'", argv[optind]);

  memset(&err, 0, sizeof(err));
  uv_loop_init(&loop);
  if ((c.input && strncmp(c.input, "s3://", 5) == 0) ||
      (c.output && strncmp(c.output, "s3://", 5) == 0)) {
    r = cli_s3_ctx(&loop, &s3o, &ctx);
    if (r != 0) {
      uv_loop_close(&loop);
      return r;
    }
    c.ctx = ctx;
    r = pipe_pipeline_new_in(ctx, NULL, &pl);
  } else {
    r = pipe_pipeline_new(&loop, NULL, &pl);
  }
  if (r < 0) return CLI_EXIT_IO;
  if (c.input != NULL && strncmp(c.input, "s3://", 5) == 0) {
    pipe_s3_source_config_t sc;
    memset(&sc, 0, sizeof(sc));
    sc.url = c.input;
    sc.part_size = s3o.part_size;
    sc.concurrency = s3o.concurrency;
    r = pipe_s3_source_new(pl, &sc, NULL, &err);
    if (r < 0 && err.msg[0] != '\0') {
      fprintf(stderr, "pipe: %s\n", err.msg);
      pipe_pipeline_free(pl);
      uv_run(&loop, UV_RUN_DEFAULT);
      cli_s3_ctx_free(&loop, ctx);
      uv_loop_close(&loop);
      return r == PIPE_EUSAGE ? CLI_EXIT_USAGE : cli_exit_code(r);
    }
  } else if (c.input == NULL || strcmp(c.input, "-") == 0) {
    r = pipe_stdin_source_new(pl, NULL);
  } else {
    pipe_file_source_config_t fc = {c.input};
    r = pipe_file_source_new(pl, &fc, NULL);
  }
  /* gzip'd CSV is decompressed first: a .gz name always, other input when
   * it starts with the gzip magic (on stdin too). */
  if (r >= 0 && strcmp(cmd->name, "csv2json") == 0) {
    size_t len = c.input ? strlen(c.input) : 0;
    if (len > 3 && strcmp(c.input + len - 3, ".gz") == 0)
      r = pipe_gunzip_new(pl, NULL);
    else
      r = pipe_gunzip_auto_new(pl, NULL);
  }
  if (r >= 0) r = pipe_spec_add_stage(pl, w.n, w.v, NULL, &err);
  if (r == PIPE_EUSAGE) {
    pipe_pipeline_free(pl);
    uv_run(&loop, UV_RUN_DEFAULT);
    cli_s3_ctx_free(&loop, ctx);
    uv_loop_close(&loop);
    return cli_usage_error(cmd->name, "%s", err.msg);
  }
  /* `-o x.gz` compresses, as users expect from the extension. */
  if (r >= 0 && strcmp(cmd->name, "csv2json") == 0 && c.output != NULL) {
    size_t len = strlen(c.output);
    if (len > 3 && strcmp(c.output + len - 3, ".gz") == 0)
      r = pipe_gzip_new(pl, NULL, NULL);
  }
  if (r >= 0 && c.checksum != NULL) {
    pipe_hash_algo_t algo;
    if (pipe_hash_algo_parse(c.checksum, &algo) < 0) {
      pipe_pipeline_free(pl);
      uv_run(&loop, UV_RUN_DEFAULT);
      cli_s3_ctx_free(&loop, ctx);
      uv_loop_close(&loop);
      return cli_usage_error(cmd->name,
                             "unknown checksum '%s': use sha256, md5 or crc32c",
                             c.checksum);
    }
    r = pipe_hash_new(pl, algo, NULL);
  }
  if (r >= 0) {
    if (strncmp(c.output ? c.output : "", "s3://", 5) == 0) {
      pipe_s3_sink_config_t kc;
      memset(&kc, 0, sizeof(kc));
      kc.url = c.output;
      kc.size = -1;
      kc.part_size = s3o.part_size;
      kc.concurrency = s3o.concurrency;
      r = pipe_s3_sink_new(pl, &kc, NULL, &err);
      if (r < 0 && err.msg[0] != '\0') {
        fprintf(stderr, "pipe: %s\n", err.msg);
        pipe_pipeline_free(pl);
        uv_run(&loop, UV_RUN_DEFAULT);
        cli_s3_ctx_free(&loop, ctx);
        uv_loop_close(&loop);
        return r == PIPE_EUSAGE ? CLI_EXIT_USAGE : cli_exit_code(r);
      }
    } else if (c.output == NULL || strcmp(c.output, "-") == 0) {
      r = pipe_stdout_sink_new(pl, NULL);
    } else {
      pipe_file_sink_config_t fc = {.path = c.output, .fsync = 1};
      r = pipe_file_sink_new(pl, &fc, NULL);
    }
  }
  if (r < 0) {
    fprintf(stderr, "pipe: cannot set up the pipeline: %s\n", pipe_strerror(r));
    pipe_pipeline_free(pl);
    uv_run(&loop, UV_RUN_DEFAULT);
    cli_s3_ctx_free(&loop, ctx);
    uv_loop_close(&loop);
    return CLI_EXIT_IO;
  }
  r = cli_run(&loop, pl, &c);
  cli_s3_ctx_free(&loop, ctx);
  uv_loop_close(&loop);
  return r;
}

/* spec with " | hash ALGO" inserted before its last top-level '|' (the
 * one in front of the sink), skipping quoted text as the tokenizer does.
 * The spec has parsed already, so that '|' exists. malloc'd. */
static char* with_hash_before_sink(const char* spec, const char* algo) {
  size_t i, last = 0, len = strlen(spec), n;
  char quote = 0, *out;
  for (i = 0; i < len; i++) {
    char ch = spec[i];
    if (quote) {
      if (ch == '\\' && quote == '"' && i + 1 < len) i++;
      else if (ch == quote) quote = 0;
    } else if (ch == '\'' || ch == '"') {
      quote = ch;
    } else if (ch == '|') {
      last = i;
    }
  }
  n = len + strlen(algo) + 16;
  out = malloc(n);
  if (out == NULL) return NULL;
  snprintf(out, n, "%.*s| hash %s %s", (int)last, spec, algo, spec + last);
  return out;
}

int cli_run_command(const cli_command_t* cmd, int argc, char** argv) {
  cli_common_t c = {NULL, NULL, NULL, -1, NULL};
  cli_s3_t s3o;
  pipe_ctx_t* ctx = NULL;
  int m;
  pipe_spec_t* spec;
  pipe_error_t err;
  uv_loop_t loop;
  pipe_pipeline_t* pl;
  char shown[2048];
  int r;

  memset(&s3o, 0, sizeof(s3o));
  /* By hand, not getopt: the spec itself may start with '-' (stdin). */
  for (optind = 1; optind < argc; optind++) {
    const char* a = argv[optind];
    if (strcmp(a, "--checksum") == 0) {
      if (++optind >= argc)
        return cli_usage_error("run", "option '--checksum' needs a value");
      c.checksum = argv[optind];
    } else if (strncmp(a, "--checksum=", 11) == 0) {
      c.checksum = a + 11;
    } else if (strcmp(a, "--progress") == 0) {
      c.progress = 1;
    } else if (strcmp(a, "--no-progress") == 0) {
      c.progress = 0;
    } else if (strcmp(a, "-h") == 0 || strcmp(a, "--help") == 0) {
      printf("%s", cmd->usage);
      return CLI_EXIT_OK;
    } else if ((m = cli_s3_option("run", argc, argv, &optind, &s3o)) != 0) {
      if (m < 0) return CLI_EXIT_USAGE;
    } else if (strcmp(a, "--") == 0) {
      optind++;
      break;
    } else if (a[0] == '-' && a[1] == '-') {
      return cli_usage_error("run", "unknown option '%s'", a);
    } else {
      break;
    }
  }
  if (optind >= argc)
    return cli_usage_error("run", "missing the pipeline spec, e.g. "
                                  "'in.csv | csv2json | out.json'");
  if (optind + 1 < argc)
    return cli_usage_error("run", "give the spec as one quoted argument; "
                                  "unexpected '%s'", argv[optind + 1]);
  memset(&err, 0, sizeof(err));
  if (pipe_spec_parse(argv[optind], &spec, &err) < 0) {
    pipe_spec_format_error(argv[optind], &err, shown, sizeof(shown));
    fprintf(stderr, "pipe: run: %s\n%s", err.msg, shown);
    return CLI_EXIT_USAGE;
  }
  if (c.checksum != NULL) {
    /* --checksum hashes what reaches the sink: the same as writing
     * `| hash ALG` before the sink, so that is what we run. */
    pipe_hash_algo_t algo;
    char* text;
    if (pipe_hash_algo_parse(c.checksum, &algo) < 0) {
      pipe_spec_free(spec);
      return cli_usage_error("run", "unknown checksum '%s': use sha256, md5 or crc32c",
                             c.checksum);
    }
    text = with_hash_before_sink(argv[optind], pipe_hash_algo_name(algo));
    pipe_spec_free(spec);
    r = text ? pipe_spec_parse(text, &spec, &err) : PIPE_ENOMEM;
    free(text);
    if (r < 0) {
      fprintf(stderr, "pipe: run: %s\n", err.msg[0] ? err.msg : pipe_strerror(r));
      return CLI_EXIT_USAGE;
    }
  }
  c.input = pipe_spec_source(spec);
  c.output = pipe_spec_sink(spec);
  uv_loop_init(&loop);
  /* Every spec runs in a context: s3:// stages find their client there. */
  if (strncmp(c.input, "s3://", 5) == 0 || strncmp(c.output, "s3://", 5) == 0)
    r = cli_s3_ctx(&loop, &s3o, &ctx);
  else
    r = pipe_ctx_new(&loop, &ctx) < 0 ? CLI_EXIT_IO : 0;
  if (r == 0) cli_ctx_cpu_budget(ctx); /* one pipeline: honour --threads */
  if (r != 0) {
    uv_loop_close(&loop);
    pipe_spec_free(spec);
    return r;
  }
  c.ctx = ctx;
  r = pipe_pipeline_new_in(ctx, NULL, &pl);
  if (r >= 0) r = pipe_spec_build(spec, pl, &err);
  if (r < 0) {
    pipe_pipeline_free(pl);
    uv_run(&loop, UV_RUN_DEFAULT);
    cli_s3_ctx_free(&loop, ctx);
    uv_loop_close(&loop);
    if (r == PIPE_EUSAGE) {
      if (err.has_offset) {
        pipe_spec_format_error(argv[optind], &err, shown, sizeof(shown));
        fprintf(stderr, "pipe: run: %s\n%s", err.msg, shown);
      } else {
        fprintf(stderr, "pipe: run: %s\n", err.msg);
      }
      pipe_spec_free(spec);
      return CLI_EXIT_USAGE;
    }
    fprintf(stderr, "pipe: run: %s\n", err.msg[0] ? err.msg : pipe_strerror(r));
    pipe_spec_free(spec);
    r = cli_exit_code(r);
    return r == CLI_EXIT_S3 || r == CLI_EXIT_NET ? r : CLI_EXIT_IO;
  }
  r = cli_run(&loop, pl, &c);
  cli_s3_ctx_free(&loop, ctx);
  uv_loop_close(&loop);
  pipe_spec_free(spec);
  return r;
}
