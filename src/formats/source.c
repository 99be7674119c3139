/*
 * source.c: format names and defaults, the local file source, and
 * cel_read_source (format detection + dispatch), see celeriac/reader.h.
 *
 * Design:
 * - The format is opts->format when set; else from the extension of src->name
 *   (.csv .tsv .tab → CSV, .tsv/.tab also default the delimiter to TAB; .json →
 *   JSON; .ndjson .jsonl .ldjson → NDJSON; .parquet .parq .pq → Parquet); else
 *   from the first bytes: "PAR1" → Parquet, first non-blank byte (after a UTF-8
 *   BOM) '[' → JSON, '{' → NDJSON, anything else (or nothing) → CSV. A .json
 *   name whose content starts with '{' is read as NDJSON (a single top-level
 *   object is not a table anyway, and JSON Lines files are often named .json).
 * - Sniffing happens inside the stream: the first chunk(s) are held (at most
 *   RS_SNIFF_MAX bytes) until the decision, then replayed into the stream reader,
 *   so a pure stream (no read_at) is read exactly once. Parquet needs random
 *   access: when the sniff finds "PAR1", the stream is stopped and the Parquet
 *   reader is called with read_at.
 * - The file source reads with pread (random access) and streams 256 KiB chunks.
 *   A non-regular file (pipe, /dev/stdin) is a pure stream: size -1, no read_at.
 *
 * Not here: compressed input (names ending .gz .bz2 .xz .zst .zip .lz4 .br .z .7z
 * and gzip magic are refused with CEL_EUNSUPPORTED when the format is detected),
 * S3 sources (s3/), the parsers themselves.
 */
#include "celeriac/reader.h"
#include "celeriac/stream_reader.h"

#include "formats/parquet.h"
#include "util/log.h"

#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <unistd.h>

#define RS_CHUNK (256 * 1024)
#define RS_SNIFF_MAX 4096

cel_status cel_format_parse(const char *name, cel_format *out, cel_error *err) {
    static const struct {
        const char *name;
        cel_format fmt;
    } table[] = {
        {"auto", CEL_FMT_AUTO},       {"csv", CEL_FMT_CSV},      {"json", CEL_FMT_JSON},
        {"ndjson", CEL_FMT_NDJSON},   {"jsonl", CEL_FMT_NDJSON}, {"jsonlines", CEL_FMT_NDJSON},
        {"parquet", CEL_FMT_PARQUET},
    };
    if (name == NULL)
        return cel_fail(err, CEL_EINVAL, "no format name given");
    for (size_t i = 0; i < sizeof table / sizeof table[0]; i++) {
        if (strcasecmp(name, table[i].name) == 0) {
            *out = table[i].fmt;
            return CEL_OK;
        }
    }
    return cel_fail(err, CEL_EINVAL,
                    "unknown format '%.64s' (expected csv, json, ndjson, jsonl, parquet or auto)",
                    name);
}

const char *cel_format_name(cel_format f) {
    switch (f) {
    case CEL_FMT_AUTO:
        return "auto";
    case CEL_FMT_CSV:
        return "csv";
    case CEL_FMT_JSON:
        return "json";
    case CEL_FMT_NDJSON:
        return "ndjson";
    case CEL_FMT_PARQUET:
        return "parquet";
    }
    return "unknown";
}

void cel_reader_opts_defaults(cel_reader_opts *o) {
    if (o->quote == 0)
        o->quote = '"';
    if (o->header < 0)
        o->header = 1;
    if (o->encoding == NULL)
        o->encoding = "utf-8";
    if (o->max_line_bytes == 0)
        o->max_line_bytes = 16u << 20;
    if (o->max_field_bytes == 0)
        o->max_field_bytes = 1u << 20;
    if (o->max_columns == 0)
        o->max_columns = 4096;
    if (o->max_depth == 0)
        o->max_depth = 64;
    if (o->max_page_bytes == 0)
        o->max_page_bytes = 256u << 20;
}

