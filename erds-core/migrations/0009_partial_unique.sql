-- Keys that most rows lack are indexed only where present: a message without an Idempotency-Key
-- (every received mail, most submissions) and a job without a dedupe key (consign and notify jobs)
-- no longer add an entry to these unique indexes. Uniqueness of the keys that exist is unchanged;
-- inserts that rely on it name the index predicate (ON CONFLICT (dedupe_key) WHERE dedupe_key IS
-- NOT NULL). On a large installation this migration builds two indexes while holding the tables'
-- locks: run it in a maintenance window.
CREATE UNIQUE INDEX messages_idempotency_idx ON messages (sender_party_id, idempotency_key)
    WHERE idempotency_key IS NOT NULL;
ALTER TABLE messages DROP CONSTRAINT messages_sender_party_id_idempotency_key_key;
CREATE UNIQUE INDEX jobs_dedupe_idx ON jobs (dedupe_key) WHERE dedupe_key IS NOT NULL;
ALTER TABLE jobs DROP CONSTRAINT jobs_dedupe_key_key;
