-- OTP tokens (LinOTP/privacyIDEA token model), their realms, and challenge-response state.
-- Seeds and reversible PINs are AEAD-sealed text bound to the token id; the OTP PIN is an Argon2id
-- hash. `counter` is the next acceptable HOTP counter or TOTP time step: accepting an OTP is one
-- compare-and-set on it, so a value is accepted at most once. Times are epoch seconds.
CREATE TABLE tokens (
    id TEXT PRIMARY KEY,
    serial TEXT NOT NULL UNIQUE,
    token_type TEXT NOT NULL,
    description TEXT NOT NULL DEFAULT '',
    owner_id TEXT,
    active INTEGER NOT NULL DEFAULT 1,
    seed_sealed TEXT NOT NULL DEFAULT '',
    pin_hash TEXT NOT NULL DEFAULT '',
    userpin_sealed TEXT NOT NULL DEFAULT '',
    sopin_sealed TEXT NOT NULL DEFAULT '',
    otplen INTEGER NOT NULL DEFAULT 6,
    hashlib TEXT NOT NULL DEFAULT 'sha1',
    counter INTEGER NOT NULL DEFAULT 0,
    time_step INTEGER NOT NULL DEFAULT 30,
    time_window INTEGER NOT NULL DEFAULT 180,
    time_shift INTEGER NOT NULL DEFAULT 0,
    sync_window INTEGER NOT NULL DEFAULT 1000,
    count_window INTEGER NOT NULL DEFAULT 10,
    fail_count INTEGER NOT NULL DEFAULT 0,
    max_fail INTEGER NOT NULL DEFAULT 10,
    count_auth INTEGER NOT NULL DEFAULT 0,
    count_auth_max INTEGER NOT NULL DEFAULT 0,
    count_auth_success INTEGER NOT NULL DEFAULT 0,
    count_auth_success_max INTEGER NOT NULL DEFAULT 0,
    validity_start INTEGER,
    validity_end INTEGER,
    last_auth INTEGER,
    info TEXT NOT NULL DEFAULT '{}',
    created_at INTEGER NOT NULL,
    updated_at INTEGER NOT NULL
);
CREATE INDEX tokens_owner ON tokens (owner_id);
CREATE INDEX tokens_type_serial ON tokens (token_type, serial);

CREATE TABLE token_realms (
    token_id TEXT NOT NULL REFERENCES tokens (id) ON DELETE CASCADE,
    realm TEXT NOT NULL,
    PRIMARY KEY (token_id, realm)
);
CREATE INDEX token_realms_realm ON token_realms (realm, token_id);

CREATE TABLE challenges (
    transaction_id TEXT PRIMARY KEY,
    token_id TEXT NOT NULL REFERENCES tokens (id) ON DELETE CASCADE,
    serial TEXT NOT NULL,
    message TEXT NOT NULL DEFAULT '',
    data_sealed TEXT NOT NULL DEFAULT '',
    state TEXT NOT NULL DEFAULT 'open',
    created_at INTEGER NOT NULL,
    expires_at INTEGER NOT NULL
);
CREATE INDEX challenges_token ON challenges (token_id);
CREATE INDEX challenges_created ON challenges (created_at);