/* ---- file source ---------------------------------------------------------- */

typedef struct rs_file {
    int fd;
    bool regular;
    int64_t size;
    char *name;
} rs_file;

static cel_status rs_file_read_at(void *ud, uint64_t offset, size_t len, void *buf,
                                  cel_error *err) {
    rs_file *f = ud;
    char *p = buf;
    while (len > 0) {
        ssize_t n = pread(f->fd, p, len, (off_t)offset);
        if (n < 0 && errno == EINTR)
            continue;
        if (n < 0)
            return cel_fail(err, CEL_EIO, "read %s at offset %llu: %s", f->name,
                            (unsigned long long)offset, strerror(errno));
        if (n == 0)
            return cel_fail(err, CEL_EIO, "read %s: unexpected end of file at offset %llu", f->name,
                            (unsigned long long)offset);
        p += n;
        offset += (uint64_t)n;
        len -= (size_t)n;
    }
    return CEL_OK;
}

static cel_status rs_file_stream(void *ud, cel_chunk_fn fn, void *chunk_ud, cel_error *err) {
    rs_file *f = ud;
    char *buf = malloc(RS_CHUNK);
    if (buf == NULL)
        return cel_fail(err, CEL_ENOMEM, "out of memory reading %s", f->name);
    cel_status st = CEL_OK;
    uint64_t off = 0;
    for (;;) {
        ssize_t n =
            f->regular ? pread(f->fd, buf, RS_CHUNK, (off_t)off) : read(f->fd, buf, RS_CHUNK);
        if (n < 0 && errno == EINTR)
            continue;
        if (n < 0) {
            st = cel_fail(err, CEL_EIO, "read %s at offset %llu: %s", f->name,
                          (unsigned long long)off, strerror(errno));
            goto exit;
        }
        if (n == 0)
            break;
        off += (uint64_t)n;
        st = fn(chunk_ud, buf, (size_t)n, err);
        if (st != CEL_OK)
            goto exit;
    }
exit:
    free(buf);
    return st;
}

cel_status cel_file_source_open(const char *path, cel_source *out, cel_error *err) {
    memset(out, 0, sizeof *out);
    if (path == NULL)
        return cel_fail(err, CEL_EINVAL, "no file path given");
    cel_status st = CEL_OK;
    rs_file *f = NULL;
    char *name = NULL;
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0) {
        int e = errno;
        cel_status code = e == ENOENT || e == ENOTDIR ? CEL_ENOTFOUND
                          : e == EACCES || e == EPERM ? CEL_EDENIED
                                                      : CEL_EIO;
        st = cel_fail(err, code, "cannot open %s: %s", path, strerror(e));
        goto exit;
    }
    struct stat sb;
    if (fstat(fd, &sb) != 0) {
        st = cel_fail(err, CEL_EIO, "cannot stat %s: %s", path, strerror(errno));
        goto exit;
    }
    if (S_ISDIR(sb.st_mode)) {
        st = cel_fail(err, CEL_EINVAL, "%s is a directory, not a file", path);
        goto exit;
    }
    f = calloc(1, sizeof *f);
    name = strdup(path);
    if (f == NULL || name == NULL) {
        st = cel_fail(err, CEL_ENOMEM, "out of memory opening %s", path);
        goto exit;
    }
    f->fd = fd;
    f->regular = S_ISREG(sb.st_mode);
    f->size = f->regular ? (int64_t)sb.st_size : -1;
    f->name = name;
    out->ud = f;
    out->name = f->name;
    out->size = f->size;
    out->read_at = f->regular ? rs_file_read_at : NULL;
    out->stream = rs_file_stream;
    return CEL_OK;
exit:
    if (fd >= 0)
        close(fd);
    free(f);
    free(name);
    return st;
}

