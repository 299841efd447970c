/* S3 configuration, resolved as aws-cli (botocore) resolves it: see
 * include/pipe/s3_config.h for the order of every setting.
 *
 * The two profile files are parsed whole (a syntax error anywhere is an
 * error, as aws-cli's configparser makes it), but only the chosen
 * profile's keys are kept, each with the file and line it came from so a
 * bad value can be pointed at without being repeated: an error message
 * never holds a value read from a file or the environment, since any of
 * them may be a secret. File contents are wiped before they are freed.
 *
 * botocore facts followed here (botocore/credentials.py, configloader.py,
 * session.py, checked against Debian's 1.29):
 *  - an explicit --profile removes the environment from the credential
 *    chain; AWS_PROFILE does not;
 *  - the credentials file's keys are used before the config file's, and
 *    key id, secret and token come together from one place;
 *  - a profile's other settings see the credentials file merged over the
 *    config file;
 *  - "[profile NAME]" in the config file, "[NAME]" in the credentials file,
 *    "[default]" in both;
 *  - option names are lowercased, values stripped, no inline comments. */
#include "pipe/s3_config.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

extern char** environ;

#define FILE_MAX (1 << 20) /* a profile file larger than this is refused */

/* The profile keys pipe reads. */
enum {
  K_KEY_ID,
  K_SECRET,
  K_TOKEN,
  K_SECURITY_TOKEN, /* the legacy name of the token */
  K_REGION,
  K_ENDPOINT,
  K_CA_BUNDLE,
  K_MAX_ATTEMPTS,
  K_COUNT
};

static const char* const key_names[K_COUNT] = {"aws_access_key_id",
                                               "aws_secret_access_key",
                                               "aws_session_token",
                                               "aws_security_token",
                                               "region",
                                               "endpoint_url",
                                               "ca_bundle",
                                               "max_attempts"};

/* One file's view of the chosen profile. Values point into `text`. */
typedef struct pfile_s {
  char path[1024];
  char* text; /* the whole file, NUL-terminated; NULL when absent */
  size_t len, cap;
  int found; /* the profile's section is in the file */
  const char* val[K_COUNT];
  unsigned line[K_COUNT];
} pfile_t;

static const char* env_get(const char* const* env, const char* name) {
  size_t n = strlen(name);
  for (; env && *env; env++)
    if (strncmp(*env, name, n) == 0 && (*env)[n] == '=')
      return (*env)[n + 1] ? *env + n + 1 : NULL; /* empty: unset */
  return NULL;
}

static char* trim(char* s, char* end) {
  while (s < end && (*s == ' ' || *s == '\t')) s++;
  while (end > s && (end[-1] == ' ' || end[-1] == '\t' || end[-1] == '\r'))
    end--;
  *end = '\0';
  return s;
}

static void wipe_free(char* p, size_t n) {
  if (p) {
    explicit_bzero(p, n);
    free(p);
  }
}

static int section_is(const char* sect, const char* profile, int config) {
  if (!config) return strcmp(sect, profile) == 0;
  if (strcmp(profile, "default") == 0 && strcmp(sect, "default") == 0) return 1;
  if (strncmp(sect, "profile", 7) != 0 || (sect[7] != ' ' && sect[7] != '\t'))
    return 0;
  sect += 8;
  while (*sect == ' ' || *sect == '\t') sect++;
  return strcmp(sect, profile) == 0;
}

/* Reads and parses one file for `profile`. A missing file leaves f->text
 * NULL and is no error. */
