-- Each user's own settings of the pages they work in (JSON), e.g. desk keyboard shortcuts off.
ALTER TABLE users ADD COLUMN preferences TEXT NOT NULL DEFAULT '{}';
