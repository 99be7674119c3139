/*
 * numtext.h: canonical text for numbers delivered by the typed readers.
 *
 * Design: a double is rendered the way Python's repr() and json.dumps() do
 * (shortest digits that round-trip, fixed notation for exponents -4..15, else
 * d.ddde+XX), so a value a Python producer wrote comes back with the same text.
 * Non-finite values use the JSON spellings Python emits: NaN, Infinity, -Infinity.
 *
 * Not here: parsing (strtod / jansson do that), locale handling (the C locale is
 * assumed: celeriac never calls setlocale for LC_NUMERIC).
 */
#ifndef CELERIAC_FORMATS_NUMTEXT_H
#define CELERIAC_FORMATS_NUMTEXT_H

#include <stddef.h>
#include <stdint.h>

/* Enough for any output of the functions below, including the NUL. */
#define NUMTEXT_MAX 40

/* Writes the shortest round-trip text of d into out (NUL-terminated).
 * Returns its length (< NUMTEXT_MAX). */
size_t numtext_double(double d, char out[NUMTEXT_MAX]);

/* Writes the decimal text of v into out. Returns its length. */
size_t numtext_int(int64_t v, char out[NUMTEXT_MAX]);

#endif
