-- 0007_app_tokens: application tokens (erds::identity, identity/include/erds/identity/app_token.h).
-- A party creates one in a strongly authenticated web session for one scope ('smtp-submit': SMTP
-- AUTH in place of a password, or of the client certificate in qualified mode when
-- identity.smtp_app_tokens allows it). Only a keyed hash of the token is stored: HMAC-SHA256 under
-- a key derived from the KEK (HKDF-SHA256, info "erds app token key v1"); the token itself is
-- shown once. The authentication of the creating session (methods, level, time, session
-- reference) is kept, because the evidence of every use records it. Runs as the owner role.

CREATE TABLE app_tokens (
    id              text        PRIMARY KEY,
    party_id        text        NOT NULL REFERENCES parties (id),
    name            text        NOT NULL CHECK (length(name) BETWEEN 1 AND 100),
    -- Lower-case scope names; more scopes may follow without a schema change.
    scope           text        NOT NULL CHECK (scope ~ '^[a-z][a-z0-9-]{0,31}$'),
    token_hash      bytea       NOT NULL UNIQUE CHECK (octet_length(token_hash) = 32),
    -- How the creating session authenticated: comma-separated method names (party.h), level, time.
    auth_methods    text        NOT NULL,
    auth_level      text        NOT NULL CHECK (auth_level IN ('none', 'low', 'substantial', 'high')),
    auth_at         timestamptz NOT NULL,
    created_session text        NOT NULL,
    created_at      timestamptz NOT NULL,
    expires_at      timestamptz NOT NULL CHECK (expires_at > created_at),
    last_used_at    timestamptz,
    revoked_at      timestamptz
);
CREATE INDEX app_tokens_party_idx ON app_tokens (party_id, created_at);

REVOKE ALL ON app_tokens FROM PUBLIC;
GRANT SELECT, INSERT ON app_tokens TO {{app_role}};
GRANT UPDATE (last_used_at, revoked_at) ON app_tokens TO {{app_role}};
