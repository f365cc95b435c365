-- Mergeable report summaries: sealed days hold histograms, months are rolled up.
DELETE FROM report_partials;
CREATE TABLE report_month_partials (
    site_id BIGINT NOT NULL REFERENCES sites(id),
    dimension TEXT NOT NULL,
    month TEXT NOT NULL,
    timezone TEXT NOT NULL,
    data TEXT NOT NULL,
    built_at BIGINT NOT NULL,
    PRIMARY KEY (site_id, dimension, month)
);
