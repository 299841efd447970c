/* pipe — S3 configuration, resolved the way aws-cli resolves it. */
#ifndef PIPE_S3_CONFIG_H
#define PIPE_S3_CONFIG_H

#include "pipe/export.h"
#include "pipe/error.h"

#ifdef __cplusplus
extern "C" {
#endif

/** Settings given on the command line (or by a program); NULL / 0 means
 *  "not given", and the environment or the profile files decide. */
typedef struct pipe_s3_options_s {
  const char* profile;      /* --profile */
  const char* region;       /* --region */
  const char* endpoint_url; /* --endpoint-url */
  const char* ca_bundle;    /* --ca-bundle */
  int no_verify_ssl;        /* --no-verify-ssl */
  int max_attempts; /* --max-attempts N (the first attempt included); 0 unset */
  double retry_timeout; /* --retry-timeout SECONDS; 0 unset */
} pipe_s3_options_t;

/** The resolved configuration. Strings are owned by the struct (free with
 *  pipe_s3_config_free); NULL means "none". */
typedef struct pipe_s3_config_s {
  char* access_key_id;
  char* secret_access_key;
  char* session_token;
  char* region;         /* never NULL after load: default "us-east-1" */
  char* endpoint_url;   /* NULL: AWS (https://s3.<region>.amazonaws.com,
                           virtual-host addressing); else path-style */
  char* ca_bundle;      /* NULL: the system's CAs */
  char* profile;        /* the profile that was used ("default") */
  int verify_ssl;       /* 1 unless --no-verify-ssl */
  int max_attempts;     /* per request, first included; default
                           PIPE_S3_DEFAULT_MAX_ATTEMPTS */
  double retry_timeout; /* seconds a request may keep retrying; default
                           PIPE_S3_DEFAULT_RETRY_TIMEOUT */
} pipe_s3_config_t;

/* Defaults chosen so a 30-second outage is ridden out (backoff 0.25 s
 * doubling to 20 s, equal jitter: the waits of 12 attempts sum to > 50 s). */
#define PIPE_S3_DEFAULT_MAX_ATTEMPTS 12
#define PIPE_S3_DEFAULT_RETRY_TIMEOUT 300.0

/** Resolves the configuration with aws-cli's precedence: options, then the
 *  environment (AWS_ACCESS_KEY_ID, AWS_SECRET_ACCESS_KEY, AWS_SESSION_TOKEN,
 *  AWS_REGION, AWS_DEFAULT_REGION, AWS_ENDPOINT_URL, AWS_CA_BUNDLE,
 *  AWS_PROFILE, AWS_MAX_ATTEMPTS, AWS_SHARED_CREDENTIALS_FILE,
 *  AWS_CONFIG_FILE), then the profile in ~/.aws/credentials and
 *  ~/.aws/config ("[profile NAME]" there; region, endpoint_url, ca_bundle,
 *  max_attempts, aws_access_key_id...). A profile named by --profile or
 *  AWS_PROFILE that exists in neither file is an error; credentials from
 *  the environment win over a profile's unless --profile is given (as
 *  aws-cli). env is a NULL-terminated "NAME=value" array (NULL: environ);
 *  home replaces $HOME when not NULL (tests). Missing credentials are not an
 *  error here (anonymous requests are possible); the client reports
 *  PIPE_ENOCREDS when it needs them. Returns 0, or PIPE_EUSAGE /
 *  PIPE_ENOMEM / a file error with err filled (the message names the file
 *  and line, never a secret). On error cfg is left empty.
 *
 *  In detail, each setting from the first place that has it (an empty
 *  value counts as unset):
 *    profile       --profile, AWS_PROFILE, "default"
 *    credentials   the environment (AWS_ACCESS_KEY_ID + AWS_SECRET_ACCESS_KEY,
 *                  with AWS_SESSION_TOKEN) unless --profile is given; then
 *                  the profile in the credentials file; then in the config
 *                  file. All three come from the same place; a key id
 *                  without its secret (or the reverse) is PIPE_EUSAGE.
 *    region        --region, AWS_REGION, AWS_DEFAULT_REGION, profile
 *                  `region`, "us-east-1"
 *    endpoint_url  --endpoint-url, AWS_ENDPOINT_URL_S3, AWS_ENDPOINT_URL,
 *                  profile `endpoint_url`; must start http:// or https://
 *    ca_bundle     --ca-bundle, AWS_CA_BUNDLE, profile `ca_bundle`
 *    max_attempts  --max-attempts, AWS_MAX_ATTEMPTS, profile `max_attempts`,
 *                  PIPE_S3_DEFAULT_MAX_ATTEMPTS; a whole number 1..1000
 *    retry_timeout --retry-timeout, PIPE_S3_DEFAULT_RETRY_TIMEOUT
 *  A profile's settings other than credentials merge both files, the
 *  credentials file winning. The files are INI as aws-cli reads them:
 *  "[NAME]" in the credentials file, "[profile NAME]" (or "[default]") in
 *  the config file; `key = value` or `key: value`, keys in any case;
 *  whole-line comments starting '#' or ';' (a '#' after a value is part of
 *  the value, as in aws-cli); indented lines continue a nested setting
 *  (`s3 =` ...) and are skipped. AWS_CONFIG_FILE and
 *  AWS_SHARED_CREDENTIALS_FILE may start with "~/". A missing file is
 *  no error; a line that is neither is one. */
PIPE_EXTERN int pipe_s3_config_load(pipe_s3_config_t* cfg,
                                    const pipe_s3_options_t* opt,
                                    const char* const* env, const char* home,
                                    pipe_error_t* err);

/** Frees the strings of cfg and zeroes it (the secret is cleared first). */
PIPE_EXTERN void pipe_s3_config_free(pipe_s3_config_t* cfg);

#ifdef __cplusplus
}
#endif
#endif /* PIPE_S3_CONFIG_H */