void cel_file_source_close(cel_source *src) {
    if (src == NULL || src->ud == NULL)
        return;
    rs_file *f = src->ud;
    close(f->fd);
    free(f->name);
    free(f);
    memset(src, 0, sizeof *src);
}

/* ---- detection ---------------------------------------------------------- */

typedef enum { RS_EXT_NONE, RS_EXT_FORMAT, RS_EXT_COMPRESSED } rs_ext_kind;

/* Classifies the extension of the last path component of name. */
static rs_ext_kind rs_extension(const char *name, cel_format *fmt, bool *tab, const char **ext) {
    static const char *const compressed[] = {"gz",  "gzip", "bz2", "xz", "zst", "zstd",
                                             "zip", "lz4",  "br",  "z",  "7z"};
    static const struct {
        const char *ext;
        cel_format fmt;
        bool tab;
    } formats[] = {
        {"csv", CEL_FMT_CSV, false},       {"tsv", CEL_FMT_CSV, true},
        {"tab", CEL_FMT_CSV, true},        {"json", CEL_FMT_JSON, false},
        {"ndjson", CEL_FMT_NDJSON, false}, {"jsonl", CEL_FMT_NDJSON, false},
        {"ldjson", CEL_FMT_NDJSON, false}, {"parquet", CEL_FMT_PARQUET, false},
        {"parq", CEL_FMT_PARQUET, false},  {"pq", CEL_FMT_PARQUET, false},
    };
    *fmt = CEL_FMT_AUTO;
    *tab = false;
    *ext = NULL;
    if (name == NULL)
        return RS_EXT_NONE;
    const char *base = strrchr(name, '/');
    base = base ? base + 1 : name;
    const char *dot = strrchr(base, '.');
    if (dot == NULL || dot == base)
        return RS_EXT_NONE;
    *ext = dot + 1;
    for (size_t i = 0; i < sizeof compressed / sizeof compressed[0]; i++) {
        if (strcasecmp(dot + 1, compressed[i]) == 0)
            return RS_EXT_COMPRESSED;
    }
    for (size_t i = 0; i < sizeof formats / sizeof formats[0]; i++) {
        if (strcasecmp(dot + 1, formats[i].ext) == 0) {
            *fmt = formats[i].fmt;
            *tab = formats[i].tab;
            return RS_EXT_FORMAT;
        }
    }
    return RS_EXT_NONE;
}

typedef enum { RS_SNIFF_MORE, RS_SNIFF_DONE, RS_SNIFF_GZIP } rs_sniff_result;

/* Looks at the first n bytes. *fmt = Parquet, JSON, NDJSON or CSV when done. */
static rs_sniff_result rs_sniff(const unsigned char *s, size_t n, bool eof, cel_format *fmt) {
    static const unsigned char par1[4] = {'P', 'A', 'R', '1'};
    static const unsigned char bom[3] = {0xEF, 0xBB, 0xBF};
    if (n >= 2 && s[0] == 0x1F && s[1] == 0x8B)
        return RS_SNIFF_GZIP;
    if (n >= 4 && memcmp(s, par1, 4) == 0) {
        *fmt = CEL_FMT_PARQUET;
        return RS_SNIFF_DONE;
    }
    if (!eof && n < 4 && (memcmp(s, par1, n) == 0 || (n == 1 && s[0] == 0x1F)))
        return RS_SNIFF_MORE;
    size_t i = 0;
    if (n >= 3 && memcmp(s, bom, 3) == 0)
        i = 3;
    else if (!eof && n < 3 && memcmp(s, bom, n) == 0)
        return RS_SNIFF_MORE;
    while (i < n && (s[i] == ' ' || s[i] == '\t' || s[i] == '\r' || s[i] == '\n'))
        i++;
    if (i == n) {
        if (!eof && n < RS_SNIFF_MAX)
            return RS_SNIFF_MORE;
        *fmt = CEL_FMT_CSV;
        return RS_SNIFF_DONE;
    }
    *fmt = s[i] == '[' ? CEL_FMT_JSON : s[i] == '{' ? CEL_FMT_NDJSON : CEL_FMT_CSV;
    return RS_SNIFF_DONE;
}

