-- A pictogram per service on the kiosk, and the age from which a category applies (older adults: 60).
ALTER TABLE services ADD COLUMN pictogram TEXT NOT NULL DEFAULT '';
ALTER TABLE priority_categories ADD COLUMN min_age INTEGER;
UPDATE priority_categories SET min_age = 60 WHERE code = 'adulto_mayor';
