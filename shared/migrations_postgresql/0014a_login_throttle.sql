-- Failed logins counted per source (an address and an account, or a known browser).
CREATE TABLE login_throttle (
    source TEXT PRIMARY KEY,
    username TEXT NOT NULL,
    address TEXT NOT NULL DEFAULT '',
    failures INTEGER NOT NULL,
    first_failed_at BIGINT NOT NULL,
    last_failed_at BIGINT NOT NULL,
    blocked_until BIGINT
);
CREATE INDEX login_throttle_username ON login_throttle (username);