static int pfile_load(pfile_t* f, const char* profile, int config,
                      pipe_error_t* err) {
  FILE* fp = fopen(f->path, "rb");
  char *p, *end;
  unsigned lineno = 0;
  int in_profile = 0, have_section = 0, rc;
  struct stat st;
  if (!fp) {
    if (errno == ENOENT || errno == ENOTDIR) return 0;
    rc = -errno;
    return pipe_error_set(err, rc, "cannot read %s: %s", f->path,
                          strerror(-rc));
  }
  if (fstat(fileno(fp), &st) != 0 || S_ISDIR(st.st_mode)) {
    fclose(fp);
    return pipe_error_set(err, PIPE_EUSAGE, "cannot read %s: a directory",
                          f->path);
  }
  /* A regular file is read in one piece (one spare byte shows EOF); a
   * device or a pipe (AWS_CONFIG_FILE=/dev/null, <(...)) in growing steps.
   * The old buffer of a step is wiped: it may hold a secret. */
  f->cap = S_ISREG(st.st_mode) && st.st_size < FILE_MAX ? (size_t)st.st_size + 2
                                                        : 4096;
  f->text = malloc(f->cap);
  rc = f->text ? 0 : PIPE_ENOMEM;
  while (rc == 0) {
    size_t n;
    if (f->len + 1 == f->cap) {
      char* bigger;
      if (f->cap > FILE_MAX) {
        rc = PIPE_EFBIG;
        break;
      }
      bigger = malloc(f->cap * 2);
      if (!bigger) {
        rc = PIPE_ENOMEM;
        break;
      }
      memcpy(bigger, f->text, f->len);
      wipe_free(f->text, f->cap);
      f->text = bigger;
      f->cap *= 2;
    }
    n = fread(f->text + f->len, 1, f->cap - 1 - f->len, fp);
    f->len += n;
    if (n == 0) {
      if (ferror(fp)) rc = PIPE_EIO;
      break;
    }
  }
  fclose(fp);
  if (rc == PIPE_EFBIG)
    return pipe_error_set(err, PIPE_EUSAGE, "%s is larger than %d bytes",
                          f->path, FILE_MAX);
  if (rc < 0)
    return pipe_error_set(err, rc, "cannot read %s: %s", f->path,
                          pipe_strerror(rc));
  f->text[f->len] = '\0';

  for (p = f->text; p < f->text + f->len; p = end + 1) {
    char* line;
    char *eq, *colon, *sep;
    lineno++;
    end = memchr(p, '\n', (size_t)(f->text + f->len - p));
    if (!end) end = f->text + f->len;
    if (p < end && (*p == ' ' || *p == '\t')) {
      /* A continuation line: a nested setting ("s3 =" then indented
       * "addressing_style = path"), or blank. Not read by pipe. */
      line = trim(p, end);
      if (*line && !have_section) goto syntax;
      continue;
    }
    line = trim(p, end);
    if (*line == '\0' || *line == '#' || *line == ';') continue;
    if (*line == '[') {
      char* close = strrchr(line, ']');
      if (!close || close == line + 1) goto syntax;
      /* configparser ignores what follows the last ']' */
      line = trim(line + 1, close);
      have_section = 1;
      in_profile = section_is(line, profile, config);
      if (in_profile) f->found = 1;
      continue;
    }
    if (!have_section) {
      return pipe_error_set(err, PIPE_EUSAGE,
                            "%s:%u: a setting before any [section]", f->path,
                            lineno);
    }
    eq = strchr(line, '=');
    colon = strchr(line, ':');
    sep = eq && (!colon || eq < colon) ? eq : colon;
    if (!sep || sep == line) goto syntax;
    if (in_profile) {
      char* name = trim(line, sep);
      char* value = trim(sep + 1, sep + 1 + strlen(sep + 1));
      char* c;
      int k;
      for (c = name; *c; c++)
        if (*c >= 'A' && *c <= 'Z') *c = (char)(*c + 32);
      for (k = 0; k < K_COUNT; k++) {
        if (strcmp(name, key_names[k]) == 0) {
          f->val[k] = *value ? value : NULL;
          f->line[k] = lineno;
        }
      }
    }
    continue;
  syntax:
    return pipe_error_set(err, PIPE_EUSAGE,
                          "%s:%u: expected [section] or name = value", f->path,
                          lineno);
  }
  return 0;
}

/* The path of a profile file: the variable's value ("~/" expanded) or
 * HOME/.aws/NAME. Returns 0 with path "" when there is no home. */
static int file_path(char* out, size_t cap, const char* var, const char* home,
                     const char* name, pipe_error_t* err) {
  int n;
  out[0] = '\0';
  if (var && var[0] == '~' && var[1] == '/') {
    if (!home) return 0;
    n = snprintf(out, cap, "%s%s", home, var + 1);
  } else if (var) {
    n = snprintf(out, cap, "%s", var);
  } else {
    if (!home) return 0;
    n = snprintf(out, cap, "%s/.aws/%s", home, name);
  }
  if (n < 0 || (size_t)n >= cap)
    return pipe_error_set(err, PIPE_ENAMETOOLONG,
                          "the path of the AWS %s file "
                          "is too long",
                          name);
  return 0;
}

