-- Fileserver clusters and shards (Psono's fscluster*/fsshard* commands, issue 11). A cluster's
-- Ed25519 private key is sealed under the enckey (`private_key_sealed`, bound to the cluster id);
-- its public key verifies the members' announcements. Times are epoch seconds unless named *_ms.
CREATE TABLE fileserver_clusters (
    id TEXT PRIMARY KEY,
    title TEXT NOT NULL,
    file_size_limit BIGINT NOT NULL DEFAULT 0,
    public_key TEXT NOT NULL,
    private_key_sealed TEXT NOT NULL,
    created_at BIGINT NOT NULL
);

CREATE TABLE fileserver_shards (
    id TEXT PRIMARY KEY,
    title TEXT NOT NULL,
    description TEXT NOT NULL DEFAULT '',
    created_at BIGINT NOT NULL
);

-- A link lets the members of a cluster serve a shard with at most these permissions.
CREATE TABLE fileserver_links (
    id TEXT PRIMARY KEY,
    cluster_id TEXT NOT NULL REFERENCES fileserver_clusters (id) ON DELETE CASCADE,
    shard_id TEXT NOT NULL REFERENCES fileserver_shards (id) ON DELETE CASCADE,
    can_read BIGINT NOT NULL,
    can_write BIGINT NOT NULL,
    created_at BIGINT NOT NULL,
    UNIQUE (cluster_id, shard_id)
);
CREATE INDEX fileserver_links_shard ON fileserver_links (shard_id);

-- Members that announced themselves. `last_ts_ms` is the newest announcement timestamp accepted
-- (an announcement must be newer: replays are refused, on every node sharing the database);
-- the row outlives `expires_at` until its timestamp is too old to be replayed anyway.
CREATE TABLE fileserver_members (
    cluster_id TEXT NOT NULL REFERENCES fileserver_clusters (id) ON DELETE CASCADE,
    member_id TEXT NOT NULL,
    url TEXT NOT NULL,
    last_ts_ms BIGINT NOT NULL,
    seen_at BIGINT NOT NULL,
    expires_at BIGINT NOT NULL,
    PRIMARY KEY (cluster_id, member_id)
);
CREATE INDEX fileserver_members_expires ON fileserver_members (expires_at);

-- The shards a member announced with the permissions it asked for (at most its cluster's link).
CREATE TABLE fileserver_member_shards (
    cluster_id TEXT NOT NULL,
    member_id TEXT NOT NULL,
    shard_id TEXT NOT NULL REFERENCES fileserver_shards (id) ON DELETE CASCADE,
    can_read BIGINT NOT NULL,
    can_write BIGINT NOT NULL,
    PRIMARY KEY (cluster_id, member_id, shard_id),
    FOREIGN KEY (cluster_id, member_id) REFERENCES fileserver_members (cluster_id, member_id) ON DELETE CASCADE
);
CREATE INDEX fileserver_member_shards_shard ON fileserver_member_shards (shard_id);
