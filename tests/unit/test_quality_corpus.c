/*
 * test_quality_corpus.c: corpus runner for `celeriac check`
 * (tests/corpus/quality/<case>/).
 *
 * Each case directory holds the input (data.csv / data.json / data.ndjson ...),
 * an optional schema.json, an optional args.json (["--report", "dataset"] or
 * ["--format", "csv"] pairs) and expected.json:
 *
 *   {"exit": 0,                    exit status of `celeriac check`
 *    "output": {...},              a partial JSON of what it prints
 *    "absent": ["profile"],        top-level keys that must not be printed
 *    "stderr_contains": ["..."]}   substrings of the error message (exit 2)
 *
 * Objects match partially (only the keys written in expected.json), lists
 * element-wise with equal length, numbers exactly (an integer equals a real of
 * the same value). The run goes through dq_check_run, the function behind the
 * command, so no process or stack is needed.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include "quality/dq_check.h"

#include <dirent.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static const char *source_dir(void) {
    const char *s = getenv("CELERIAC_SOURCE_DIR");
    return s && *s ? s : CELERIAC_SOURCE_DIR;
}

/* Returns true when expected is a sub-tree of actual; else describes the first
 * mismatch in why. */
static bool jmatch(const json_t *exp, const json_t *act, char *path, size_t plen, char *why,
                   size_t wsz) {
    size_t base = strlen(path);
    if (json_is_object(exp)) {
        if (!json_is_object(act)) {
            snprintf(why, wsz, "%s: expected an object", path);
            return false;
        }
        const char *k;
        json_t *v;
        json_object_foreach((json_t *)exp, k, v) {
            snprintf(path + base, plen - base, ".%s", k);
            json_t *a = json_object_get(act, k);
            if (a == NULL) {
                snprintf(why, wsz, "%s: missing", path);
                return false;
            }
            if (!jmatch(v, a, path, plen, why, wsz))
                return false;
            path[base] = '\0';
        }
        return true;
    }
    if (json_is_array(exp)) {
        if (!json_is_array(act) || json_array_size(act) != json_array_size(exp)) {
            char *d = json_dumps(act, JSON_COMPACT | JSON_ENCODE_ANY);
            snprintf(why, wsz, "%s: expected a list of %zu, got %.300s", path, json_array_size(exp),
                     d ? d : "?");
            free(d);
            return false;
        }
        for (size_t i = 0; i < json_array_size(exp); i++) {
            snprintf(path + base, plen - base, "[%zu]", i);
            if (!jmatch(json_array_get(exp, i), json_array_get(act, i), path, plen, why, wsz))
                return false;
            path[base] = '\0';
        }
        return true;
    }
    bool ok;
    if (json_is_number(exp) && json_is_number(act))
        ok = json_number_value(exp) == json_number_value(act);
    else
        ok = json_equal((json_t *)exp, (json_t *)act);
    if (!ok) {
        char *e = json_dumps(exp, JSON_COMPACT | JSON_ENCODE_ANY);
        char *a = json_dumps(act, JSON_COMPACT | JSON_ENCODE_ANY);
        snprintf(why, wsz, "%s: expected %.200s, got %.200s", path, e ? e : "?", a ? a : "?");
        free(e);
        free(a);
    }
    return ok;
}

static bool exists(const char *path) {
    FILE *f = fopen(path, "rb");
    if (f)
        fclose(f);
    return f != NULL;
}

