-- 0003_identity: parties, credentials, second factors, sessions, login throttling, delivery
-- identifier bindings, identifications and the officer verification workflow (erds::identity).
-- Runs as the owner role. Secrets are never stored in clear: passwords as Argon2id PHC strings,
-- session tokens, recovery codes and proof-of-control codes as SHA-256, TOTP seeds and document
-- scans encrypted under the KEK, document numbers as HMAC-SHA256 under a pepper.

-- Natural or legal persons. roles is a bit set: 1 user, 2 officer, 4 admin.
CREATE TABLE parties (
    id                      text        PRIMARY KEY CHECK (length(id) BETWEEN 1 AND 64),
    kind                    text        NOT NULL CHECK (kind IN ('natural', 'legal')),
    roles                   integer     NOT NULL DEFAULT 1 CHECK (roles BETWEEN 0 AND 7),
    family_name             text        NOT NULL DEFAULT '',
    first_name              text        NOT NULL DEFAULT '',
    date_of_birth           text        NOT NULL DEFAULT '',
    person_identifier       text        NOT NULL DEFAULT '',
    legal_name              text        NOT NULL DEFAULT '',
    legal_person_identifier text        NOT NULL DEFAULT '',
    disabled                boolean     NOT NULL DEFAULT false,
    created_at              timestamptz NOT NULL
);

-- The login identifier (lower-cased "mailto:...") and the Argon2id hash of a party.
CREATE TABLE credentials (
    party_id         text        PRIMARY KEY REFERENCES parties (id),
    login_identifier text        NOT NULL UNIQUE CHECK (login_identifier = lower(login_identifier)),
    password_hash    text        NOT NULL CHECK (password_hash LIKE '$argon2id$%'),
    updated_at       timestamptz NOT NULL
);

-- TOTP seed wrapped by the KEK (context "totp:<party>"); confirmed once the first code matched.
-- last_step is the last accepted RFC 6238 step (replay refusal).
CREATE TABLE totp_secrets (
    party_id     text        PRIMARY KEY REFERENCES parties (id),
    seed_wrapped bytea       NOT NULL,
    confirmed    boolean     NOT NULL DEFAULT false,
    last_step    bigint,
    created_at   timestamptz NOT NULL
);

-- Single-use recovery codes, SHA-256 (domain-separated) of the normalised code.
CREATE TABLE recovery_codes (
    party_id  text  NOT NULL REFERENCES parties (id),
    code_hash bytea NOT NULL CHECK (octet_length(code_hash) = 32),
    PRIMARY KEY (party_id, code_hash)
);

-- Delivery identifiers ("mailto:...") claimed by a party. A claim is 'pending' until the party
-- proves control with the code sent to the address (stored as SHA-256, with an expiry and an
-- attempt counter); at most one party has an identifier 'bound' at any time; 'released' rows stay
-- as history (handover goes to the party bound at handover time).
CREATE TABLE identifier_bindings (
    id              text        PRIMARY KEY,
    identifier      text        NOT NULL CHECK (identifier = lower(identifier)),
    party_id        text        NOT NULL REFERENCES parties (id),
    status          text        NOT NULL CHECK (status IN ('pending', 'bound', 'released')),
    code_hash       bytea       CHECK (code_hash IS NULL OR octet_length(code_hash) = 32),
    code_expires_at timestamptz,
    code_attempts   integer     NOT NULL DEFAULT 0 CHECK (code_attempts >= 0),
    created_at      timestamptz NOT NULL,
    bound_at        timestamptz,
    released_at     timestamptz
);
CREATE UNIQUE INDEX identifier_bindings_bound_idx ON identifier_bindings (identifier) WHERE status = 'bound';
CREATE UNIQUE INDEX identifier_bindings_claim_idx ON identifier_bindings (identifier, party_id)
    WHERE status <> 'released';
CREATE INDEX identifier_bindings_party_idx ON identifier_bindings (party_id);

-- Sessions, keyed by SHA-256 of the opaque token. Revocation is a row update, so every node sees
-- it on its next check.
CREATE TABLE sessions (
    token_hash          bytea       PRIMARY KEY CHECK (octet_length(token_hash) = 32),
    party_id            text        NOT NULL REFERENCES parties (id),
    level               text        NOT NULL CHECK (level IN ('none', 'low', 'substantial', 'high')),
    methods             text        NOT NULL,  -- comma-separated authentication method names
    authenticated_at    timestamptz NOT NULL,
    created_at          timestamptz NOT NULL,
    last_seen_at        timestamptz NOT NULL,
    idle_expires_at     timestamptz NOT NULL,
    absolute_expires_at timestamptz NOT NULL,
    revoked_at          timestamptz
);
CREATE INDEX sessions_party_idx ON sessions (party_id) WHERE revoked_at IS NULL;
CREATE INDEX sessions_expiry_idx ON sessions (absolute_expires_at);

-- Login failure counters per key ("id:<sha256 hex>" or "ip:<address>"): no addresses in clear.
CREATE TABLE login_throttle (
    key          text        PRIMARY KEY,
    failures     integer     NOT NULL DEFAULT 0,
    lockouts     integer     NOT NULL DEFAULT 0,
    window_start timestamptz,
    last_failure timestamptz,
    locked_until timestamptz
);

