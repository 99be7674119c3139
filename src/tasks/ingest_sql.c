/*
 * ingest_sql.c: the statements one strategy needs (see ingest.h): the temporary staging
 * table, the in-file conflict-key de-duplication, the merge into the target and the
 * removal of rows an older version of the object loaded.
 *
 * Design: the staging table has text columns c1..cN (one per column mapped from a field)
 * next to rownum, line, reason and raw, so COPY never fails on a value: the loader
 * already refused what the target could not take, and the merge casts each column to the
 * target's type without its modifier (assignment then applies varchar(n) / numeric(p,s)
 * with an error, never an explicit cast's silent truncation). The merge is one
 * INSERT ... SELECT ... ON CONFLICT (https://www.postgresql.org/docs/15/sql-insert.html):
 * the per-file constants ($ingestion_id, $bucket, $key, $etag, $task_id) come from a
 * one-row CTE so every parameter is typed and referenced. Identifiers were checked to be
 * plain (ingest_strategy.c) and are double-quoted anyway.
 *
 * Not here: running the statements (ingest.c).
 */
#include "tasks/ingest.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define SQL_MAX (4u * 1024u * 1024u)

void ing_sql_target(const ing_strategy *st, char *out, size_t n) {
    if (st->target_schema[0])
        snprintf(out, n, "\"%s\".\"%s\"", st->target_schema, st->target_table);
    else
        snprintf(out, n, "\"%s\"", st->target_table);
}

const char *ing_sql_copy(void) {
    return "COPY pg_temp.ingest_staging FROM STDIN";
}

char *ing_sql_staging(const ing_strategy *st) {
    dbuf b;
    dbuf_init(&b, SQL_MAX);
    cel_status rc = dbuf_append_str(&b, "CREATE TEMP TABLE ingest_staging (rownum bigint NOT "
                                        "NULL, line bigint NOT NULL, reason text, raw text");
    for (size_t i = 0; rc == CEL_OK && i < st->nstage; i++)
        rc = dbuf_printf(&b, ", c%zu text", i + 1);
    if (rc == CEL_OK)
        rc = dbuf_append_str(&b, ") ON COMMIT DROP");
    if (rc != CEL_OK) {
        dbuf_free(&b);
        return NULL;
    }
    return dbuf_take(&b);
}

static const ing_colmap *conflict_col(const ing_strategy *st, size_t i) {
    return &st->cols[st->conflict[i]];
}

char *ing_sql_dedupe(const ing_strategy *st, const ing_pgtype *types) {
    for (size_t i = 0; i < st->nconflict; i++)
        if (conflict_col(st, i)->meta == ING_META_LINE)
            return NULL;
    dbuf b, names, parts, notnull;
    dbuf_init(&b, SQL_MAX);
    dbuf_init(&names, SQL_MAX);
    dbuf_init(&parts, SQL_MAX);
    dbuf_init(&notnull, SQL_MAX);
    cel_status rc = CEL_OK;
    for (size_t i = 0; rc == CEL_OK && i < st->nconflict; i++) {
        const ing_colmap *m = conflict_col(st, i);
        rc = dbuf_printf(&names, "%s%s", names.len ? ", " : "", m->column);
        if (rc != CEL_OK || m->meta != ING_META_NONE)
            continue; /* per-file constants don't tell rows apart */
        rc = dbuf_printf(&parts, "%sc%zu::%s", parts.len ? ", " : "", m->stage_idx + 1,
                         types[st->conflict[i]].cast);
        if (rc == CEL_OK)
            rc = dbuf_printf(&notnull, " AND c%zu IS NOT NULL", m->stage_idx + 1);
    }
    /* raw of a duplicate: its mapped values (the file text was not kept for valid rows) */
    if (rc == CEL_OK)
        rc = dbuf_printf(&b,
                         "UPDATE pg_temp.ingest_staging s SET reason = 'duplicate conflict key "
                         "(%s) of line ' || d.first_line, raw = d.vals FROM (SELECT rownum, "
                         "first_value(line) OVER w AS first_line, row_number() OVER w AS rn, "
                         "array_to_string(ARRAY[",
                         names.data ? names.data : "");
    for (size_t i = 0; rc == CEL_OK && i < st->nstage; i++)
        rc = dbuf_printf(&b, "%sc%zu", i ? ", " : "", i + 1);
    if (rc == CEL_OK)
        rc = dbuf_printf(&b,
                         "], ',', '') AS vals FROM pg_temp.ingest_staging WHERE reason IS NULL%s "
                         "WINDOW w AS (%s%s ORDER BY rownum)) d WHERE s.rownum = d.rownum AND "
                         "d.rn > 1",
                         notnull.data ? notnull.data : "", parts.len ? "PARTITION BY " : "",
                         parts.data ? parts.data : "");
    dbuf_free(&names);
    dbuf_free(&parts);
    dbuf_free(&notnull);
    if (rc != CEL_OK) {
        dbuf_free(&b);
        return NULL;
    }
    return dbuf_take(&b);
}