static int set_str(char** dst, const char* v) {
  if (!v) return 0;
  *dst = strdup(v);
  return *dst ? 0 : PIPE_ENOMEM;
}

/* "where" names the source for a message: "AWS_MAX_ATTEMPTS" or
 * "FILE:LINE: max_attempts". */
static int parse_attempts(const char* v, const char* where, int* out,
                          pipe_error_t* err) {
  char* end;
  long n;
  errno = 0;
  n = strtol(v, &end, 10);
  while (*end == ' ') end++;
  if (errno || end == v || *end || n < 1 || n > 1000)
    return pipe_error_set(err, PIPE_EUSAGE,
                          "%s must be a whole number from 1 to 1000", where);
  *out = (int)n;
  return 0;
}

/* Takes the credentials of one source. Both or neither of key id and
 * secret must be there. */
static int take_creds(pipe_s3_config_t* cfg, const char* id, const char* secret,
                      const char* token, const char* where, pipe_error_t* err) {
  if (!id && !secret) return 0;
  if (!id || !secret)
    return pipe_error_set(err, PIPE_EUSAGE,
                          "partial credentials in %s: %s is missing", where,
                          id ? "the secret access key" : "the access key id");
  if (set_str(&cfg->access_key_id, id) ||
      set_str(&cfg->secret_access_key, secret) ||
      set_str(&cfg->session_token, token))
    return pipe_error_set(err, PIPE_ENOMEM, "out of memory");
  return 1;
}

