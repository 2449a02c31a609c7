-- 0005_identity_documents: the requested verification method and appointment of a verification
-- request, uploaded identity document scans (encrypted at rest, purged after their retention while
-- the decision record stays) and the registry binding client certificates to parties
-- (erds::identity). Runs as the owner role.

ALTER TABLE verification_requests
    ADD COLUMN method           text NOT NULL DEFAULT 'physical_presence'
        CHECK (method IN ('physical_presence', 'remote_id_document_scan', 'qualified_certificate')),
    ADD COLUMN appointment_at   timestamptz,
    ADD COLUMN appointment_note text CHECK (appointment_note IS NULL OR length(appointment_note) <= 500);

-- Identity document scans a party uploads to its own pending verification request. The bytes are
-- AES-256-GCM-encrypted under a random data key, which is wrapped by the KEK (context
-- "identity-document:<id>"); the AAD binds id, request and content type. sha256 is of the
-- plaintext. Purging clears ciphertext, nonce and wrapped key (purged_at set); the metadata row
-- stays with the decision record. retention_until is set when the request is decided (NULL while
-- it is open: no purge).
CREATE TABLE identity_documents (
    id              text        PRIMARY KEY,
    request_id      text        NOT NULL REFERENCES verification_requests (id),
    party_id        text        NOT NULL REFERENCES parties (id),
    content_type    text        NOT NULL CHECK (content_type IN ('image/jpeg', 'image/png', 'application/pdf')),
    size_bytes      bigint      NOT NULL CHECK (size_bytes > 0),
    sha256          bytea       NOT NULL CHECK (octet_length(sha256) = 32),
    key_wrapped     bytea,
    nonce           bytea,
    ciphertext      bytea,
    uploaded_at     timestamptz NOT NULL,
    retention_until timestamptz,
    purged_at       timestamptz,
    CHECK ((purged_at IS NULL) = (ciphertext IS NOT NULL))
);
CREATE INDEX identity_documents_request_idx ON identity_documents (request_id, uploaded_at);
CREATE INDEX identity_documents_party_idx ON identity_documents (party_id);
CREATE INDEX identity_documents_retention_idx ON identity_documents (retention_until) WHERE purged_at IS NULL;

-- Client certificates a party bound to itself (signed in strongly, presenting the certificate on
-- the client-certificate listener). Looked up by the SHA-256 of the DER certificate; at most one
-- active (not revoked) binding per certificate.
CREATE TABLE party_certificates (
    id          text        PRIMARY KEY,
    party_id    text        NOT NULL REFERENCES parties (id),
    sha256      bytea       NOT NULL CHECK (octet_length(sha256) = 32),
    subject     text        NOT NULL,
    issuer      text        NOT NULL,
    serial      text        NOT NULL,
    not_after   timestamptz NOT NULL,
    added_at    timestamptz NOT NULL,
    revoked_at  timestamptz
);
CREATE UNIQUE INDEX party_certificates_active_idx ON party_certificates (sha256) WHERE revoked_at IS NULL;
CREATE INDEX party_certificates_party_idx ON party_certificates (party_id);

REVOKE ALL ON identity_documents, party_certificates FROM PUBLIC;
GRANT SELECT, INSERT ON identity_documents TO {{app_role}};
GRANT UPDATE (key_wrapped, nonce, ciphertext, retention_until, purged_at) ON identity_documents TO {{app_role}};
GRANT SELECT, INSERT ON party_certificates TO {{app_role}};
GRANT UPDATE (revoked_at) ON party_certificates TO {{app_role}};
