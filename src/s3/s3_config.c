/*
 * s3_config.c: the S3 client's configuration from the environment.
 *
 * Design: AWS's own variable names first, so a platform's settings carry over, then
 * the component variables of seed 002 (S3_SCHEME/S3_HOST/S3_PORT, S3_ACCESS_KEY/
 * S3_SECRET_KEY). Empty variables count as unset (compose files often say `X=`).
 * Numeric settings come from one table (name, default, bounds, help) that drives
 * both the defaults and the parsing. Every error is CEL_ECONFIG and names the
 * variable; secret values are never echoed.
 *
 *   endpoint     AWS_ENDPOINT_URL_S3 | S3_ENDPOINT_URL | AWS_ENDPOINT_URL
 *                | S3_SCHEME (default https) + S3_HOST + S3_PORT
 *                | https://s3.<region>.amazonaws.com
 *   credentials  AWS_ACCESS_KEY_ID + AWS_SECRET_ACCESS_KEY (+ AWS_SESSION_TOKEN)
 *                | S3_ACCESS_KEY + S3_SECRET_KEY (the session token is not applied)
 *   region       AWS_REGION | AWS_DEFAULT_REGION | us-east-1
 *   addressing   S3_ADDRESSING_STYLE = path | virtual | auto (auto: virtual on AWS,
 *                path on custom endpoints)
 *   TLS          S3_VERIFY_TLS = 1|0 (true/false, yes/no), AWS_CA_BUNDLE = file
 *   numbers      see s3_num_settings below
 *
 * Not here: ~/.aws/config and credentials files, profiles, IMDS, STS.
 */
#include "s3/s3.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

typedef enum {
    NF_CONNECT_TIMEOUT,
    NF_READ_TIMEOUT,
    NF_MAX_ATTEMPTS,
    NF_RETRY_BASE,
    NF_RETRY_MAX,
    NF_MAX_XML,
    NF_MAX_HEADER,
} s3_num_field;

static const struct s3_num_setting {
    const char *env;
    const char *alt_env; /* also read when env is unset; may be NULL */
    s3_num_field field;
    long long def, min, max;
    const char *help;
} s3_num_settings[] = {
    {"S3_CONNECT_TIMEOUT_MS", NULL, NF_CONNECT_TIMEOUT, 10000, 100, 600000,
     "TCP + TLS connect timeout in milliseconds"},
    {"S3_READ_TIMEOUT_MS", NULL, NF_READ_TIMEOUT, 60000, 1000, 3600000,
     "a transfer that moves no bytes for this long fails and is retried (whole seconds)"},
    {"S3_MAX_ATTEMPTS", "AWS_MAX_ATTEMPTS", NF_MAX_ATTEMPTS, 4, 1, 20,
     "tries per request, including the first"},
    {"S3_RETRY_BASE_MS", NULL, NF_RETRY_BASE, 200, 1, 60000,
     "first backoff delay; doubles per retry, with jitter"},
    {"S3_RETRY_MAX_MS", NULL, NF_RETRY_MAX, 20000, 1, 600000, "cap of one backoff delay"},
    {"S3_MAX_XML_BYTES", NULL, NF_MAX_XML, 4 * 1024 * 1024, 4096, 256 * 1024 * 1024,
     "largest list page or error document accepted"},
    {"S3_MAX_HEADER_BYTES", NULL, NF_MAX_HEADER, 64 * 1024, 4096, 1024 * 1024,
     "largest response header block accepted"},
};

static void set_num(s3_config *cfg, s3_num_field f, long long v) {
    switch (f) {
    case NF_CONNECT_TIMEOUT:
        cfg->connect_timeout_ms = (long)v;
        break;
    case NF_READ_TIMEOUT:
        cfg->read_timeout_ms = (long)v;
        break;
    case NF_MAX_ATTEMPTS:
        cfg->max_attempts = (int)v;
        break;
    case NF_RETRY_BASE:
        cfg->retry_base_ms = (long)v;
        break;
    case NF_RETRY_MAX:
        cfg->retry_max_ms = (long)v;
        break;
    case NF_MAX_XML:
        cfg->max_xml_bytes = (size_t)v;
        break;
    case NF_MAX_HEADER:
        cfg->max_header_bytes = (size_t)v;
        break;
    }
}

