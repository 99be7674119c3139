-- 0002_datasets.sql: the dataset processor's tables (seed 002): datasets, jobs, reports.
--
-- Seed 002's API (FastAPI + SQLAlchemy/Alembic) owns these tables; celeriac is its worker
-- (`datasets.process_dataset(dataset_id, job_id)`) and updates statuses, progress and the
-- report. Columns, types, CHECK lists, defaults and indexes are the seed's ("Database
-- Schema (Postgres)"), in schema public under the seed's unqualified names. Where the seed
-- says only "X default now()" the column stays nullable, as written. Our one addition:
-- `status`, `state`, `progress`, `jobs.dataset_id` and `reports.dataset_id` are NOT NULL,
-- because a CHECK list accepts NULL and a status-less dataset or an orphan job/report has no
-- meaning (the API always sets them). Index names follow SQLAlchemy's default convention (ix_<table>_<column>); check
-- constraint names are PostgreSQL's default form so error messages read the same.
-- gen_random_uuid() is built in since PostgreSQL 13.
--
-- Deliberately not here: a partial unique index on active jobs (the seed leaves "no
-- duplicate concurrent jobs" to the API); ON DELETE on reports.dataset_id (the seed gives
-- cascade to jobs only).

CREATE TABLE IF NOT EXISTS datasets (
    id uuid PRIMARY KEY DEFAULT gen_random_uuid(),
    name text NOT NULL,
    original_filename text NOT NULL,
    content_type text NOT NULL,
    status text NOT NULL
        CONSTRAINT datasets_status_check
        CHECK (status IN ('uploaded', 'processing', 'done', 'failed')),
    checksum_sha256 text NOT NULL,
    size_bytes bigint NOT NULL,
    uploaded_at timestamptz DEFAULT now(),
    processed_at timestamptz NULL,
    row_count integer NULL,
    error text NULL,
    -- object storage
    upload_bucket text NOT NULL,
    upload_key text NOT NULL,
    upload_etag text NULL,
    CONSTRAINT datasets_checksum_sha256_key UNIQUE (checksum_sha256)
);
CREATE INDEX IF NOT EXISTS ix_datasets_status ON datasets (status);
CREATE INDEX IF NOT EXISTS ix_datasets_uploaded_at ON datasets (uploaded_at);

CREATE TABLE IF NOT EXISTS jobs (
    id uuid PRIMARY KEY DEFAULT gen_random_uuid(),
    dataset_id uuid NOT NULL
        CONSTRAINT jobs_dataset_id_fkey REFERENCES datasets (id) ON DELETE CASCADE,
    celery_task_id text NULL,
    state text NOT NULL
        CONSTRAINT jobs_state_check
        CHECK (state IN ('queued', 'started', 'retrying', 'success', 'failure')),
    progress integer NOT NULL DEFAULT 0
        CONSTRAINT jobs_progress_check CHECK (progress BETWEEN 0 AND 100),
    queued_at timestamptz DEFAULT now(),
    started_at timestamptz NULL,
    finished_at timestamptz NULL,
    error text NULL
);
CREATE INDEX IF NOT EXISTS ix_jobs_dataset_id ON jobs (dataset_id);
CREATE INDEX IF NOT EXISTS ix_jobs_state ON jobs (state);
CREATE INDEX IF NOT EXISTS ix_jobs_queued_at ON jobs (queued_at);

CREATE TABLE IF NOT EXISTS reports (
    id uuid PRIMARY KEY DEFAULT gen_random_uuid(),
    dataset_id uuid NOT NULL
        CONSTRAINT reports_dataset_id_key UNIQUE
        CONSTRAINT reports_dataset_id_fkey REFERENCES datasets (id),
    report_json jsonb NOT NULL,
    created_at timestamptz DEFAULT now(),
    -- object storage
    report_bucket text NOT NULL,
    report_key text NOT NULL,
    report_etag text NULL
);
CREATE INDEX IF NOT EXISTS ix_reports_created_at ON reports (created_at);
