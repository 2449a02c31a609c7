-- 0002_core: messages, per-recipient deliveries, encrypted content, evidence (append-only), the job
-- queue and pending mailboxes (erds::core, erds-core/delivery). Runs as the owner role.

-- One row per submission (accepted or rejected). id is chosen by the core before the upload starts,
-- so that content can be encrypted under the message's data key while it streams in.
CREATE TABLE messages (
    id                uuid        PRIMARY KEY,
    status            text        NOT NULL CHECK (status IN ('accepted', 'rejected')),
    sender_party_id   text        NOT NULL,
    sender_identifier text        NOT NULL,
    subject           text        NOT NULL DEFAULT '',
    consignment_mode  text        NOT NULL CHECK (consignment_mode IN ('basic', 'consent')),
    required_loa      text        NOT NULL CHECK (required_loa IN ('low', 'substantial', 'high')),
    expires_at        timestamptz NOT NULL,
    scheduled_at      timestamptz,
    created_at        timestamptz NOT NULL,
    idempotency_key   text,
    request_hash      bytea       CHECK (request_hash IS NULL OR octet_length(request_hash) = 32),
    content_digest    bytea       NOT NULL CHECK (octet_length(content_digest) = 32),
    part_count        integer     NOT NULL DEFAULT 0 CHECK (part_count >= 0),
    content_size      bigint      NOT NULL DEFAULT 0 CHECK (content_size >= 0),
    rejection_reason  text,
    -- Idempotency-Key: unique per sender; NULL keys never collide.
    UNIQUE (sender_party_id, idempotency_key),
    CHECK ((idempotency_key IS NULL) = (request_hash IS NULL))
);
CREATE INDEX messages_sender_idx ON messages (sender_party_id, created_at DESC, id);

-- One row per recipient of a message; the lifecycle state machine (erds/core/lifecycle.h) runs here.
CREATE TABLE deliveries (
    message_id           uuid        NOT NULL REFERENCES messages (id),
    recipient_index      integer     NOT NULL CHECK (recipient_index >= 0),
    recipient_identifier text        NOT NULL,
    recipient_party_id   text,
    state                text        NOT NULL,
    last_event           text        NOT NULL,
    state_changed_at     timestamptz NOT NULL,
    PRIMARY KEY (message_id, recipient_index)
);
CREATE INDEX deliveries_party_idx ON deliveries (recipient_party_id, state_changed_at DESC)
    WHERE recipient_party_id IS NOT NULL;

-- The per-message data key, wrapped by the key-encryption key (context "message:<id>"). Created at
-- the first upload, before the message row exists; next_part_index hands out part indexes so that
-- every (part index, chunk counter) nonce is used once under the key, even by abandoned uploads.
CREATE TABLE message_keys (
    message_id      uuid        PRIMARY KEY,
    wrapped_key     bytea       NOT NULL,
    next_part_index integer     NOT NULL DEFAULT 0 CHECK (next_part_index >= 0),
    created_at      timestamptz NOT NULL
);

-- One row per uploaded part. id is the upload id. state: uploading -> staged (finished, not yet
-- submitted) -> linked (part of a message, position set). Unlinked parts older than a cut-off are
-- garbage-collected with their chunks.
CREATE TABLE content_parts (
    id          uuid        PRIMARY KEY,
    message_id  uuid        NOT NULL REFERENCES message_keys (message_id),
    part_index  integer     NOT NULL CHECK (part_index >= 0),
    state       text        NOT NULL CHECK (state IN ('uploading', 'staged', 'linked')),
    position    integer     CHECK (position >= 0),
    filename    text        NOT NULL,
    media_type  text        NOT NULL,
    size        bigint      CHECK (size >= 0),
    sha256      bytea       CHECK (sha256 IS NULL OR octet_length(sha256) = 32),
    chunk_count integer     CHECK (chunk_count >= 1),
    created_at  timestamptz NOT NULL,
    UNIQUE (message_id, part_index),
    CHECK ((state = 'linked') = (position IS NOT NULL)),
    CHECK (state = 'uploading' OR (size IS NOT NULL AND sha256 IS NOT NULL AND chunk_count IS NOT NULL))
);
CREATE UNIQUE INDEX content_parts_position_idx ON content_parts (message_id, position)
    WHERE position IS NOT NULL;
