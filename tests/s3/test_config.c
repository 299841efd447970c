/* S3 configuration: aws-cli's precedence (options, environment, the
 * credentials file, the config file, defaults), profiles as each file names
 * them, the errors (and that none of them shows a secret), in temporary
 * HOME directories with explicit environment arrays. */
#include <criterion/criterion.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "pipe.h"
#include "support/cli_exec.h"

#define SECRET "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY"

typedef struct home_s {
  char* dir;
} home_t;

static home_t home_new(const char* credentials, const char* config) {
  home_t h = {cli_tmpdir()};
  char p[512];
  cr_assert(h.dir);
  snprintf(p, sizeof(p), "%s/.aws", h.dir);
  cr_assert_eq(mkdir(p, 0700), 0);
  if (credentials) {
    snprintf(p, sizeof(p), "%s/.aws/credentials", h.dir);
    cr_assert_eq(cli_write_file(p, credentials, strlen(credentials)), 0);
  }
  if (config) {
    snprintf(p, sizeof(p), "%s/.aws/config", h.dir);
    cr_assert_eq(cli_write_file(p, config, strlen(config)), 0);
  }
  return h;
}

static void home_free(home_t* h) {
  cli_rmtree(h->dir);
  free(h->dir);
}

static int load(pipe_s3_config_t* c, const pipe_s3_options_t* o,
                const char* const* env, const home_t* h, pipe_error_t* e) {
  static const char* const none[] = {NULL};
  memset(e, 0, sizeof(*e));
  return pipe_s3_config_load(c, o, env ? env : none, h ? h->dir : NULL, e);
}

static void expect_str(const char* got, const char* want, const char* what) {
  if (!want) {
    cr_expect_null(got, "%s: got %s, want none", what, got ? got : "");
  } else {
    cr_expect_not_null(got, "%s: none, want %s", what, want);
    if (got) cr_expect_str_eq(got, want, "%s", what);
  }
}

static void expect_empty(const pipe_s3_config_t* c) {
  static const pipe_s3_config_t zero;
  cr_expect_eq(memcmp(c, &zero, sizeof(zero)), 0, "cfg left empty on error");
}

static const char creds_file[] =
    "[default]\n"
    "aws_access_key_id = FILEDEFAULT\n"
    "aws_secret_access_key = file-default-secret\n"
    "\n"
    "[work]\n"
    "aws_access_key_id = FILEWORK\n"
    "aws_secret_access_key = file-work-secret\n"
    "aws_session_token = file-work-token\n"
    "region = eu-north-1\n";

static const char config_file[] =
    "[default]\n"
    "region = eu-west-1\n"
    "\n"
    "[profile work]\n"
    "region = ap-south-1\n"
    "endpoint_url = http://127.0.0.1:9000\n"
    "ca_bundle = /etc/work-ca.pem\n"
    "max_attempts = 3\n"
    "aws_access_key_id = CONFIGWORK\n"
    "aws_secret_access_key = config-work-secret\n"
    "\n"
    "[profile cfgonly]\n"
    "aws_access_key_id = CFGONLY\n"
    "aws_secret_access_key = cfg-only-secret\n"
    "aws_session_token = cfg-only-token\n"
    "region = sa-east-1\n";

TestSuite(s3_config);

Test(s3_config, defaults_without_files_or_environment) {
  pipe_s3_config_t c;
  pipe_error_t e;
  home_t h = home_new(NULL, NULL);
  cr_assert_eq(load(&c, NULL, NULL, &h, &e), 0, "%s", e.msg);
  expect_str(c.access_key_id, NULL, "key id");
  expect_str(c.secret_access_key, NULL, "secret");
  expect_str(c.session_token, NULL, "token");
  expect_str(c.region, "us-east-1", "region");
  expect_str(c.endpoint_url, NULL, "endpoint");
  expect_str(c.ca_bundle, NULL, "ca bundle");
  expect_str(c.profile, "default", "profile");
  cr_expect_eq(c.verify_ssl, 1);
  cr_expect_eq(c.max_attempts, PIPE_S3_DEFAULT_MAX_ATTEMPTS);
  cr_expect_eq(c.retry_timeout, PIPE_S3_DEFAULT_RETRY_TIMEOUT);
  pipe_s3_config_free(&c);
  expect_empty(&c);
  home_free(&h);
}

