-- A stable integer id per user beside the UUID (SFTPGo's `id`, used by `/api/v1/user/{id}`):
-- existing users are numbered in creation order; new ones take the next value of a sequence
-- (never reused, even after the highest-numbered user is deleted).
ALTER TABLE users ADD COLUMN num BIGINT;
UPDATE users SET num = (
    SELECT COUNT(*) FROM users u2
    WHERE u2.created_at < users.created_at
       OR (u2.created_at = users.created_at AND u2.id <= users.id)
);
CREATE UNIQUE INDEX users_num ON users (num);
CREATE SEQUENCE users_num_seq;
SELECT setval('users_num_seq', COALESCE((SELECT MAX(num) FROM users), 0) + 1, false);
ALTER TABLE users ALTER COLUMN num SET DEFAULT nextval('users_num_seq');
ALTER TABLE users ALTER COLUMN num SET NOT NULL;