char *ing_sql_has_dups(const ing_strategy *st, const ing_pgtype *types) {
    for (size_t i = 0; i < st->nconflict; i++)
        if (conflict_col(st, i)->meta == ING_META_LINE)
            return NULL;
    dbuf b, parts, notnull;
    dbuf_init(&b, SQL_MAX);
    dbuf_init(&parts, SQL_MAX);
    dbuf_init(&notnull, SQL_MAX);
    cel_status rc = CEL_OK;
    for (size_t i = 0; rc == CEL_OK && i < st->nconflict; i++) {
        const ing_colmap *m = conflict_col(st, i);
        if (m->meta != ING_META_NONE)
            continue;
        rc = dbuf_printf(&parts, "%sc%zu::%s", parts.len ? ", " : "", m->stage_idx + 1,
                         types[st->conflict[i]].cast);
        if (rc == CEL_OK)
            rc = dbuf_printf(&notnull, " AND c%zu IS NOT NULL", m->stage_idx + 1);
    }
    if (rc == CEL_OK)
        rc = dbuf_printf(&b,
                         "SELECT EXISTS (SELECT 1 FROM pg_temp.ingest_staging WHERE reason IS "
                         "NULL%s GROUP BY %s HAVING count(*) > 1)",
                         notnull.data ? notnull.data : "", parts.len ? parts.data : "()");
    dbuf_free(&parts);
    dbuf_free(&notnull);
    if (rc != CEL_OK) {
        dbuf_free(&b);
        return NULL;
    }
    return dbuf_take(&b);
}

static const char *meta_expr(ing_meta m) {
    switch (m) {
    case ING_META_INGESTION_ID:
        return "m.ingestion_id";
    case ING_META_BUCKET:
        return "m.bucket";
    case ING_META_KEY:
        return "m.key";
    case ING_META_ETAG:
        return "m.etag";
    case ING_META_LINE:
        return "s.line";
    case ING_META_TASK_ID:
        return "m.task_id";
    case ING_META_NOW:
        return "now()";
    default:
        return "NULL";
    }
}

static bool in_conflict(const ing_strategy *st, size_t col) {
    for (size_t i = 0; i < st->nconflict; i++)
        if (st->conflict[i] == col)
            return true;
    return false;
}

char *ing_sql_merge(const ing_strategy *st, const ing_pgtype *types) {
    char target[2 * ING_IDENT_MAX + 8];
    ing_sql_target(st, target, sizeof target);
    dbuf b;
    dbuf_init(&b, SQL_MAX);
    cel_status rc = dbuf_printf(&b,
                                "WITH m AS (SELECT $1::bigint AS ingestion_id, $2::text AS bucket, "
                                "$3::text AS key, $4::text AS etag, $5::text AS task_id) "
                                "INSERT INTO %s AS t (",
                                target);
    for (size_t i = 0; rc == CEL_OK && i < st->ncols; i++)
        rc = dbuf_printf(&b, "%s\"%s\"", i ? ", " : "", st->cols[i].column);
    if (rc == CEL_OK)
        rc = dbuf_append_str(&b, ") SELECT ");
    for (size_t i = 0; rc == CEL_OK && i < st->ncols; i++) {
        const ing_colmap *c = &st->cols[i];
        if (c->meta == ING_META_NONE)
            rc = dbuf_printf(&b, "%ss.c%zu::%s", i ? ", " : "", c->stage_idx + 1, types[i].cast);
        else
            rc = dbuf_printf(&b, "%s%s", i ? ", " : "", meta_expr(c->meta));
    }
    if (rc == CEL_OK)
        rc = dbuf_append_str(&b, " FROM pg_temp.ingest_staging s, m WHERE s.reason IS NULL "
                                 "ON CONFLICT (");
    for (size_t i = 0; rc == CEL_OK && i < st->nconflict; i++)
        rc = dbuf_printf(&b, "%s\"%s\"", i ? ", " : "", conflict_col(st, i)->column);
    if (rc == CEL_OK)
        rc = dbuf_append_str(&b, ") DO ");
    bool any = false;
    if (rc == CEL_OK && st->on_conflict == ING_CONFLICT_UPDATE) {
        for (size_t i = 0; rc == CEL_OK && i < st->ncols; i++) {
            if (in_conflict(st, i))
                continue;
            rc = dbuf_printf(&b, "%s\"%s\" = EXCLUDED.\"%s\"", any ? ", " : "UPDATE SET ",
                             st->cols[i].column, st->cols[i].column);
            any = true;
        }
    }
    if (rc == CEL_OK && !any)
        rc = dbuf_append_str(&b, "NOTHING");
    if (rc != CEL_OK) {
        dbuf_free(&b);
        return NULL;
    }
    return dbuf_take(&b);
}

char *ing_sql_replace(const ing_strategy *st) {
    if (st->on_new_version != ING_VERSION_REPLACE || st->col_bucket < 0 || st->col_key < 0 ||
        st->col_etag < 0)
        return NULL;
    char target[2 * ING_IDENT_MAX + 8];
    ing_sql_target(st, target, sizeof target);
    dbuf b;
    dbuf_init(&b, SQL_MAX);
    if (dbuf_printf(&b,
                    "DELETE FROM %s WHERE \"%s\" = $1 AND \"%s\" = $2 AND \"%s\" IS DISTINCT "
                    "FROM $3",
                    target, st->cols[st->col_bucket].column, st->cols[st->col_key].column,
                    st->cols[st->col_etag].column) != CEL_OK) {
        dbuf_free(&b);
        return NULL;
    }
    return dbuf_take(&b);
}