Test(s3_config, the_default_profile_comes_from_both_files) {
  pipe_s3_config_t c;
  pipe_error_t e;
  home_t h = home_new(creds_file, config_file);
  cr_assert_eq(load(&c, NULL, NULL, &h, &e), 0, "%s", e.msg);
  expect_str(c.access_key_id, "FILEDEFAULT", "key id");
  expect_str(c.secret_access_key, "file-default-secret", "secret");
  expect_str(c.region, "eu-west-1", "region from config [default]");
  expect_str(c.profile, "default", "profile");
  pipe_s3_config_free(&c);
  home_free(&h);
}

Test(s3_config, options_win_over_environment_and_files) {
  const char* env[] = {"AWS_REGION=env-region", "AWS_ENDPOINT_URL=http://env",
                       "AWS_CA_BUNDLE=/env/ca.pem", "AWS_MAX_ATTEMPTS=7", NULL};
  pipe_s3_options_t o = {.profile = "work",
                         .region = "opt-region",
                         .endpoint_url = "https://opt.example:8443",
                         .ca_bundle = "/opt/ca.pem",
                         .no_verify_ssl = 1,
                         .max_attempts = 2,
                         .retry_timeout = 30};
  pipe_s3_config_t c;
  pipe_error_t e;
  home_t h = home_new(creds_file, config_file);
  cr_assert_eq(load(&c, &o, env, &h, &e), 0, "%s", e.msg);
  expect_str(c.region, "opt-region", "region");
  expect_str(c.endpoint_url, "https://opt.example:8443", "endpoint");
  expect_str(c.ca_bundle, "/opt/ca.pem", "ca bundle");
  expect_str(c.profile, "work", "profile");
  cr_expect_eq(c.verify_ssl, 0);
  cr_expect_eq(c.max_attempts, 2);
  cr_expect_eq(c.retry_timeout, 30.0);
  pipe_s3_config_free(&c);
  home_free(&h);
}

Test(s3_config, environment_wins_over_the_profile_named_by_aws_profile) {
  const char* env[] = {"AWS_PROFILE=work",
                       "AWS_ACCESS_KEY_ID=ENVKEY",
                       "AWS_SECRET_ACCESS_KEY=env-secret",
                       "AWS_SESSION_TOKEN=env-token",
                       "AWS_DEFAULT_REGION=env-default-region",
                       "AWS_ENDPOINT_URL=http://env:1",
                       "AWS_CA_BUNDLE=/env/ca.pem",
                       "AWS_MAX_ATTEMPTS=5",
                       NULL};
  pipe_s3_config_t c;
  pipe_error_t e;
  home_t h = home_new(creds_file, config_file);
  cr_assert_eq(load(&c, NULL, env, &h, &e), 0, "%s", e.msg);
  expect_str(c.profile, "work", "profile");
  expect_str(c.access_key_id, "ENVKEY", "key id");
  expect_str(c.secret_access_key, "env-secret", "secret");
  expect_str(c.session_token, "env-token", "token");
  expect_str(c.region, "env-default-region", "region");
  expect_str(c.endpoint_url, "http://env:1", "endpoint");
  expect_str(c.ca_bundle, "/env/ca.pem", "ca bundle");
  cr_expect_eq(c.max_attempts, 5);
  pipe_s3_config_free(&c);
  home_free(&h);
}

