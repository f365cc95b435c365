-- What a control body needs to trust the reports (automatic closes, the target in force, sealed
-- days), the estimate given at issue, an optional maximum wait, and bounded estimate queries.
ALTER TABLE tickets ADD COLUMN automatic BOOLEAN NOT NULL DEFAULT FALSE;
ALTER TABLE tickets ADD COLUMN target_wait_seconds INTEGER;
ALTER TABLE tickets ADD COLUMN estimated_wait_ms BIGINT;
ALTER TABLE sites ADD COLUMN max_wait_seconds INTEGER;
CREATE TABLE sealed_days (
    site_id BIGINT NOT NULL REFERENCES sites(id),
    day DATE NOT NULL,
    sealed_at BIGINT NOT NULL,
    user_id BIGINT REFERENCES users(id),
    reason TEXT NOT NULL DEFAULT '',
    PRIMARY KEY (site_id, day)
);
CREATE INDEX tickets_handled_recent ON tickets (service_id, closed_at)
    WHERE called_at IS NOT NULL AND status IN ('finished', 'no_show', 'transferred');
CREATE INDEX tickets_estimated_calls ON tickets (site_id, called_at)
    WHERE called_at IS NOT NULL AND estimated_wait_ms IS NOT NULL;
CREATE INDEX tickets_desk_calls ON tickets (desk_id, called_at) WHERE called_at IS NOT NULL;
UPDATE tickets SET target_wait_seconds = (SELECT s.target_wait_seconds FROM services s
    WHERE s.id = tickets.service_id);
UPDATE tickets SET automatic = TRUE WHERE id IN (SELECT ticket_id FROM ticket_events
    WHERE kind IN ('finished', 'no_show') AND data LIKE '%"automatic":true%');
