/*
 * s3_xml.h: a small, bounded XML scanner for the two documents S3 sends us: the
 * ListObjectsV2 result and the error document.
 *
 * Design: a pull scanner over a complete in-memory body (the client caps bodies at
 * s3_config.max_xml_bytes) that yields start and end tags by local name (namespace
 * prefixes dropped); an end tag carries the decoded text directly inside that element
 * since the previous tag. Entities &amp; &lt; &gt; &quot; &apos; and numeric
 * references (&#N; &#xH;) are decoded to UTF-8; CDATA sections are text. Nesting
 * (S3_XML_MAX_DEPTH), names and text runs (max_text) are bounded, and tags must
 * balance.
 *
 * Deliberately not handled (anything below is CEL_EPARSE or ignored as stated):
 * DOCTYPE/DTDs and custom entities (refused, so no entity expansion), attributes
 * (skipped unread, so xmlns does not matter), namespaces (only local names are
 * compared), character validation of raw text (bytes pass through unchanged; the
 * encoding is assumed to be UTF-8), mixed content (only the last text run of an
 * element is reported), and XML 1.1.
 */
#ifndef CELERIAC_S3_XML_H
#define CELERIAC_S3_XML_H

#include "celeriac/error.h"
#include "s3/s3.h"
#include "util/dbuf.h"

#include <stdbool.h>
#include <stddef.h>

#define S3_XML_MAX_DEPTH 32
#define S3_XML_MAX_NAME 128
#define S3_XML_MAX_TEXT (64u * 1024u)

typedef enum { S3_XML_START, S3_XML_END, S3_XML_EOF } s3_xml_kind;

typedef struct s3_xml {
    const char *p, *end, *begin;
    size_t depth;
    bool seen_root;
    bool pending_end; /* a self-closing tag still owes its END */
    char stack[S3_XML_MAX_DEPTH][S3_XML_MAX_NAME];
    dbuf text; /* decoded text since the last tag */
} s3_xml;

typedef struct s3_xml_event {
    s3_xml_kind kind;
    const char *name; /* local name, valid until the next call */
    size_t depth;     /* depth of the element (root = 1) */
    const char *text; /* END only: decoded text (NUL-terminated), valid until next call */
    size_t text_len;
} s3_xml_event;

/* Starts scanning data[0..len); data is borrowed and must outlive the scanner.
 * max_text bounds one text run (0 = S3_XML_MAX_TEXT). */
void s3_xml_init(s3_xml *x, const char *data, size_t len, size_t max_text);
/* Next event. Returns CEL_OK (ev filled; S3_XML_EOF after the root closed and only
 * whitespace/comments follow), CEL_EPARSE (malformed or truncated: the message gives
 * the byte offset), CEL_ELIMIT (depth/name/text bound), CEL_ENOMEM. */
cel_status s3_xml_next(s3_xml *x, s3_xml_event *ev, cel_error *err) CEL_MUST_CHECK;
void s3_xml_free(s3_xml *x); /* NULL-safe */

/* The interesting fields of an S3 <Error> document, truncated to fit (on a UTF-8
 * boundary). Empty strings for absent elements. */
typedef struct s3_xml_error {
    char code[64];
    char message[512];
    char request_id[128];
    char region[64];
    char endpoint[256];
} s3_xml_error;

/* Parses an error document (root element "Error"). Returns CEL_OK, or CEL_EPARSE /
 * CEL_ELIMIT when the body is not a well-formed error document (out is then
 * zeroed). */
cel_status s3_xml_parse_error(const char *body, size_t len, s3_xml_error *out,
                              cel_error *err) CEL_MUST_CHECK;

/* Page-level facts of a ListObjectsV2 result. next_token is new (free()) or NULL. */
typedef struct s3_list_page {
    bool is_truncated;
    char *next_token;
    bool url_encoded; /* EncodingType was "url": keys were percent/plus-decoded */
    size_t entries;   /* entries delivered to the callback */
} s3_list_page;

/* Parses one ListBucketResult page. The whole body is validated first; then cb is
 * called for each Contents entry and CommonPrefixes prefix in document order. If
 * cb sets *stop, delivery stops and *stop stays true. Returns CEL_OK, CEL_EPARSE
 * (malformed, missing Key, bad Size, bad percent-encoding), CEL_ELIMIT, or the
 * callback's status. *page is filled on CEL_OK (free next_token). */
cel_status s3_xml_parse_list(const char *body, size_t len, s3_list_fn cb, void *ud, bool *stop,
                             s3_list_page *page, cel_error *err) CEL_MUST_CHECK;

#endif
