-- Rotation checkpoints are signed with the audit signing key (over a message of their own, see
-- `audit::checkpoint_message`), so deleting the oldest rows together with a forged checkpoint no
-- longer verifies. Checkpoints written before this migration have no signature and fail
-- `audit verify` until the next rotation of their chain re-signs them.
ALTER TABLE audit_checkpoints ADD COLUMN signature TEXT NOT NULL DEFAULT '';