Test(s3_config, an_explicit_profile_ignores_environment_credentials_only) {
  const char* env[] = {
      "AWS_ACCESS_KEY_ID=ENVKEY", "AWS_SECRET_ACCESS_KEY=env-secret",
      "AWS_SESSION_TOKEN=env-token", "AWS_REGION=env-region", NULL};
  pipe_s3_options_t o = {.profile = "work"};
  pipe_s3_config_t c;
  pipe_error_t e;
  home_t h = home_new(creds_file, config_file);
  cr_assert_eq(load(&c, &o, env, &h, &e), 0, "%s", e.msg);
  expect_str(c.access_key_id, "FILEWORK", "key id from the credentials file");
  expect_str(c.secret_access_key, "file-work-secret", "secret");
  expect_str(c.session_token, "file-work-token", "token from the same file");
  expect_str(c.region, "env-region", "the environment still sets the region");
  pipe_s3_config_free(&c);
  home_free(&h);
}

Test(s3_config, the_credentials_file_wins_and_settings_merge_both_files) {
  pipe_s3_options_t o = {.profile = "work"};
  pipe_s3_config_t c;
  pipe_error_t e;
  home_t h = home_new(creds_file, config_file);
  cr_assert_eq(load(&c, &o, NULL, &h, &e), 0, "%s", e.msg);
  expect_str(c.access_key_id, "FILEWORK", "key id");
  expect_str(c.region, "eu-north-1", "region: credentials file over config");
  expect_str(c.endpoint_url, "http://127.0.0.1:9000", "endpoint from config");
  expect_str(c.ca_bundle, "/etc/work-ca.pem", "ca bundle from config");
  cr_expect_eq(c.max_attempts, 3, "max_attempts from config");
  pipe_s3_config_free(&c);
  home_free(&h);
}

Test(s3_config, credentials_come_whole_from_the_config_file_when_only_there) {
  const char* env[] = {"AWS_PROFILE=cfgonly", "AWS_SESSION_TOKEN=lonely", NULL};
  pipe_s3_config_t c;
  pipe_error_t e;
  home_t h = home_new(creds_file, config_file);
  cr_assert_eq(load(&c, NULL, env, &h, &e), 0, "%s", e.msg);
  expect_str(c.access_key_id, "CFGONLY", "key id");
  expect_str(c.secret_access_key, "cfg-only-secret", "secret");
  expect_str(c.session_token, "cfg-only-token",
             "a token without env keys is not used");
  expect_str(c.region, "sa-east-1", "region");
  pipe_s3_config_free(&c);
  home_free(&h);
}

Test(s3_config, each_file_names_profiles_its_own_way) {
  /* "[x]" in config and "[profile y]" in credentials are not x and y. */
  static const char creds[] =
      "[profile y]\naws_access_key_id = A\naws_secret_access_key = B\n"
      "[z]\naws_access_key_id = ZK\naws_secret_access_key = ZS\n";
  static const char conf[] =
      "[x]\nregion = nowhere\n"
      "[profile z]\nregion = zz-1\n";
  pipe_s3_options_t o = {0};
  pipe_s3_config_t c;
  pipe_error_t e;
  home_t h = home_new(creds, conf);
  o.profile = "x";
  cr_expect_eq(load(&c, &o, NULL, &h, &e), PIPE_EUSAGE);
  o.profile = "y";
  cr_expect_eq(load(&c, &o, NULL, &h, &e), PIPE_EUSAGE);
  o.profile = "z";
  cr_assert_eq(load(&c, &o, NULL, &h, &e), 0, "%s", e.msg);
  expect_str(c.access_key_id, "ZK", "[z] in credentials");
  expect_str(c.region, "zz-1", "[profile z] in config");
  pipe_s3_config_free(&c);
  home_free(&h);
}

