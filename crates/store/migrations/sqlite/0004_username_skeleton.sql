-- The Unicode TR39 confusable skeleton of each username's key: a unique index refuses a name that
-- looks like an existing one (Cyrillic `а` for Latin `a`, fullwidth forms, …) in the database
-- itself, so two concurrent creates cannot both win. Filled for existing rows by the store after
-- migrating (the skeleton is computed in Rust); NULL only where a pre-existing look-alike clashes.
ALTER TABLE users ADD COLUMN username_skeleton TEXT;
CREATE UNIQUE INDEX users_username_skeleton ON users (username_skeleton);
