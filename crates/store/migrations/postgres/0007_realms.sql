-- User resolvers (where users come from: passwd files, LDAP directories; the internal user store
-- is built in and has no row), realms (named, ordered lists of resolvers, at most one default)
-- and the link of a local "shadow" user to the resolver it was synchronised from.
CREATE TABLE resolvers (
    name TEXT PRIMARY KEY,
    kind TEXT NOT NULL,
    config TEXT NOT NULL DEFAULT '{}',
    bind_password_sealed TEXT NOT NULL DEFAULT '',
    created_at BIGINT NOT NULL,
    updated_at BIGINT NOT NULL
);

CREATE TABLE realms (
    name TEXT PRIMARY KEY,
    resolvers TEXT NOT NULL DEFAULT '[]',
    is_default BIGINT NOT NULL DEFAULT 0,
    created_at BIGINT NOT NULL
);

CREATE TABLE user_sources (
    user_id TEXT PRIMARY KEY REFERENCES users (id) ON DELETE CASCADE,
    resolver TEXT NOT NULL,
    external_id TEXT NOT NULL,
    synced_at BIGINT NOT NULL
);
CREATE INDEX user_sources_resolver ON user_sources (resolver);