Test(s3_config, a_missing_profile_is_an_error_that_names_it) {
  const char* env[] = {"AWS_PROFILE=nosuch", "AWS_ACCESS_KEY_ID=K",
                       "AWS_SECRET_ACCESS_KEY=" SECRET, NULL};
  pipe_s3_options_t o = {.profile = "absent"};
  pipe_s3_config_t c;
  pipe_error_t e;
  home_t h = home_new(creds_file, config_file);
  cr_expect_eq(load(&c, &o, NULL, &h, &e), PIPE_EUSAGE);
  cr_expect_eq(e.code, PIPE_EUSAGE);
  cr_expect(strstr(e.msg, "(absent) could not be found"), "%s", e.msg);
  expect_empty(&c);
  cr_expect_eq(load(&c, NULL, env, &h, &e), PIPE_EUSAGE,
               "AWS_PROFILE names a missing profile: an error even with "
               "credentials in the environment");
  cr_expect(strstr(e.msg, "(nosuch)"), "%s", e.msg);
  cr_expect_null(strstr(e.msg, SECRET));
  expect_empty(&c);
  home_free(&h);
}

Test(s3_config, aws_max_attempts_and_its_errors) {
  const char* good[] = {"AWS_MAX_ATTEMPTS=1", NULL};
  const char* bad[] = {"AWS_MAX_ATTEMPTS=3x", NULL};
  const char* zero[] = {"AWS_MAX_ATTEMPTS=0", NULL};
  pipe_s3_options_t o = {.max_attempts = 9};
  pipe_s3_options_t neg = {.max_attempts = -1};
  pipe_s3_config_t c;
  pipe_error_t e;
  home_t h = home_new(NULL, "[default]\nmax_attempts = 4\n");
  home_t hb = home_new(NULL, "[default]\n\nmax_attempts = many\n");
  cr_assert_eq(load(&c, NULL, good, &h, &e), 0, "%s", e.msg);
  cr_expect_eq(c.max_attempts, 1, "the environment over the file");
  pipe_s3_config_free(&c);
  cr_assert_eq(load(&c, &o, good, &h, &e), 0, "%s", e.msg);
  cr_expect_eq(c.max_attempts, 9, "the option over the environment");
  pipe_s3_config_free(&c);
  cr_assert_eq(load(&c, NULL, NULL, &h, &e), 0, "%s", e.msg);
  cr_expect_eq(c.max_attempts, 4, "the file");
  pipe_s3_config_free(&c);
  cr_expect_eq(load(&c, NULL, bad, &h, &e), PIPE_EUSAGE);
  cr_expect(strstr(e.msg, "AWS_MAX_ATTEMPTS must be a whole number"), "%s",
            e.msg);
  cr_expect_eq(load(&c, NULL, zero, &h, &e), PIPE_EUSAGE);
  cr_expect_eq(load(&c, &neg, NULL, &h, &e), PIPE_EUSAGE);
  cr_expect_eq(load(&c, NULL, NULL, &hb, &e), PIPE_EUSAGE);
  cr_expect(strstr(e.msg, "/.aws/config:3: max_attempts must be"), "%s", e.msg);
  expect_empty(&c);
  home_free(&h);
  home_free(&hb);
}

Test(s3_config, comments_blanks_case_and_nested_settings) {
  static const char conf[] =
      "# a comment\n"
      "; another\n"
      "\n"
      "   \n"
      "[ profile   spaced ]   \n"
      "REGION : ca-central-1\r\n"
      "s3 =\n"
      "    addressing_style = path\n"
      "    max_attempts = 99\n"
      "Endpoint_URL=http://h:1/p#frag\n"
      "  \n"
      "[profile other]\n"
      "region = wrong\n";
  pipe_s3_options_t o = {.profile = "spaced"};
  pipe_s3_config_t c;
  pipe_error_t e;
  home_t h = home_new(NULL, conf);
  cr_assert_eq(load(&c, &o, NULL, &h, &e), 0, "%s", e.msg);
  expect_str(c.region, "ca-central-1", "a ':' separator, CRLF, upper case");
  expect_str(c.endpoint_url, "http://h:1/p#frag",
             "'#' after a value belongs to it");
  cr_expect_eq(c.max_attempts, PIPE_S3_DEFAULT_MAX_ATTEMPTS,
               "a nested s3 setting is not max_attempts");
  pipe_s3_config_free(&c);
  home_free(&h);
}