/* ---- cel_read_source -------------------------------------------------------- */

typedef struct rs_ctx {
    const cel_source *src;
    const cel_reader_opts *opts;
    const cel_row_sink *sink;
    cel_format fmt; /* the format, or a candidate (AUTO / from the name) until decided */
    bool decided;
    bool refine; /* the candidate came from a .json name: '{' content → NDJSON */
    cel_format *used;
    unsigned char buf[RS_SNIFF_MAX];
    size_t n;
    cel_stream_reader *reader;
    bool want_parquet;
} rs_ctx;

static void rs_decided(rs_ctx *c, cel_format fmt, const char *by) {
    c->fmt = fmt;
    c->decided = true;
    if (c->used)
        *c->used = fmt;
    LOG(LOG_DEBUG, "reader.format", LF_S("source", c->src->name ? c->src->name : ""),
        LF_S("format", cel_format_name(fmt)), LF_S("by", by));
}

/* Makes the decision from the held bytes and starts the reader on them. */
static cel_status rs_start(rs_ctx *c, bool eof, cel_error *err) {
    cel_format sniffed = CEL_FMT_CSV;
    rs_sniff_result r = rs_sniff(c->buf, c->n, eof, &sniffed);
    if (r == RS_SNIFF_MORE)
        return CEL_OK;
    if (r == RS_SNIFF_GZIP && c->fmt == CEL_FMT_AUTO)
        return cel_fail(err, CEL_EUNSUPPORTED,
                        "%s is gzip-compressed; compressed input is not "
                        "supported",
                        c->src->name ? c->src->name : "input");
    if (c->fmt == CEL_FMT_AUTO)
        rs_decided(c, sniffed, "content");
    else if (c->refine && sniffed == CEL_FMT_NDJSON)
        rs_decided(c, CEL_FMT_NDJSON, "extension+content");
    else
        rs_decided(c, c->fmt, "extension");
    if (c->fmt == CEL_FMT_PARQUET) {
        c->want_parquet = true;
        return CEL_EUNSUPPORTED; /* stops the stream; handled by cel_read_source */
    }
    cel_status st = cel_stream_reader_new(c->fmt, c->opts, c->sink, &c->reader, err);
    if (st == CEL_OK && c->n > 0)
        st = cel_stream_reader_feed(c->reader, c->buf, c->n, err);
    return st;
}

static cel_status rs_chunk(void *ud, const void *data, size_t len, cel_error *err) {
    rs_ctx *c = ud;
    if (c->reader == NULL) {
        size_t take = RS_SNIFF_MAX - c->n < len ? RS_SNIFF_MAX - c->n : len;
        memcpy(c->buf + c->n, data, take);
        c->n += take;
        data = (const char *)data + take;
        len -= take;
        cel_status st = rs_start(c, false, err);
        if (st != CEL_OK || c->reader == NULL)
            return st; /* still undecided means all of data was taken */
    }
    if (len == 0)
        return CEL_OK;
    return cel_stream_reader_feed(c->reader, data, len, err);
}

/* Streams a random-access source that has no stream function. */
static cel_status rs_stream_by_read_at(const cel_source *src, rs_ctx *c, cel_error *err) {
    if (src->size < 0)
        return cel_fail(err, CEL_EINVAL, "source %s has neither a stream nor a known size",
                        src->name ? src->name : "");
    char *buf = malloc(RS_CHUNK);
    if (buf == NULL)
        return cel_fail(err, CEL_ENOMEM, "out of memory reading %s", src->name ? src->name : "");
    cel_status st = CEL_OK;
    for (uint64_t off = 0; off < (uint64_t)src->size && st == CEL_OK;) {
        uint64_t left = (uint64_t)src->size - off;
        size_t n = left < RS_CHUNK ? (size_t)left : RS_CHUNK;
        st = src->read_at(src->ud, off, n, buf, err);
        if (st == CEL_OK)
            st = rs_chunk(c, buf, n, err);
        off += n;
    }
    free(buf);
    return st;
}

