-- A checkpoint the worker deleted (pruned by keep_checkpoints, or set aside as damaged on resume) keeps its row,
-- marked with the time the service learnt of it, and is no longer listed, resumed from or handed out as output.
ALTER TABLE checkpoints ADD COLUMN deleted_at timestamptz;
