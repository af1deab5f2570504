-- API keys remember the account they were made for (NULL: a service key named after no account,
-- as `api createtoken` without -u makes). Deleting that account deletes its keys, so a key never
-- outlives its owner and a new account of the same name does not inherit it.
ALTER TABLE api_keys ADD COLUMN owner_id TEXT REFERENCES users (id) ON DELETE CASCADE;
UPDATE api_keys SET owner_id = (
    SELECT u.id FROM users u WHERE u.username_key = LOWER(api_keys.username)
);
CREATE INDEX api_keys_owner ON api_keys (owner_id);
