-- A saga is run by one process at a time: the holder of its lease, which renews it while it
-- runs and gives it back when it stops; a lapsed lease (its process died) is taken over. No
-- database connection is held while a step waits for the gateway or a shard.
ALTER TABLE sagas ADD COLUMN lease_owner uuid;
ALTER TABLE sagas ADD COLUMN lease_until timestamptz;
