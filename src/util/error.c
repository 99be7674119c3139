/*
 * error.c: status names and the first-message-wins error recorder (see error.h).
 */
#include "celeriac/error.h"

#include <stdarg.h>
#include <stdio.h>
#include <string.h>

const char *cel_strerror(cel_status code) {
    switch (code) {
    case CEL_OK:
        return "OK";
    case CEL_ENOMEM:
        return "ENOMEM";
    case CEL_EINVAL:
        return "EINVAL";
    case CEL_EIO:
        return "EIO";
    case CEL_EPARSE:
        return "EPARSE";
    case CEL_ELIMIT:
        return "ELIMIT";
    case CEL_ENOTFOUND:
        return "ENOTFOUND";
    case CEL_EDENIED:
        return "EDENIED";
    case CEL_ETRANSIENT:
        return "ETRANSIENT";
    case CEL_EUNSUPPORTED:
        return "EUNSUPPORTED";
    case CEL_EDB:
        return "EDB";
    case CEL_ES3:
        return "ES3";
    case CEL_EBROKER:
        return "EBROKER";
    case CEL_ETIMEOUT:
        return "ETIMEOUT";
    case CEL_ECONFIG:
        return "ECONFIG";
    case CEL_EPROTO:
        return "EPROTO";
    case CEL_EINTERNAL:
        return "EINTERNAL";
    case CEL_ESCHEMA:
        return "ESCHEMA";
    case CEL_ECONFLICT:
        return "ECONFLICT";
    }
    return "EUNKNOWN";
}

cel_status cel_fail_record(cel_error *err, cel_status code, const char *fmt, ...) {
    if (err == NULL || err->code != CEL_OK)
        return code;
    err->code = code;
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(err->msg, sizeof err->msg, fmt, ap);
    va_end(ap);
    return code;
}

void cel_error_clear(cel_error *err) {
    if (err == NULL)
        return;
    err->code = CEL_OK;
    err->msg[0] = '\0';
}

bool cel_status_transient(cel_status code) {
    return code == CEL_ETRANSIENT || code == CEL_ETIMEOUT || code == CEL_EBROKER;
}
