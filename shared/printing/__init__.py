"""Printing a ticket: the core library every face uses (the printer face only adds pages and agent events).

How a ticket is printed, in order:

1. ``settings``: a kiosk's printer settings (where, paper, profile, code page) and their checks.
2. ``jobs``: the ticket's content and its print job, recorded in the same transaction as the
   ticket; the outcome recorded once, announced to the kiosk and the staff.
3. ``dispatch``: each job runs outside the request (a background task), on the kiosk's own
   printer or through its remote agent (``remote``); reprints.
4. ``layout``: the ticket as ESC/POS bytes (and a PNG preview); ``delivery`` sends the bytes
   over a link from ``connections`` (serial, TCP, USB, file, virtual) and says honestly what
   the printer answered.
5. ``status``: every printer state change (after a job, from an agent, from ``watch``'s
   polling) goes through one function that stores it, tells the staff and raises the alert.

``agent`` is the program a remote kiosk runs (``run.py printer-agent``); ``testpage`` prints
an installer's test page (``run.py printer-test``).
"""
