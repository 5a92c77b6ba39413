-- API keys: who may call the HTTP API, and as what (auth/role.h). The secret is never stored, only its
-- SHA-256 (auth/api_key.h). Managed with `carbon-ledger keys create|list|revoke`; `serve` reads it.
-- Keys are revoked, never deleted, so the account named in an event's metadata can always be traced.
CREATE TABLE api_keys (
    key_id         text        NOT NULL PRIMARY KEY CHECK (key_id ~ '^[0-9a-f]{16}$'),
    account        text        NOT NULL CHECK (length(account) BETWEEN 1 AND 200),
    role           text        NOT NULL CHECK (role IN ('issuer', 'holder', 'auditor', 'admin')),
    secret_sha256  bytea       NOT NULL CHECK (length(secret_sha256) = 32),
    created_at     timestamptz NOT NULL DEFAULT now(),
    revoked_at     timestamptz
);

-- serve verifies keys; creating and revoking them is for the database owner (the `keys` subcommand).
-- Auditors may see who holds keys, not the hashes.
GRANT SELECT ON api_keys TO ledger_service;
GRANT SELECT (key_id, account, role, created_at, revoked_at) ON api_keys TO ledger_auditor;

-- Who holds each credit: the issuer's account from CREATED, then each SOLD event's buyer. Rows projected
-- before this column existed get it from their history, exactly as a rebuild would compute it.
ALTER TABLE credit_records ADD COLUMN holder text NOT NULL DEFAULT '';
UPDATE credit_records r
   SET holder = coalesce((SELECT h -> 'data' ->> 'buyer'
                            FROM jsonb_array_elements(r.history) AS h
                           WHERE h ->> 'type' = 'SOLD'
                           ORDER BY (h ->> 'version')::bigint DESC
                           LIMIT 1),
                         (SELECT h -> 'data' ->> 'issuer'
                            FROM jsonb_array_elements(r.history) AS h
                           WHERE h ->> 'type' = 'CREATED'
                           LIMIT 1),
                         '');
