-- Allow the 'no_show_undone' event: an official took back a no-show within its undo window.
ALTER TABLE ticket_events DROP CONSTRAINT ticket_events_kind_check;
ALTER TABLE ticket_events ADD CONSTRAINT ticket_events_kind_check CHECK (kind IN (
    'issued', 'called', 'recalled', 'started', 'finished', 'no_show', 'transferred', 'cancelled', 'abandoned', 'marked_preferential', 'no_show_undone'));
