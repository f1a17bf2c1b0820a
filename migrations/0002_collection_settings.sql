-- A collection's own prompt prefix and chunk size (CollectionSettings as JSON; {} takes the server's defaults).
ALTER TABLE collections ADD COLUMN settings jsonb NOT NULL DEFAULT '{}'::jsonb;
