-- 0001_base: the audit log, and the privileges of the daemon role ({{app_role}}).
-- Runs as the owner role, inside one transaction, via erds::pg::applyMigrations.

-- Nobody but the owner creates objects in the schema (PostgreSQL 15 already defaults to this).
REVOKE CREATE ON SCHEMA public FROM PUBLIC;
GRANT USAGE ON SCHEMA public TO {{app_role}};

-- Append-only, hash-chained per writer (one writer = one database connection).
CREATE TABLE audit_log (
    id          bigserial   PRIMARY KEY,
    writer_id   text        NOT NULL,
    seq         bigint      NOT NULL CHECK (seq >= 1),
    at          timestamptz NOT NULL,
    actor       text        NOT NULL,
    action      text        NOT NULL,
    object      text        NOT NULL DEFAULT '',
    outcome     text        NOT NULL,
    request_id  text,
    details     jsonb       NOT NULL DEFAULT '{}'::jsonb,
    prev_hash   bytea       NOT NULL CHECK (octet_length(prev_hash) = 32),
    hash        bytea       NOT NULL CHECK (octet_length(hash) = 32),
    UNIQUE (writer_id, seq)
);
CREATE INDEX audit_log_at_idx ON audit_log (at);

REVOKE ALL ON audit_log FROM PUBLIC;
REVOKE UPDATE, DELETE, TRUNCATE ON audit_log FROM {{app_role}};
GRANT SELECT, INSERT ON audit_log TO {{app_role}};
GRANT USAGE ON SEQUENCE audit_log_id_seq TO {{app_role}};

GRANT SELECT ON schema_migrations TO {{app_role}};
