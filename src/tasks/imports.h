/*
 * imports.h: the pure (no I/O) rules of the contact import `imports.process_job` (seed 004):
 * the email validator, the per-row checks, the deterministic row hash, and the two text
 * encoders the staging path needs (JSON strings for raw_data, PostgreSQL COPY text fields).
 * The task itself (database, S3, flows, job states) is in imports.c; this split lets the
 * unit tests exercise every rule without a server.
 *
 * Email addresses (imp_email_check) are accepted exactly when they match RFC 5322 §3.4.1
 * addr-spec without comments or folding whitespace, restricted to ASCII, within RFC 5321's
 * length limits:
 *   addr-spec      = local-part "@" domain
 *   local-part     = dot-atom-text / quoted-string-body
 *   dot-atom-text  = 1*atext *("." 1*atext)                     (RFC 5322 §3.2.3)
 *   atext          = ALPHA / DIGIT / one of ! # $ % & ' * + - / = ? ^ _ ` { | } ~
 *   quoted-string-body = DQUOTE *(qtext / quoted-pair / SP / HTAB) DQUOTE   (§3.2.4)
 *   qtext          = %d33 / %d35-91 / %d93-126  (printable ASCII except " and \)
 *   quoted-pair    = "\" (VCHAR / SP / HTAB)                    (§3.2.1)
 *   domain         = dot-atom-text / "[" *(dtext / SP / HTAB) "]"  (§3.4.1)
 *   dtext          = %d33-90 / %d94-126         (printable ASCII except [ ] \)
 *   local-part at most 64 octets (RFC 5321 §4.5.3.1.1), whole address at most 254 octets
 *   (§4.5.3.1.3: a 256-octet path minus the angle brackets).
 * Not accepted: comments and CFWS around or inside the parts ("a(x)@b", "a @b"), CRLF
 * folding, the obsolete forms of §4.4 (obs-local-part such as a."b".c, obs-domain),
 * non-ASCII (RFC 6532 internationalized addresses). A domain needs no dot ("a@localhost"
 * is an addr-spec) and is not checked against DNS or RFC 1035 label rules. The caller trims
 * surrounding spaces/tabs first (a CSV artifact, see imp_trim); case is kept (the import
 * compares emails case-insensitively, as the contacts' unique index on lower(email) does).
 *
 * The row hash (imp_row_hash) is the lowercase hex SHA-256 of exactly these bytes:
 *   "imports.row.v1:" NS(row_number) then, for each CSV column in header order,
 *   NS(column name) followed by NS(cell) for a cell the row has, or "~" for a cell the row
 *   lacks (a row shorter than the header),
 * where NS(x) is the netstring of x (https://cr.yp.to/proto/netstrings.txt): the decimal
 * byte length of x, ':', the bytes of x, ','; row_number is the 1-based data row (header not
 * counted) in decimal. Cells are hashed as read: untrimmed, after the reader's UTF-8 / BOM
 * handling. Cells beyond the header (ragged rows) are not hashed. The row number is part of
 * the hash so that two identical lines of a file stay two staging rows; the content is part
 * of it so that a different file under the same job never matches a staged row.
 *
 * Not here: database access, S3, the set rules (duplicates within the file, emails already
 * in contacts), which imports.c evaluates in SQL over the staged rows.
 */
#ifndef CELERIAC_TASKS_IMPORTS_H
#define CELERIAC_TASKS_IMPORTS_H

#include "celeriac/error.h"
#include "celeriac/reader.h"
#include "util/dbuf.h"

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* The four fields the rules check, in this order everywhere (flags, column map, COPY). */
typedef enum {
    IMP_F_EMAIL = 0,
    IMP_F_FIRST_NAME,
    IMP_F_LAST_NAME,
    IMP_F_COMPANY,
    IMP_NFIELDS
} imp_field;

/* Column / field names as they appear in the CSV header and in imports.staging. */
extern const char *const imp_field_names[IMP_NFIELDS];

/* Row-check flags: bit (1 << field) = required field missing or blank; IMP_BAD_EMAIL =
 * email present but not an addr-spec. The SQL in imports.c uses the same bit values. */
#define IMP_MISSING(f) (1u << (unsigned)(f))
#define IMP_BAD_EMAIL (1u << 4)
#define IMP_EMAIL_REASON_MAX 160

/* Removes leading and trailing spaces and tabs from the view (*s, *len); nothing else. */
void imp_trim(const char **s, size_t *len);

/*
 * Checks one email address (already trimmed; s need not be NUL-terminated). Returns true
 * when it is accepted (see the grammar above). On false, why (whysz bytes, may be NULL)
 * receives a short reason naming the part and character, e.g.
 * "character ',' (position 4) is not allowed in the local part".
 */
bool imp_email_check(const char *s, size_t len, char *why, size_t whysz);

/*
 * Checks one row's four fields. vals[f]/lens[f] is the cell of field f (NULL = the row has
 * no such cell). A field is missing when absent or blank after imp_trim. Returns the flags
 * (0 = the row passes the per-row rules); when IMP_BAD_EMAIL is set, why (IMP_EMAIL_REASON_MAX
 * bytes) receives the reason.
 */
unsigned imp_row_check(const char *const vals[IMP_NFIELDS], const size_t lens[IMP_NFIELDS],
                       char why[IMP_EMAIL_REASON_MAX]);

/*
 * Computes the row hash described above into out (64 hex chars + NUL). names[i] are the
 * ncols header names (NUL-terminated, borrowed); vals[i] the row's cells (ABSENT/NULL = the
 * row lacks the cell). scratch is a caller-owned buffer reused between rows (its max bounds
 * the hashed bytes). Returns CEL_OK, CEL_ELIMIT / CEL_ENOMEM from the buffer, CEL_EINTERNAL
 * when the digest fails.
 */
cel_status imp_row_hash(uint64_t row_number, size_t ncols, const char *const *names,
                        const cel_value *vals, dbuf *scratch, char out[65],
                        cel_error *err) CEL_MUST_CHECK;

/* Appends s/len as a JSON string literal with quotes (RFC 8259 §7: '"', '\\' and the control
 * characters U+0000..U+001F escaped, everything else copied; s must be valid UTF-8). Returns
 * CEL_OK or the buffer's error. */
cel_status imp_json_string(dbuf *b, const char *s, size_t len) CEL_MUST_CHECK;

/* Appends s/len as one field of PostgreSQL's COPY text format (backslash, newline, carriage
 * return and tab escaped; https://www.postgresql.org/docs/15/sql-copy.html "Text Format");
 * s == NULL appends \N (SQL NULL). Returns CEL_OK or the buffer's error. */
cel_status imp_copy_field(dbuf *b, const char *s, size_t len) CEL_MUST_CHECK;

#endif