cel_status cel_read_source(const cel_source *src, const cel_reader_opts *opts,
                           const cel_row_sink *sink, cel_format *used, cel_error *err) {
    if (used)
        *used = CEL_FMT_AUTO;
    if (src == NULL || sink == NULL)
        return cel_fail(err, CEL_EINVAL, "cel_read_source: no source or no sink");
    cel_reader_opts o;
    if (opts != NULL)
        o = *opts;
    else
        memset(&o, 0, sizeof o);
    cel_reader_opts_defaults(&o);
    const char *name = src->name ? src->name : "input";

    rs_ctx *c = calloc(1, sizeof *c);
    if (c == NULL)
        return cel_fail(err, CEL_ENOMEM, "out of memory reading %s", name);
    c->src = src;
    c->opts = &o;
    c->sink = sink;
    c->used = used;
    cel_status st = CEL_OK;
    if (o.format != CEL_FMT_AUTO) {
        rs_decided(c, o.format, "option");
    } else {
        cel_format ext_fmt;
        bool tab;
        const char *ext;
        rs_ext_kind k = rs_extension(src->name, &ext_fmt, &tab, &ext);
        if (k == RS_EXT_COMPRESSED) {
            st = cel_fail(err, CEL_EUNSUPPORTED, "compressed input (.%s) is not supported: %s", ext,
                          name);
            goto exit;
        }
        if (tab && o.delimiter == 0)
            o.delimiter = '\t';
        c->fmt = ext_fmt;
        c->refine = ext_fmt == CEL_FMT_JSON;
        if (ext_fmt != CEL_FMT_AUTO && !c->refine)
            rs_decided(c, ext_fmt, "extension");
    }

    if (c->decided && c->fmt == CEL_FMT_PARQUET) {
        c->want_parquet = true;
    } else {
        if (c->decided) {
            st = cel_stream_reader_new(c->fmt, &o, sink, &c->reader, err);
            if (st != CEL_OK)
                goto exit;
        }
        cel_error serr;
        cel_error_clear(&serr);
        if (src->stream != NULL)
            st = src->stream(src->ud, rs_chunk, c, &serr);
        else if (src->read_at != NULL)
            st = rs_stream_by_read_at(src, c, &serr);
        else
            st = cel_fail(&serr, CEL_EINVAL, "source %s can be neither streamed nor read", name);
        if (c->want_parquet)
            st = CEL_OK; /* the stream was stopped on purpose at "PAR1" */
        if (st == CEL_OK && !c->want_parquet && c->reader == NULL) {
            st = rs_start(c, true, &serr); /* input shorter than the sniff window */
            if (c->want_parquet)
                st = CEL_OK;
        }
        if (!c->want_parquet) {
            if (st == CEL_OK && c->reader == NULL)
                st = cel_fail(&serr, CEL_EINTERNAL, "format of %s undecided", name);
            if (st == CEL_OK)
                st = cel_stream_reader_finish(c->reader, &serr);
            if (st != CEL_OK) {
                cel_fail(err, st, "%s", serr.msg[0] ? serr.msg : "reading failed");
                goto exit;
            }
        }
    }
    if (c->want_parquet) {
        if (src->read_at == NULL || src->size < 0) {
            st = cel_fail(err, CEL_EUNSUPPORTED,
                          "%s is Parquet, which needs a random-access source (not a pure stream)",
                          name);
            goto exit;
        }
        st = parquet_read_source(src, &o, sink, err);
    }
exit:
    cel_stream_reader_free(c->reader);
    free(c);
    return st;
}
