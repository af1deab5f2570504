-- Policies (privacyIDEA's model, `config policy …`): a named rule in one scope with canonical
-- action text, condition lists as JSON arrays of lowercased names / client networks (empty:
-- any), an active flag and a priority (lower wins).
CREATE TABLE policies (
    name TEXT PRIMARY KEY,
    scope TEXT NOT NULL,
    action TEXT NOT NULL,
    realms TEXT NOT NULL DEFAULT '[]',
    users TEXT NOT NULL DEFAULT '[]',
    resolvers TEXT NOT NULL DEFAULT '[]',
    clients TEXT NOT NULL DEFAULT '[]',
    admin_users TEXT NOT NULL DEFAULT '[]',
    active INTEGER NOT NULL DEFAULT 1,
    priority BIGINT NOT NULL DEFAULT 1,
    description TEXT NOT NULL DEFAULT '',
    created_at BIGINT NOT NULL,
    updated_at BIGINT NOT NULL
);
