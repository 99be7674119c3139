-- 0006_imports_staging_progress.sql: two columns the imports worker (src/tasks/imports.c)
-- needs on imports.job to survive a crash in the middle of a large import.
--
--   * staged_at: set in the same transaction as the last staging batch, when the whole CSV
--     has been staged. The initial flow commits staging rows in batches (so a killed worker
--     resumes instead of starting over, skipping rows already staged by their row hash);
--     "the job has staging rows" therefore no longer means "the file was read", and the
--     worker decides INITIAL_PROCESSING (staged_at IS NULL: read / resume reading the file)
--     vs REPROCESSING (staged_at set: revalidate the staging rows, never read the file) from
--     this column.
--   * s3_etag: the ETag of the object being staged, recorded before the first batch. A
--     resumed import whose object has a different ETag fails the job instead of mixing rows
--     of two files under one job.
--
-- Deliberately not here: per-batch progress rows (the staged row count is a count(*) away).

ALTER TABLE imports.job ADD COLUMN IF NOT EXISTS staged_at timestamptz NULL;
ALTER TABLE imports.job ADD COLUMN IF NOT EXISTS s3_etag text NULL;