Test(s3_config, syntax_errors_name_the_file_and_line_never_the_secret) {
  static const char bad_line[] =
      "[default]\naws_access_key_id = K\n"
      "aws_secret_access_key " SECRET "\n";
  static const char before[] = "aws_secret_access_key = " SECRET "\n";
  static const char partial[] =
      "[default]\naws_secret_access_key = " SECRET "\n";
  const char* env_partial[] = {"AWS_SECRET_ACCESS_KEY=" SECRET, NULL};
  pipe_s3_config_t c;
  pipe_error_t e;
  home_t h1 = home_new(bad_line, NULL);
  home_t h2 = home_new(NULL, before);
  home_t h3 = home_new(partial, NULL);
  home_t h4 = home_new(NULL, NULL);
  cr_expect_eq(load(&c, NULL, NULL, &h1, &e), PIPE_EUSAGE);
  cr_expect(strstr(e.msg, "/.aws/credentials:3:"), "%s", e.msg);
  cr_expect_null(strstr(e.msg, SECRET), "%s", e.msg);
  cr_expect_eq(load(&c, NULL, NULL, &h2, &e), PIPE_EUSAGE);
  cr_expect(strstr(e.msg, "/.aws/config:1:"), "%s", e.msg);
  cr_expect_null(strstr(e.msg, SECRET), "%s", e.msg);
  cr_expect_eq(load(&c, NULL, NULL, &h3, &e), PIPE_EUSAGE);
  cr_expect(strstr(e.msg, "partial credentials"), "%s", e.msg);
  cr_expect(strstr(e.msg, "access key id is missing"), "%s", e.msg);
  cr_expect_null(strstr(e.msg, SECRET), "%s", e.msg);
  cr_expect_eq(load(&c, NULL, env_partial, &h4, &e), PIPE_EUSAGE);
  cr_expect(strstr(e.msg, "the environment"), "%s", e.msg);
  cr_expect_null(strstr(e.msg, SECRET), "%s", e.msg);
  expect_empty(&c);
  home_free(&h1);
  home_free(&h2);
  home_free(&h3);
  home_free(&h4);
}

Test(s3_config, region_and_endpoint_variables_in_order) {
  const char* both[] = {"AWS_REGION=r1", "AWS_DEFAULT_REGION=r2",
                        "AWS_ENDPOINT_URL_S3=http://s3-only",
                        "AWS_ENDPOINT_URL=http://all", NULL};
  const char* second[] = {"AWS_REGION=", "AWS_DEFAULT_REGION=r2",
                          "AWS_ENDPOINT_URL=http://all", NULL};
  const char* bad[] = {"AWS_ENDPOINT_URL=127.0.0.1:9000", NULL};
  pipe_s3_config_t c;
  pipe_error_t e;
  cr_assert_eq(load(&c, NULL, both, NULL, &e), 0, "%s", e.msg);
  expect_str(c.region, "r1", "AWS_REGION first");
  expect_str(c.endpoint_url, "http://s3-only", "AWS_ENDPOINT_URL_S3 first");
  pipe_s3_config_free(&c);
  cr_assert_eq(load(&c, NULL, second, NULL, &e), 0, "%s", e.msg);
  expect_str(c.region, "r2", "an empty AWS_REGION is unset");
  expect_str(c.endpoint_url, "http://all", "AWS_ENDPOINT_URL");
  pipe_s3_config_free(&c);
  cr_expect_eq(load(&c, NULL, bad, NULL, &e), PIPE_EUSAGE);
  cr_expect(strstr(e.msg, "http:// or https://"), "%s", e.msg);
}

