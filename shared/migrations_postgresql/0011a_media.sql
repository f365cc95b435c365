-- Files any server process can serve (site logos, spoken-call clips), by a key naming their content.
CREATE TABLE media (
    key TEXT PRIMARY KEY,
    content_type TEXT NOT NULL,
    data BYTEA NOT NULL,
    created_at BIGINT NOT NULL
);
