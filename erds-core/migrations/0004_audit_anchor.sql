-- 0004_audit_anchor: time-stamped anchors over the heads of the audit log's hash chains.
-- An anchor lists the chain heads (writer, seq, hash) that moved since the previous anchor, chains
-- to that anchor's digest, and carries an RFC 3161 token over its own digest (erds::AuditLog::anchor).
-- Append-only for the daemon role, like audit_log.

CREATE TABLE audit_anchor (
    id               bigserial   PRIMARY KEY,
    at               timestamptz NOT NULL,
    prev_digest      bytea       NOT NULL CHECK (octet_length(prev_digest) = 32),
    digest           bytea       NOT NULL UNIQUE CHECK (octet_length(digest) = 32),
    timestamp_token  bytea       NOT NULL CHECK (octet_length(timestamp_token) > 0),
    -- Two anchorers (several erdsd nodes) must not fork the anchor chain: the second one fails
    -- with a unique violation and retries at its next tick.
    UNIQUE (prev_digest)
);

CREATE TABLE audit_anchor_head (
    anchor_id  bigint NOT NULL REFERENCES audit_anchor (id),
    writer_id  text   NOT NULL,
    seq        bigint NOT NULL CHECK (seq >= 1),
    hash       bytea  NOT NULL CHECK (octet_length(hash) = 32),
    PRIMARY KEY (anchor_id, writer_id)
);
CREATE INDEX audit_anchor_head_writer_idx ON audit_anchor_head (writer_id, anchor_id);

REVOKE ALL ON audit_anchor, audit_anchor_head FROM PUBLIC;
REVOKE UPDATE, DELETE, TRUNCATE ON audit_anchor, audit_anchor_head FROM {{app_role}};
GRANT SELECT, INSERT ON audit_anchor, audit_anchor_head TO {{app_role}};
GRANT USAGE ON SEQUENCE audit_anchor_id_seq TO {{app_role}};