int pipe_s3_config_load(pipe_s3_config_t* cfg, const pipe_s3_options_t* opt,
                        const char* const* env, const char* home,
                        pipe_error_t* err) {
  static const pipe_s3_options_t no_options;
  pfile_t* files = NULL; /* [0] credentials, [1] config */
  const char* profile;
  const char* v;
  char where[1100];
  int explicit_profile, rc, k, i;
  pipe_error_t dummy;

  if (!err) err = &dummy;
  if (!cfg) return pipe_error_set(err, PIPE_EINVAL, "no configuration");
  memset(cfg, 0, sizeof(*cfg));
  if (!opt) opt = &no_options;
  if (!env) env = (const char* const*)environ;
  if (!home) home = env_get(env, "HOME");

  files = calloc(2, sizeof(*files));
  if (!files) {
    rc = pipe_error_set(err, PIPE_ENOMEM, "out of memory");
    goto fail;
  }

  explicit_profile = opt->profile && opt->profile[0];
  profile = explicit_profile ? opt->profile : env_get(env, "AWS_PROFILE");
  if (!profile) profile = "default";

  if ((rc = file_path(files[0].path, sizeof(files[0].path),
                      env_get(env, "AWS_SHARED_CREDENTIALS_FILE"), home,
                      "credentials", err)) < 0 ||
      (rc = file_path(files[1].path, sizeof(files[1].path),
                      env_get(env, "AWS_CONFIG_FILE"), home, "config", err)) <
          0)
    goto fail;
  for (i = 0; i < 2; i++) {
    if (files[i].path[0] &&
        (rc = pfile_load(&files[i], profile, i == 1, err)) < 0)
      goto fail;
  }
  if (strcmp(profile, "default") != 0 && !files[0].found && !files[1].found) {
    rc = pipe_error_set(err, PIPE_EUSAGE,
                        "the config profile (%s) could not be found (looked "
                        "in %s and %s)",
                        profile, files[0].path[0] ? files[0].path : "no file",
                        files[1].path[0] ? files[1].path : "no file");
    goto fail;
  }
  rc = PIPE_ENOMEM;
  if (set_str(&cfg->profile, profile)) goto fail;

  /* Credentials: environment (unless --profile), credentials file, config
   * file; the first that has them gives all of them. */
  rc = 0;
  if (!explicit_profile)
    rc = take_creds(cfg, env_get(env, "AWS_ACCESS_KEY_ID"),
                    env_get(env, "AWS_SECRET_ACCESS_KEY"),
                    env_get(env, "AWS_SESSION_TOKEN")
                        ? env_get(env, "AWS_SESSION_TOKEN")
                        : env_get(env, "AWS_SECURITY_TOKEN"),
                    "the environment (AWS_ACCESS_KEY_ID, "
                    "AWS_SECRET_ACCESS_KEY)",
                    err);
  for (i = 0; rc == 0 && i < 2; i++) {
    pfile_t* f = &files[i];
    snprintf(where, sizeof(where), "%s, profile %s", f->path, profile);
    rc =
        take_creds(cfg, f->val[K_KEY_ID], f->val[K_SECRET],
                   f->val[K_TOKEN] ? f->val[K_TOKEN] : f->val[K_SECURITY_TOKEN],
                   where, err);
  }
  if (rc < 0) goto fail;

  /* The other settings: option, environment, profile (credentials file
   * over config file), default. */
  {
    const char* prof[K_COUNT] = {0};
    unsigned line[K_COUNT] = {0};
    const char* from[K_COUNT] = {0};
    for (k = 0; k < K_COUNT; k++) {
      for (i = 0; i < 2 && !prof[k]; i++) {
        if (files[i].val[k]) {
          prof[k] = files[i].val[k];
          line[k] = files[i].line[k];
          from[k] = files[i].path;
        }
      }
    }
    rc = PIPE_ENOMEM;
    v = opt->region && opt->region[0] ? opt->region
                                      : env_get(env, "AWS_REGION");
    if (!v) v = env_get(env, "AWS_DEFAULT_REGION");
    if (!v) v = prof[K_REGION];
    if (set_str(&cfg->region, v ? v : "us-east-1")) goto fail;

    v = opt->endpoint_url && opt->endpoint_url[0]
            ? opt->endpoint_url
            : env_get(env, "AWS_ENDPOINT_URL_S3");
    if (!v) v = env_get(env, "AWS_ENDPOINT_URL");
    if (!v) v = prof[K_ENDPOINT];
    if (v && strncmp(v, "http://", 7) != 0 && strncmp(v, "https://", 8) != 0) {
      rc = pipe_error_set(err, PIPE_EUSAGE,
                          "the endpoint URL must start with http:// or "
                          "https://");
      goto fail;
    }
    if (set_str(&cfg->endpoint_url, v)) goto fail;

    v = opt->ca_bundle && opt->ca_bundle[0] ? opt->ca_bundle
                                            : env_get(env, "AWS_CA_BUNDLE");
    if (!v) v = prof[K_CA_BUNDLE];
    if (set_str(&cfg->ca_bundle, v)) goto fail;

    cfg->verify_ssl = !opt->no_verify_ssl;

    cfg->max_attempts = PIPE_S3_DEFAULT_MAX_ATTEMPTS;
    if (opt->max_attempts < 0) {
      rc = pipe_error_set(err, PIPE_EUSAGE,
                          "--max-attempts must be a whole number from 1 to "
                          "1000");
      goto fail;
    } else if (opt->max_attempts > 0) {
      cfg->max_attempts = opt->max_attempts;
    } else if ((v = env_get(env, "AWS_MAX_ATTEMPTS")) != NULL) {
      if ((rc = parse_attempts(v, "AWS_MAX_ATTEMPTS", &cfg->max_attempts,
                               err)) < 0)
        goto fail;
    } else if (prof[K_MAX_ATTEMPTS]) {
      snprintf(where, sizeof(where), "%s:%u: max_attempts",
               from[K_MAX_ATTEMPTS], line[K_MAX_ATTEMPTS]);
      if ((rc = parse_attempts(prof[K_MAX_ATTEMPTS], where, &cfg->max_attempts,
                               err)) < 0)
        goto fail;
    }

    if (opt->retry_timeout < 0) {
      rc = pipe_error_set(err, PIPE_EUSAGE,
                          "--retry-timeout must not be negative");
      goto fail;
    }
    cfg->retry_timeout = opt->retry_timeout > 0 ? opt->retry_timeout
                                                : PIPE_S3_DEFAULT_RETRY_TIMEOUT;
  }
  rc = 0;

fail:
  if (files) {
    for (i = 0; i < 2; i++)
      if (files[i].text) wipe_free(files[i].text, files[i].cap);
    free(files);
  }
  if (rc < 0) pipe_s3_config_free(cfg);
  return rc;
}

static void free_secret(char** s) {
  if (*s) wipe_free(*s, strlen(*s));
  *s = NULL;
}

void pipe_s3_config_free(pipe_s3_config_t* cfg) {
  if (!cfg) return;
  free_secret(&cfg->secret_access_key);
  free_secret(&cfg->session_token);
  free_secret(&cfg->access_key_id);
  free(cfg->region);
  free(cfg->endpoint_url);
  free(cfg->ca_bundle);
  free(cfg->profile);
  memset(cfg, 0, sizeof(*cfg));
}