/* Runs one case; returns NULL when it passes, else a message (static buffer). */
static const char *run_case(const char *dir) {
    static char why[2048];
    char path[2048], data[2048] = "", schema[2048];
    snprintf(path, sizeof path, "%s/expected.json", dir);
    json_error_t jerr;
    json_t *exp = json_load_file(path, 0, &jerr);
    if (exp == NULL) {
        snprintf(why, sizeof why, "expected.json: %s", jerr.text);
        return why;
    }
    DIR *d = opendir(dir);
    struct dirent *de;
    while (d && (de = readdir(d)) != NULL)
        if (strncmp(de->d_name, "data.", 5) == 0)
            snprintf(data, sizeof data, "%s/%s", dir, de->d_name);
    if (d)
        closedir(d);
    dq_check_args a;
    memset(&a, 0, sizeof a);
    a.file = data;
    snprintf(schema, sizeof schema, "%s/schema.json", dir);
    if (exists(schema))
        a.schema_path = schema;
    snprintf(path, sizeof path, "%s/args.json", dir);
    json_t *args = exists(path) ? json_load_file(path, 0, &jerr) : NULL;
    for (size_t i = 0; args && i + 1 < json_array_size(args); i += 2) {
        const char *k = json_string_value(json_array_get(args, i));
        const char *v = json_string_value(json_array_get(args, i + 1));
        if (k && strcmp(k, "--report") == 0)
            a.report = v;
        else if (k && strcmp(k, "--format") == 0)
            a.format = v;
    }
    cel_error err;
    cel_error_clear(&err);
    json_t *out = NULL;
    int rc = dq_check_run(&a, &out, &err);
    const char *fail = NULL;
    int want_rc = (int)json_integer_value(json_object_get(exp, "exit"));
    char errtext[1200];
    snprintf(errtext, sizeof errtext, "%s: %s", cel_strerror(err.code), err.msg);
    if (rc != want_rc) {
        snprintf(why, sizeof why, "exit %d, expected %d (%s)", rc, want_rc, errtext);
        fail = why;
    }
    json_t *sc = json_object_get(exp, "stderr_contains");
    for (size_t i = 0; !fail && i < json_array_size(sc); i++) {
        const char *want = json_string_value(json_array_get(sc, i));
        if (want && strstr(errtext, want) == NULL) {
            snprintf(why, sizeof why, "error message lacks '%s': %s", want, errtext);
            fail = why;
        }
    }
    json_t *eo = json_object_get(exp, "output");
    if (!fail && eo) {
        char jp[512] = "$";
        if (out == NULL) {
            snprintf(why, sizeof why, "no output (%s)", errtext);
            fail = why;
        } else if (!jmatch(eo, out, jp, sizeof jp, why, sizeof why)) {
            fail = why;
        }
    }
    json_t *absent = json_object_get(exp, "absent");
    for (size_t i = 0; !fail && i < json_array_size(absent); i++) {
        const char *k = json_string_value(json_array_get(absent, i));
        if (k && out && json_object_get(out, k)) {
            snprintf(why, sizeof why, "'%s' should not be printed", k);
            fail = why;
        }
    }
    json_decref(out);
    json_decref(args);
    json_decref(exp);
    return fail;
}

static int name_cmp(const void *x, const void *y) {
    return strcmp(*(const char *const *)x, *(const char *const *)y);
}

static void test_corpus(void **state) {
    (void)state;
    char root[1024];
    snprintf(root, sizeof root, "%s/tests/corpus/quality", source_dir());
    DIR *d = opendir(root);
    assert_non_null(d);
    char *names[256];
    size_t n = 0;
    struct dirent *de;
    while ((de = readdir(d)) != NULL && n < 256) {
        if (de->d_name[0] == '.')
            continue;
        char p[1400];
        snprintf(p, sizeof p, "%s/%s/expected.json", root, de->d_name);
        if (exists(p))
            names[n++] = strdup(de->d_name);
    }
    closedir(d);
    qsort(names, n, sizeof names[0], name_cmp);
    assert_true(n >= 10);
    size_t failed = 0;
    for (size_t i = 0; i < n; i++) {
        char dir[1400];
        snprintf(dir, sizeof dir, "%s/%s", root, names[i]);
        const char *why = run_case(dir);
        print_message("corpus %-24s %s%s\n", names[i], why ? "FAIL: " : "ok", why ? why : "");
        failed += why != NULL;
        free(names[i]);
    }
    assert_int_equal(failed, 0);
}

int main(void) {
    const struct CMUnitTest tests[] = {cmocka_unit_test(test_corpus)};
    return cmocka_run_group_tests(tests, NULL, NULL);
}
