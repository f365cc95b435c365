"""The waiting-room display face: the TV page, its spoken calls and its live socket."""