void s3_config_defaults(s3_config *cfg) {
    memset(cfg, 0, sizeof *cfg);
    snprintf(cfg->scheme, sizeof cfg->scheme, "https");
    snprintf(cfg->region, sizeof cfg->region, "us-east-1");
    snprintf(cfg->host, sizeof cfg->host, "s3.us-east-1.amazonaws.com");
    cfg->custom_endpoint = false;
    cfg->addressing = S3_ADDRESSING_VIRTUAL;
    cfg->verify_tls = true;
    for (size_t i = 0; i < sizeof s3_num_settings / sizeof s3_num_settings[0]; i++)
        set_num(cfg, s3_num_settings[i].field, s3_num_settings[i].def);
}

/* getenv that treats "" as unset and remembers which name matched. */
static const char *env2(const char *a, const char *b, const char **which) {
    const char *v = a ? getenv(a) : NULL;
    if (v && v[0]) {
        *which = a;
        return v;
    }
    v = b ? getenv(b) : NULL;
    if (v && v[0]) {
        *which = b;
        return v;
    }
    *which = a;
    return NULL;
}

static cel_status copy_field(char *dst, size_t dstsz, const char *v, const char *var, bool secret,
                             cel_error *err) {
    size_t n = strlen(v);
    if (n >= dstsz)
        return cel_fail(err, CEL_ECONFIG, "%s is too long (%zu bytes, at most %zu)", var, n,
                        dstsz - 1);
    for (size_t i = 0; i < n; i++) {
        unsigned char c = (unsigned char)v[i];
        if (c < 0x20 || c == 0x7f) {
            if (secret)
                return cel_fail(err, CEL_ECONFIG, "%s contains a control character", var);
            return cel_fail(err, CEL_ECONFIG, "%s contains a control character at byte %zu", var,
                            i);
        }
    }
    memcpy(dst, v, n + 1);
    return CEL_OK;
}

static bool eq_nocase(const char *a, const char *b) {
    for (; *a && *b; a++, b++) {
        char x = *a >= 'A' && *a <= 'Z' ? (char)(*a + 32) : *a;
        char y = *b >= 'A' && *b <= 'Z' ? (char)(*b + 32) : *b;
        if (x != y)
            return false;
    }
    return *a == *b;
}

static bool prefix_nocase(const char *s, const char *pfx, size_t *n) {
    size_t i = 0;
    for (; pfx[i]; i++) {
        char x = s[i] >= 'A' && s[i] <= 'Z' ? (char)(s[i] + 32) : s[i];
        if (x != pfx[i])
            return false;
    }
    *n = i;
    return true;
}

static bool parse_port(const char *s, size_t n, unsigned *out) {
    unsigned long v = 0;
    if (n == 0 || n > 5)
        return false;
    for (size_t i = 0; i < n; i++) {
        if (s[i] < '0' || s[i] > '9')
            return false;
        v = v * 10 + (unsigned long)(s[i] - '0');
    }
    if (v < 1 || v > 65535)
        return false;
    *out = (unsigned)v;
    return true;
}

static bool host_char_ok(char c) {
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '-' ||
           c == '.' || c == '_';
}

