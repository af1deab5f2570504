-- A stable integer id per user beside the UUID (SFTPGo's `id`, used by `/api/v1/user/{id}`):
-- existing users are numbered in creation order; new ones take the next number from a counter
-- (never reused, even after the highest-numbered user is deleted), set by a trigger so every
-- insert path gets one.
ALTER TABLE users ADD COLUMN num INTEGER;
UPDATE users SET num = (
    SELECT COUNT(*) FROM users u2
    WHERE u2.created_at < users.created_at
       OR (u2.created_at = users.created_at AND u2.id <= users.id)
);
CREATE UNIQUE INDEX users_num ON users (num);
CREATE TABLE user_num_counter (last INTEGER NOT NULL);
INSERT INTO user_num_counter (last) SELECT COALESCE(MAX(num), 0) FROM users;
CREATE TRIGGER users_num_assign AFTER INSERT ON users WHEN NEW.num IS NULL
BEGIN
    UPDATE user_num_counter SET last = last + 1;
    UPDATE users SET num = (SELECT last FROM user_num_counter) WHERE id = NEW.id;
END;
