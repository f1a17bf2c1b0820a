-- ChunkKv's retrieval schema: collections of documents, split into chunks with embeddings.
--
-- Each collection fixes its embedder and dimension, so different collections may use different
-- embedders. The chunks table keeps an untyped `vector` column; similarity search goes through a
-- per-collection partial HNSW index on `embedding::vector(dim)`, created by a trigger when the
-- collection is inserted (pgvector's documented way to index vectors of several dimensions).
-- Queries must use the same expression, ORDER BY embedding::vector(dim) <=> $q::vector(dim), and
-- compare collection_id with a bigint (the partial-index predicate is proved only for that operator).

CREATE EXTENSION IF NOT EXISTS vector;

CREATE TABLE collections (
    id             bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    name           text        NOT NULL UNIQUE,
    embedder       text        NOT NULL,
    -- HNSW indexes vectors of at most 2000 dimensions.
    embedding_dim  integer     NOT NULL CHECK (embedding_dim BETWEEN 1 AND 2000),
    created_at     timestamptz NOT NULL DEFAULT now()
);

CREATE TABLE documents (
    id             bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    collection_id  bigint      NOT NULL REFERENCES collections (id) ON DELETE CASCADE,
    external_id    text        NOT NULL,
    content_hash   bytea       NOT NULL,
    metadata       jsonb       NOT NULL DEFAULT '{}'::jsonb,
    -- A document is visible to search only once every chunk is indexed ('ready').
    status         text        NOT NULL DEFAULT 'ingesting' CHECK (status IN ('ingesting', 'ready')),
    chunk_count    integer     NOT NULL DEFAULT 0,
    created_at     timestamptz NOT NULL DEFAULT now(),
    updated_at     timestamptz NOT NULL DEFAULT now(),
    UNIQUE (collection_id, external_id)
);
CREATE INDEX documents_metadata_idx ON documents USING gin (metadata jsonb_path_ops);

CREATE TABLE chunks (
    id             bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    document_id    bigint      NOT NULL REFERENCES documents (id) ON DELETE CASCADE,
    -- Repeated from the document so the per-collection partial index can name it.
    collection_id  bigint      NOT NULL REFERENCES collections (id) ON DELETE CASCADE,
    ordinal        integer     NOT NULL CHECK (ordinal >= 0),
    char_start     integer     NOT NULL,
    char_end       integer     NOT NULL CHECK (char_end >= char_start),
    content        text        NOT NULL,
    token_count    integer     NOT NULL,
    -- Content address of the chunk's KV cache; identical chunks in several documents share it.
    cache_key      bytea       NOT NULL,
    embedding      vector      NOT NULL,
    search_text    tsvector    GENERATED ALWAYS AS (to_tsvector('english', content)) STORED,
    UNIQUE (document_id, ordinal)
);
CREATE INDEX chunks_collection_idx ON chunks (collection_id);
CREATE INDEX chunks_cache_key_idx ON chunks (cache_key);
CREATE INDEX chunks_search_text_idx ON chunks USING gin (search_text);

-- The name of a collection's HNSW index, for the trigger below and for EXPLAIN checks.
CREATE FUNCTION chunkkv_embedding_index_name(collection bigint) RETURNS text
    LANGUAGE sql IMMUTABLE AS $$ SELECT 'chunks_embedding_hnsw_' || collection $$;

CREATE FUNCTION chunkkv_create_embedding_index() RETURNS trigger
    LANGUAGE plpgsql AS $$
BEGIN
    EXECUTE format(
        'CREATE INDEX %I ON chunks USING hnsw ((embedding::vector(%s)) vector_cosine_ops) WHERE collection_id = %s::bigint',
        chunkkv_embedding_index_name(NEW.id), NEW.embedding_dim, NEW.id);
    RETURN NEW;
END $$;

CREATE TRIGGER collections_embedding_index AFTER INSERT ON collections
    FOR EACH ROW EXECUTE FUNCTION chunkkv_create_embedding_index();

-- A chunk's embedding must have its collection's dimension; a mismatch is refused on insert.
CREATE FUNCTION chunkkv_check_embedding_dim() RETURNS trigger
    LANGUAGE plpgsql AS $$
DECLARE
    expected integer;
BEGIN
    SELECT embedding_dim INTO expected FROM collections WHERE id = NEW.collection_id;
    IF vector_dims(NEW.embedding) <> expected THEN
        RAISE EXCEPTION 'embedding has % dimensions; collection % expects %',
            vector_dims(NEW.embedding), NEW.collection_id, expected
            USING ERRCODE = 'data_exception';
    END IF;
    RETURN NEW;
END $$;

CREATE TRIGGER chunks_embedding_dim BEFORE INSERT OR UPDATE OF embedding, collection_id ON chunks
    FOR EACH ROW EXECUTE FUNCTION chunkkv_check_embedding_dim();