-- Completed identity verifications (the gate and the evidence read these).
CREATE TABLE identifications (
    id                      text        PRIMARY KEY,
    party_id                text        NOT NULL REFERENCES parties (id),
    method                  text        NOT NULL CHECK (method IN ('physical_presence', 'remote_id_document_scan',
                                            'qualified_certificate', 'ncp_certificate', 'eid_notified',
                                            'eudi_wallet', 'cab_confirmed_remote')),
    level                   text        NOT NULL CHECK (level IN ('low', 'substantial', 'high')),
    at                      timestamptz NOT NULL,
    valid_until             timestamptz,
    officer_ids             text[]      NOT NULL DEFAULT '{}',
    verification_request_id text        NOT NULL DEFAULT '',
    revoked                 boolean     NOT NULL DEFAULT false
);
CREATE INDEX identifications_party_idx ON identifications (party_id);

-- Officer workflow. version is the optimistic-concurrency counter.
CREATE TABLE verification_requests (
    id               text        PRIMARY KEY,
    party_id         text        NOT NULL REFERENCES parties (id),
    created_by       text        NOT NULL REFERENCES parties (id),
    requested_level  text        NOT NULL CHECK (requested_level IN ('low', 'substantial', 'high')),
    status           text        NOT NULL CHECK (status IN ('pending', 'awaiting_second_approval', 'approved',
                                                            'rejected')),
    created_at       timestamptz NOT NULL,
    rejection_reason text        NOT NULL DEFAULT '',
    decided_by       text        NOT NULL DEFAULT '',
    decided_at       timestamptz,
    version          bigint      NOT NULL DEFAULT 0
);
CREATE INDEX verification_requests_open_idx ON verification_requests (created_at)
    WHERE status IN ('pending', 'awaiting_second_approval');
CREATE INDEX verification_requests_party_idx ON verification_requests (party_id, created_at DESC);

-- The reviewed identity document: the number only as HMAC-SHA256 under the pepper; the scan (if
-- any) AES-GCM-encrypted under a data key wrapped by the KEK, purged after scan_purge_after while
-- the decision record stays.
CREATE TABLE verification_documents (
    request_id       text        PRIMARY KEY REFERENCES verification_requests (id),
    document_type    text        NOT NULL,
    issuing_country  text        NOT NULL CHECK (length(issuing_country) = 2),
    number_hash      bytea       NOT NULL CHECK (octet_length(number_hash) = 32),
    expires_on       text        NOT NULL,
    reviewed_by      text        NOT NULL,
    scan_encrypted   bytea,
    scan_media_type  text,
    scan_purge_after timestamptz
);
CREATE INDEX verification_documents_number_idx ON verification_documents (number_hash);

-- Officer approvals (one, or two for level high), each linked to the officer's authentication.
CREATE TABLE verification_approvals (
    request_id         text        NOT NULL REFERENCES verification_requests (id),
    seq                integer     NOT NULL CHECK (seq >= 1),
    officer_id         text        NOT NULL REFERENCES parties (id),
    officer_auth_ref   text        NOT NULL,
    method             text        NOT NULL,
    level              text        NOT NULL,
    at                 timestamptz NOT NULL,
    PRIMARY KEY (request_id, seq)
);

-- Privileges of the daemon role: no DELETE except where a row is consumed or expired; decision
-- history (identifications, approvals) is insert-only apart from revocation.
REVOKE ALL ON parties, credentials, totp_secrets, recovery_codes, identifier_bindings, sessions,
    login_throttle, identifications, verification_requests, verification_documents,
    verification_approvals FROM PUBLIC;
GRANT SELECT, INSERT ON parties TO {{app_role}};
GRANT UPDATE (roles, family_name, first_name, date_of_birth, person_identifier, legal_name,
    legal_person_identifier, disabled) ON parties TO {{app_role}};
GRANT SELECT, INSERT ON credentials TO {{app_role}};
GRANT UPDATE (password_hash, updated_at) ON credentials TO {{app_role}};
GRANT SELECT, INSERT, DELETE ON totp_secrets TO {{app_role}};
GRANT UPDATE (seed_wrapped, confirmed, last_step, created_at) ON totp_secrets TO {{app_role}};
GRANT SELECT, INSERT, DELETE ON recovery_codes TO {{app_role}};
GRANT SELECT, INSERT ON identifier_bindings TO {{app_role}};
GRANT UPDATE (status, code_hash, code_expires_at, code_attempts, bound_at, released_at)
    ON identifier_bindings TO {{app_role}};
GRANT SELECT, INSERT, DELETE ON sessions TO {{app_role}};
GRANT UPDATE (last_seen_at, idle_expires_at, revoked_at) ON sessions TO {{app_role}};
GRANT SELECT, INSERT, UPDATE, DELETE ON login_throttle TO {{app_role}};
GRANT SELECT, INSERT ON identifications TO {{app_role}};
GRANT UPDATE (revoked) ON identifications TO {{app_role}};
GRANT SELECT, INSERT ON verification_requests TO {{app_role}};
GRANT UPDATE (status, rejection_reason, decided_by, decided_at, version) ON verification_requests
    TO {{app_role}};
GRANT SELECT, INSERT ON verification_documents TO {{app_role}};
GRANT UPDATE (document_type, issuing_country, number_hash, expires_on, reviewed_by, scan_encrypted,
    scan_media_type, scan_purge_after) ON verification_documents TO {{app_role}};
GRANT SELECT, INSERT ON verification_approvals TO {{app_role}};