Test(s3_config, file_variables_and_tilde_paths) {
  char p[600], var1[700], var2[700];
  const char* env[3] = {var1, var2, NULL};
  pipe_s3_config_t c;
  pipe_error_t e;
  home_t h = home_new(NULL, NULL);
  snprintf(p, sizeof(p), "%s/my-creds", h.dir);
  cr_assert_eq(cli_write_file(p, creds_file, strlen(creds_file)), 0);
  snprintf(p, sizeof(p), "%s/my-config", h.dir);
  cr_assert_eq(cli_write_file(p, config_file, strlen(config_file)), 0);
  snprintf(var1, sizeof(var1), "AWS_SHARED_CREDENTIALS_FILE=%s/my-creds",
           h.dir);
  snprintf(var2, sizeof(var2), "AWS_CONFIG_FILE=~/my-config");
  cr_assert_eq(load(&c, &(pipe_s3_options_t){.profile = "work"}, env, &h, &e),
               0, "%s", e.msg);
  expect_str(c.access_key_id, "FILEWORK", "from AWS_SHARED_CREDENTIALS_FILE");
  expect_str(c.endpoint_url, "http://127.0.0.1:9000", "from ~/my-config");
  pipe_s3_config_free(&c);
  home_free(&h);
}

Test(s3_config, home_and_environment_default_to_the_process_ones) {
  pipe_s3_config_t c;
  pipe_error_t e;
  home_t h = home_new(creds_file, config_file);
  /* Each criterion test is a process of its own: setenv stays here. */
  setenv("HOME", h.dir, 1);
  setenv("AWS_PROFILE", "work", 1);
  unsetenv("AWS_ACCESS_KEY_ID");
  unsetenv("AWS_SECRET_ACCESS_KEY");
  unsetenv("AWS_REGION");
  unsetenv("AWS_DEFAULT_REGION");
  unsetenv("AWS_CONFIG_FILE");
  unsetenv("AWS_SHARED_CREDENTIALS_FILE");
  cr_assert_eq(pipe_s3_config_load(&c, NULL, NULL, NULL, &e), 0, "%s", e.msg);
  expect_str(c.access_key_id, "FILEWORK", "key id");
  expect_str(c.region, "eu-north-1", "region");
  pipe_s3_config_free(&c);
  home_free(&h);
}

Test(s3_config, dev_null_and_pipes_are_files_a_directory_is_not) {
  const char* nul[] = {"AWS_CONFIG_FILE=/dev/null",
                       "AWS_SHARED_CREDENTIALS_FILE=/dev/null", NULL};
  char fifo[400], var[450], dirvar[450];
  const char* piped[] = {var, "AWS_SHARED_CREDENTIALS_FILE=/dev/null", NULL};
  const char* dir[] = {dirvar, NULL};
  pipe_s3_config_t c;
  pipe_error_t e;
  home_t h = home_new(NULL, NULL);
  pid_t child;
  int st;
  cr_assert_eq(load(&c, NULL, nul, &h, &e), 0, "%s", e.msg);
  expect_str(c.region, "us-east-1", "region");
  pipe_s3_config_free(&c);

  /* A pipe with more than one read step of text (10 KiB of comments). */
  snprintf(fifo, sizeof(fifo), "%s/fifo", h.dir);
  cr_assert_eq(mkfifo(fifo, 0600), 0);
  child = fork();
  cr_assert_geq(child, 0);
  if (child == 0) {
    FILE* f = fopen(fifo, "w");
    int i;
    if (!f) _exit(1);
    for (i = 0; i < 200; i++)
      fprintf(f, "# comment line %03d, padding padding padding\n", i);
    fprintf(f, "[default]\nregion = from-a-pipe\n");
    fclose(f);
    _exit(0);
  }
  snprintf(var, sizeof(var), "AWS_CONFIG_FILE=%s", fifo);
  cr_assert_eq(load(&c, NULL, piped, &h, &e), 0, "%s", e.msg);
  expect_str(c.region, "from-a-pipe", "region");
  pipe_s3_config_free(&c);
  cr_assert_eq(waitpid(child, &st, 0), child);

  snprintf(dirvar, sizeof(dirvar), "AWS_CONFIG_FILE=%s", h.dir);
  cr_expect_eq(load(&c, NULL, dir, &h, &e), PIPE_EUSAGE);
  cr_expect(strstr(e.msg, "a directory"), "%s", e.msg);
  home_free(&h);
}