CREATE INDEX content_parts_gc_idx ON content_parts (created_at) WHERE state <> 'linked';

-- AES-256-GCM chunks of at most 1 MiB plaintext (+16-byte tag). The chunk index and the final flag
-- are bound in the associated data, so reordering and truncation are detected when reading.
CREATE TABLE content_chunks (
    part_id     uuid        NOT NULL REFERENCES content_parts (id) ON DELETE CASCADE,
    chunk_index integer     NOT NULL CHECK (chunk_index >= 0),
    final       boolean     NOT NULL,
    ciphertext  bytea       NOT NULL CHECK (octet_length(ciphertext) <= 1048576 + 16),
    created_at  timestamptz NOT NULL,
    PRIMARY KEY (part_id, chunk_index)
);
-- The bytes are already encrypted and incompressible.
ALTER TABLE content_chunks ALTER COLUMN ciphertext SET STORAGE EXTERNAL;

-- Sealed, time-stamped evidence (EN 319 522-3 XML). Append-only for the daemons.
-- Exactly once: one row per (message, recipient or none, event, sequence).
CREATE TABLE evidence (
    id              text        PRIMARY KEY,
    stored_order    bigint      GENERATED ALWAYS AS IDENTITY UNIQUE,  -- issuance order
    message_id      uuid        NOT NULL REFERENCES messages (id),
    recipient_index integer     CHECK (recipient_index >= 0),
    event           text        NOT NULL,
    reason          text        NOT NULL,
    sequence        integer     NOT NULL DEFAULT 0 CHECK (sequence >= 0),
    xml             bytea       NOT NULL,
    created_at      timestamptz NOT NULL
);
CREATE UNIQUE INDEX evidence_once_idx
    ON evidence (message_id, (coalesce(recipient_index, -1)), event, sequence);

-- Work for the lifecycle workers, claimed with FOR UPDATE SKIP LOCKED under a lease.
CREATE TABLE jobs (
    id           bigserial   PRIMARY KEY,
    kind         text        NOT NULL,
    payload      jsonb       NOT NULL DEFAULT '{}'::jsonb,
    dedupe_key   text        UNIQUE,
    state        text        NOT NULL DEFAULT 'pending' CHECK (state IN ('pending', 'dead')),
    run_at       timestamptz NOT NULL,
    attempts     integer     NOT NULL DEFAULT 0 CHECK (attempts >= 0),
    max_attempts integer     NOT NULL DEFAULT 10 CHECK (max_attempts >= 1),
    locked_by    text,
    locked_until timestamptz,
    last_error   text,
    created_at   timestamptz NOT NULL
);
CREATE INDEX jobs_ready_idx ON jobs (run_at, id) WHERE state = 'pending';

-- Addresses of our own domains that have no party yet: the deliveries waiting for them.
CREATE TABLE pending_mailboxes (
    address         text        NOT NULL,
    message_id      uuid        NOT NULL,
    recipient_index integer     NOT NULL,
    created_at      timestamptz NOT NULL,
    PRIMARY KEY (address, message_id, recipient_index),
    FOREIGN KEY (message_id, recipient_index) REFERENCES deliveries (message_id, recipient_index)
);

REVOKE ALL ON messages, deliveries, message_keys, content_parts, content_chunks, evidence, jobs,
    pending_mailboxes FROM PUBLIC;

GRANT SELECT, INSERT, UPDATE ON messages TO {{app_role}};
GRANT SELECT, INSERT, UPDATE ON deliveries TO {{app_role}};
GRANT SELECT, INSERT, UPDATE, DELETE ON message_keys TO {{app_role}};
GRANT SELECT, INSERT, UPDATE, DELETE ON content_parts TO {{app_role}};
GRANT SELECT, INSERT, DELETE ON content_chunks TO {{app_role}};
GRANT SELECT, INSERT, UPDATE, DELETE ON jobs TO {{app_role}};
GRANT USAGE ON SEQUENCE jobs_id_seq TO {{app_role}};
GRANT SELECT, INSERT, DELETE ON pending_mailboxes TO {{app_role}};

-- Evidence is append-only for the daemons (SQLSTATE 42501 on UPDATE/DELETE/TRUNCATE).
REVOKE UPDATE, DELETE, TRUNCATE ON evidence FROM {{app_role}};
GRANT SELECT, INSERT ON evidence TO {{app_role}};