/* Validates and stores scheme/host/port. host is [start, start+hn). */
static cel_status set_endpoint_parts(s3_config *cfg, const char *scheme, const char *host,
                                     size_t hn, unsigned port, const char *what, cel_error *err) {
    if (hn == 0)
        return cel_fail(err, CEL_ECONFIG, "%s: empty host", what);
    if (hn >= sizeof cfg->host)
        return cel_fail(err, CEL_ECONFIG, "%s: host longer than %zu bytes", what,
                        sizeof cfg->host - 1);
    if (host[0] == '[') {
        if (hn < 3 || host[hn - 1] != ']')
            return cel_fail(err, CEL_ECONFIG, "%s: bad IPv6 literal", what);
        for (size_t i = 1; i + 1 < hn; i++) {
            char c = host[i];
            if (!((c >= '0' && c <= '9') || (c >= 'a' && c <= 'f') || (c >= 'A' && c <= 'F') ||
                  c == ':' || c == '.'))
                return cel_fail(err, CEL_ECONFIG, "%s: bad character in IPv6 literal", what);
        }
    } else {
        for (size_t i = 0; i < hn; i++)
            if (!host_char_ok(host[i]))
                return cel_fail(err, CEL_ECONFIG, "%s: bad character '%c' in host", what,
                                host[i] >= 0x20 && host[i] < 0x7f ? host[i] : '?');
    }
    snprintf(cfg->scheme, sizeof cfg->scheme, "%s", scheme);
    for (size_t i = 0; i < hn; i++)
        cfg->host[i] = host[i] >= 'A' && host[i] <= 'Z' ? (char)(host[i] + 32) : host[i];
    cfg->host[hn] = '\0';
    bool https = strcmp(scheme, "https") == 0;
    cfg->port = (port == (https ? 443u : 80u)) ? 0 : port;
    cfg->custom_endpoint = true;
    return CEL_OK;
}

static cel_status endpoint_from_url(s3_config *cfg, const char *url, const char *var,
                                    cel_error *err) {
    char what[160];
    size_t n = 0;
    const char *scheme;
    snprintf(what, sizeof what, "%s '%.100s'", var, url);
    if (prefix_nocase(url, "https://", &n))
        scheme = "https";
    else if (prefix_nocase(url, "http://", &n))
        scheme = "http";
    else
        return cel_fail(err, CEL_ECONFIG, "%s: must start with http:// or https://", what);
    const char *a = url + n;
    size_t alen = strcspn(a, "/?#");
    const char *rest = a + alen;
    if (memchr(a, '@', alen) != NULL)
        return cel_fail(err, CEL_ECONFIG, "%s: credentials in the URL are not supported", what);
    if (!(rest[0] == '\0' || (rest[0] == '/' && rest[1] == '\0')))
        return cel_fail(err, CEL_ECONFIG, "%s: a path, query or fragment is not supported", what);
    const char *host = a;
    size_t hn;
    const char *portp = NULL;
    if (a[0] == '[') {
        const char *close = memchr(a, ']', alen);
        if (close == NULL)
            return cel_fail(err, CEL_ECONFIG, "%s: unterminated IPv6 literal", what);
        hn = (size_t)(close - a) + 1;
        if (hn < alen) {
            if (a[hn] != ':')
                return cel_fail(err, CEL_ECONFIG, "%s: junk after IPv6 literal", what);
            portp = a + hn + 1;
        }
    } else {
        const char *colon = memchr(a, ':', alen);
        hn = colon ? (size_t)(colon - a) : alen;
        if (colon)
            portp = colon + 1;
    }
    unsigned port = 0;
    if (portp != NULL && !parse_port(portp, (size_t)(a + alen - portp), &port))
        return cel_fail(err, CEL_ECONFIG, "%s: port must be 1..65535", what);
    return set_endpoint_parts(cfg, scheme, host, hn, port, what, err);
}

cel_status s3_config_set_endpoint(s3_config *cfg, const char *url, cel_error *err) {
    return endpoint_from_url(cfg, url, "endpoint", err);
}

static bool region_ok(const char *r) {
    size_t n = strlen(r);
    if (n == 0 || n > 63)
        return false;
    for (size_t i = 0; i < n; i++) {
        char c = r[i];
        if (!((c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '-'))
            return false;
    }
    return true;
}

static cel_status parse_bool(const char *v, const char *var, bool *out, cel_error *err) {
    if (eq_nocase(v, "1") || eq_nocase(v, "true") || eq_nocase(v, "yes") || eq_nocase(v, "on")) {
        *out = true;
        return CEL_OK;
    }
    if (eq_nocase(v, "0") || eq_nocase(v, "false") || eq_nocase(v, "no") || eq_nocase(v, "off")) {
        *out = false;
        return CEL_OK;
    }
    return cel_fail(err, CEL_ECONFIG, "%s must be 1/0, true/false or yes/no, got '%.40s'", var, v);
}

cel_status s3_config_from_env(s3_config *cfg, cel_error *err) {
    const char *var, *v;
    cel_status st;
    bool addressing_auto = true;

    s3_config_defaults(cfg);

    /* region first: the default endpoint depends on it */
    v = env2("AWS_REGION", "AWS_DEFAULT_REGION", &var);
    if (v != NULL) {
        if (!region_ok(v))
            return cel_fail(err, CEL_ECONFIG,
                            "%s must be a region name like us-east-1 (a-z, 0-9, '-'), got '%.64s'",
                            var, v);
        snprintf(cfg->region, sizeof cfg->region, "%s", v);
    }

    /* endpoint */
    v = env2("AWS_ENDPOINT_URL_S3", "S3_ENDPOINT_URL", &var);
    if (v == NULL)
        v = env2("AWS_ENDPOINT_URL", NULL, &var);
    if (v != NULL) {
        st = endpoint_from_url(cfg, v, var, err);
        if (st != CEL_OK)
            return st;
    } else {
        const char *hv, *sv, *pv, *hvar, *svar, *pvar;
        hv = env2("S3_HOST", NULL, &hvar);
        sv = env2("S3_SCHEME", NULL, &svar);
        pv = env2("S3_PORT", NULL, &pvar);
        if (hv == NULL && (sv != NULL || pv != NULL))
            return cel_fail(err, CEL_ECONFIG, "%s is set but S3_HOST is not",
                            sv ? "S3_SCHEME" : "S3_PORT");
        if (hv != NULL) {
            const char *scheme = "https";
            unsigned port = 0;
            char what[160];
            if (sv != NULL) {
                if (eq_nocase(sv, "http"))
                    scheme = "http";
                else if (!eq_nocase(sv, "https"))
                    return cel_fail(err, CEL_ECONFIG,
                                    "S3_SCHEME must be http or https, got '%.20s'", sv);
            }
            if (pv != NULL && !parse_port(pv, strlen(pv), &port))
                return cel_fail(err, CEL_ECONFIG, "S3_PORT must be 1..65535, got '%.20s'", pv);
            snprintf(what, sizeof what, "S3_HOST '%.100s'", hv);
            st = set_endpoint_parts(cfg, scheme, hv, strlen(hv), port, what, err);
            if (st != CEL_OK)
                return st;
        } else {
            snprintf(cfg->host, sizeof cfg->host, "s3.%s.amazonaws.com", cfg->region);
        }
    }

    /* credentials */
    {
        const char *id = getenv("AWS_ACCESS_KEY_ID"), *secret = getenv("AWS_SECRET_ACCESS_KEY");
        const char *id_var = "AWS_ACCESS_KEY_ID", *secret_var = "AWS_SECRET_ACCESS_KEY";
        bool aws = (id && id[0]) || (secret && secret[0]);
        if (!aws) {
            id = getenv("S3_ACCESS_KEY");
            secret = getenv("S3_SECRET_KEY");
            id_var = "S3_ACCESS_KEY";
            secret_var = "S3_SECRET_KEY";
        }
        bool have_id = id && id[0], have_secret = secret && secret[0];
        if (have_id && !have_secret)
            return cel_fail(err, CEL_ECONFIG, "%s is set but %s is not", id_var, secret_var);
        if (have_secret && !have_id)
            return cel_fail(err, CEL_ECONFIG, "%s is set but %s is not", secret_var, id_var);
        if (have_id) {
            st = copy_field(cfg->access_key, sizeof cfg->access_key, id, id_var, false, err);
            if (st == CEL_OK)
                st = copy_field(cfg->secret_key, sizeof cfg->secret_key, secret, secret_var, true,
                                err);
            if (st != CEL_OK)
                return st;
        }
        const char *tok = getenv("AWS_SESSION_TOKEN");
        if (aws && tok && tok[0]) {
            st = copy_field(cfg->session_token, sizeof cfg->session_token, tok, "AWS_SESSION_TOKEN",
                            true, err);
            if (st != CEL_OK)
                return st;
        }
    }

    /* addressing */
    v = env2("S3_ADDRESSING_STYLE", NULL, &var);
    if (v != NULL) {
        if (eq_nocase(v, "path")) {
            cfg->addressing = S3_ADDRESSING_PATH;
            addressing_auto = false;
        } else if (eq_nocase(v, "virtual")) {
            cfg->addressing = S3_ADDRESSING_VIRTUAL;
            addressing_auto = false;
        } else if (!eq_nocase(v, "auto")) {
            return cel_fail(err, CEL_ECONFIG,
                            "S3_ADDRESSING_STYLE must be path, virtual or auto, got '%.20s'", v);
        }
    }
    if (addressing_auto)
        cfg->addressing = cfg->custom_endpoint ? S3_ADDRESSING_PATH : S3_ADDRESSING_VIRTUAL;

    /* TLS */
    v = env2("S3_VERIFY_TLS", NULL, &var);
    if (v != NULL) {
        st = parse_bool(v, var, &cfg->verify_tls, err);
        if (st != CEL_OK)
            return st;
    }
    v = env2("AWS_CA_BUNDLE", NULL, &var);
    if (v != NULL) {
        st = copy_field(cfg->ca_bundle, sizeof cfg->ca_bundle, v, var, false, err);
        if (st != CEL_OK)
            return st;
        if (access(v, R_OK) != 0)
            return cel_fail(err, CEL_ECONFIG, "AWS_CA_BUNDLE '%.200s' is not a readable file", v);
    }

    /* numbers */
    for (size_t i = 0; i < sizeof s3_num_settings / sizeof s3_num_settings[0]; i++) {
        const struct s3_num_setting *s = &s3_num_settings[i];
        v = env2(s->env, s->alt_env, &var);
        if (v == NULL)
            continue;
        char *end = NULL;
        long long n = strtoll(v, &end, 10);
        if (end == v || *end != '\0' || n < s->min || n > s->max)
            return cel_fail(err, CEL_ECONFIG,
                            "%s must be an integer in %lld..%lld (%s), got '%.40s'", var, s->min,
                            s->max, s->help, v);
        set_num(cfg, s->field, n);
    }
    if (cfg->retry_max_ms < cfg->retry_base_ms)
        return cel_fail(err, CEL_ECONFIG, "S3_RETRY_MAX_MS (%ld) is below S3_RETRY_BASE_MS (%ld)",
                        cfg->retry_max_ms, cfg->retry_base_ms);
    return CEL_OK;
}

void s3_config_describe(const s3_config *cfg, char *out, size_t outsz) {
    char port[16] = "";
    if (cfg->port)
        snprintf(port, sizeof port, ":%u", cfg->port);
    snprintf(out, outsz,
             "endpoint=%s://%s%s region=%s addressing=%s tls_verify=%s access_key=%.4s%s "
             "session_token=%s attempts=%d",
             cfg->scheme, cfg->host, port, cfg->region,
             cfg->addressing == S3_ADDRESSING_PATH ? "path" : "virtual",
             cfg->verify_tls ? "yes" : "no", cfg->access_key, cfg->access_key[0] ? "..." : "(none)",
             cfg->session_token[0] ? "yes" : "no", cfg->max_attempts);
}
