"""Every KPI formula of Turnos, with the exact meanings of the product brief.

A *segment* is one ticket row: a visit that was transferred has two or more
segments (linked by ``origin_id``/``previous_id``) and the reports count each.
A *ticket* (printed) is a visit: ``tickets`` counts visits, ``segments``
counts rows. Times are stored in integer milliseconds and reported in seconds.

- wait time = first call − the citizen's arrival (``called_at − queue_at``): a
  transferred segment keeps the visit's arrival in ``queue_at``, so its wait
  runs from when the citizen arrived, as the live monitor measures it. The
  segment's own wait (first call − the segment's issue, ``called_at −
  issued_at``) is reported alongside (``segment_wait_mean``).
- walk time = start − first call; service time = finish − start (a segment
  transferred while in service finishes at the transfer).
- time in centre = finish − first issue of the visit, counted on the segment
  that ends the visit served.
- **automatic closes** (the end-of-day job finishing a ticket left in service,
  or closing one left called as a no-show) are counted apart
  (``automatic_finished``, ``automatic_no_shows``) and left out of served,
  no-shows, walk, service time, time in centre and desk occupancy.
- no-show rate = no-shows ÷ segments called; abandonment = segments never
  called and closed at the end of the day ÷ segments issued.
- service level (called) = share of called segments whose wait ≤ the target of
  their service *in force when the segment joined its line* (stored on the
  segment); service level (all) = the same met segments ÷ (called + abandoned):
  a citizen who left without being called counts as missed.
- percentiles interpolate linearly between the closest ranks (PostgreSQL's
  ``percentile_cont``, Excel's PERCENTILE.INC): p50 of [1, 2, 3, 4] is 2.5.
  A day's group of at most ``EXACT_LIMIT`` times is exact (a month summary's,
  up to ``BINNED_FROM``); a larger one is read from a log-bucket histogram
  whose values are within ``ALPHA`` (1 %) of the true ones (0.5 s below one
  second), and so are its percentiles. Means,
  maxima, service level and the wait bands are always exact (counters).
- desk occupancy = serving time ÷ logged-in time; idle = logged-in − serving
  (pauses are part of idle and also reported on their own).
- satisfaction = mean score (1–5) of the ratings; share satisfied = ratings of
  4 or 5 ÷ ratings; response rate = ratings ÷ segments served. A rating
  belongs to the day of the visit it rates.

A ticket is reported on its local issue day (``tickets.day``): a ticket issued
before midnight and served after it belongs to the day it was issued. Desk
time (logged in, paused, serving) is clipped to the clock: the part of a
service after midnight counts for the next day's occupancy.
"""

import math
from operator import add

PERCENTILES = (0.5, 0.9)
WAIT_BANDS_MINUTES = (5, 10, 15, 20, 30, 45, 60, 90)  # edges of the wait distribution
ALPHA = 0.01                         # relative error of a bucketed time
GAMMA = (1 + ALPHA) / (1 - ALPHA)    # ratio between the bounds of a bucket
LOG_GAMMA = math.log(GAMMA)
EXACT_LIMIT = 256                    # a histogram keeps up to this many times exactly

# Additive counters of a group; every figure below is computed from them (``wait_max_ms``
# merges by maximum, every other one by sum).
COUNTERS = ("issued", "visits", "transferred_in", "called", "served", "no_shows", "abandoned",
            "cancelled", "transferred", "recalls", "automatic_finished", "automatic_no_shows",
            "walk_ms", "walk_n", "centre_ms", "centre_n", "wait_ms", "segment_wait_ms",
            "wait_met", "wait_max_ms", "service_ms", "service_n",
            *(f"wait_below_{m}" for m in WAIT_BANDS_MINUTES),
            "ratings", "score_sum", "score_1", "score_2", "score_3", "score_4", "score_5",
            "logged_in_ms", "paused_ms", "serving_ms")
INDEX = {name: i for i, name in enumerate(COUNTERS)}
MAX_INDEX = INDEX["wait_max_ms"]


# Each duration is written once here, in SQL over a ticket row and in Python below; the
# storage module builds its report statements from these (``sql``), so no formula has two answers.
WAIT_SQL = "{t}.called_at - {t}.queue_at"              # first call − the citizen's arrival
SEGMENT_WAIT_SQL = "{t}.called_at - {t}.issued_at"     # first call − the segment's issue
WALK_SQL = "{t}.started_at - {t}.called_at"            # start − first call
SERVICE_SQL = "{t}.finished_at - {t}.started_at"       # finish − start
CENTRE_SQL = "{t}.finished_at - {t}.queue_at"          # finish − the visit's first issue


def sql(formula: str, table: str = "t") -> str:
    """Return a duration's SQL expression over the ticket row named ``table`` (in parentheses)."""
    return "(" + formula.format(t=table) + ")"


def waited_ms(ticket: dict, now_ms: int) -> int:
    """Return how long a waiting citizen has waited so far (now − arrival) in ms."""
    return now_ms - ticket["queue_at"]


def wait_ms(ticket: dict) -> int | None:
    """Return a segment's wait (first call − the citizen's arrival) in ms, or None before its call."""
    if ticket.get("called_at") is None:
        return None
    return ticket["called_at"] - ticket["queue_at"]


def segment_wait_ms(ticket: dict) -> int | None:
    """Return a segment's own wait (first call − the segment's issue) in ms, or None."""
    if ticket.get("called_at") is None:
        return None
    return ticket["called_at"] - ticket["issued_at"]


def walk_ms(ticket: dict) -> int | None:
    """Return a segment's walk time (start − first call) in ms, or None (also for automatic closes)."""
    if ticket.get("called_at") is None or ticket.get("started_at") is None or ticket.get("automatic"):
        return None
    return ticket["started_at"] - ticket["called_at"]


def service_ms(ticket: dict) -> int | None:
    """Return a segment's service time (finish − start) in ms, or None (also for automatic closes)."""
    if ticket.get("started_at") is None or ticket.get("finished_at") is None or ticket.get("automatic"):
        return None
    return ticket["finished_at"] - ticket["started_at"]


def centre_ms(ticket: dict) -> int | None:
    """Return a served visit's time in centre (finish − first issue) in ms, or None."""
    if ticket.get("status") != "finished" or ticket.get("finished_at") is None \
            or ticket.get("automatic"):
        return None
    return ticket["finished_at"] - ticket["queue_at"]


def seconds(ms: float | None) -> float | None:
    """Convert milliseconds to seconds (a float rounded to the millisecond), keeping None."""
    return None if ms is None else round(ms / 1000.0, 3)


def ratio(numerator: float, denominator: float) -> float | None:
    """Return a share (0..1), or None when the denominator is zero."""
    return numerator / denominator if denominator else None


def percentile(values: list, p: float) -> float | None:
    """Return the p-quantile (0..1) of sorted values by linear interpolation, or None."""
    n = len(values)
    if n == 0:
        return None
    rank = (n - 1) * p
    low = int(rank)
    high = min(low + 1, n - 1)
    return values[low] + (values[high] - values[low]) * (rank - low)


def bucket(ms: int) -> int:
    """Return the log bucket of a time: 0 below one second, then buckets GAMMA times wider each."""
    if ms < 1000:
        return 0
    return int(math.log(ms / 1000.0) / LOG_GAMMA) + 1


def bucket_value(index: int) -> float:
    """Return the value a bucket stands for: within ALPHA of every time in it (0.5 s for bucket 0)."""
    if index == 0:
        return 500.0
    low = 1000.0 * GAMMA ** (index - 1)
    return 2 * low * GAMMA / (1 + GAMMA)


def bins(values) -> tuple[int, list[int]]:
    """Return the dense bucket counts ``(first bucket, counts)`` of some times, all at once."""
    log, inv = math.log, 1.0 / LOG_GAMMA
    indexes = [int(log(ms / 1000.0) * inv) + 1 if ms >= 1000 else 0 for ms in values]
    low = min(indexes)
    counts = [0] * (max(indexes) - low + 1)
    for i in indexes:
        counts[i - low] += 1
    return low, counts


BINNED_FROM = 32  # an exact histogram this long is stored with its bucket counts too


class Histogram:
    """Times of a group: exact while few, then counts per log bucket (mergeable, bounded error).

    An exact histogram keeps its bucket counts once computed (and stores them
    when long enough), so merging a year of small groups never buckets a time
    twice.
    """

    __slots__ = ("values", "offset", "counts", "_bins")

    def __init__(self, values=None, offset: int = 0, counts=None, binned=None):
        self.values = [] if values is None and counts is None else values
        self.offset = offset
        self.counts = counts
        self._bins = binned

    def add(self, ms: int) -> None:
        """Count one time."""
        if self.values is not None:
            self.values.append(ms)
            self._bins = None
            if len(self.values) > EXACT_LIMIT:
                self._to_buckets()
        else:
            self._add_counts(bucket(ms), [1])

    def bins(self) -> tuple[int, list[int]]:
        """Return the histogram's bucket counts (computed once for exact times)."""
        if self.values is None:
            return self.offset, self.counts or []
        if self._bins is None:
            self._bins = bins(self.values) if self.values else (0, [])
        return self._bins

    def merge(self, other: "Histogram") -> None:
        """Add another histogram's times to this one."""
        if other.values is not None:
            if not other.values:
                return
            if self.values is not None and len(self.values) + len(other.values) <= EXACT_LIMIT:
                self.values.extend(other.values)
                self._bins = None
                return
        if self.values is not None:
            self._to_buckets()
        self._add_counts(*other.bins())

    def _to_buckets(self) -> None:
        offset, counts = self.bins()
        self.values, self._bins = None, None
        self.offset, self.counts = offset, list(counts)

    def _add_counts(self, offset: int, counts: list) -> None:
        """Add dense bucket counts starting at ``offset``."""
        if not counts:
            return
        if not self.counts:
            self.offset, self.counts = offset, list(counts)
            return
        end = offset + len(counts)
        if offset < self.offset:
            self.counts[:0] = [0] * (self.offset - offset)
            self.offset = offset
        if end > self.offset + len(self.counts):
            self.counts.extend([0] * (end - self.offset - len(self.counts)))
        at = offset - self.offset
        self.counts[at:at + len(counts)] = map(add, self.counts[at:at + len(counts)], counts)

    def count(self) -> int:
        """Return how many times the histogram holds."""
        return len(self.values) if self.values is not None else sum(self.counts or ())

    def quantile(self, p: float) -> float | None:
        """Return the p-quantile (linear interpolation between ranks; bucketed: within ALPHA)."""
        return self.quantiles((p,))[0]

    def quantiles(self, ps) -> list[float | None]:
        """Return several quantiles at once (one sort, or one pass over the buckets)."""
        if self.values is not None:
            ordered = sorted(self.values)
            return [percentile(ordered, p) for p in ps]
        n = self.count()
        if n == 0:
            return [None for _p in ps]
        ranks = sorted({k for p in ps for k in (int((n - 1) * p), min(int((n - 1) * p) + 1, n - 1))})
        values, seen, at = {}, 0, 0
        for i, c in enumerate(self.counts):
            seen += c
            while at < len(ranks) and seen > ranks[at]:
                values[ranks[at]] = bucket_value(self.offset + i)
                at += 1
            if at == len(ranks):
                break
        out = []
        for p in ps:
            rank = (n - 1) * p
            low = int(rank)
            a = values[low]
            out.append(a if rank == low else a + (values[min(low + 1, n - 1)] - a) * (rank - low))
        return out

    def encode(self, exact: bool = True):
        """Return a JSON-ready form: ``{"e": [times]}`` (with ``o``/``c`` when long) or ``{"o", "c"}``.

        With ``exact`` False (month summaries) a long exact histogram keeps only its buckets.
        """
        if self.values is not None:
            if len(self.values) < BINNED_FROM:
                return {"e": self.values}
            offset, counts = self.bins()
            return {"e": self.values, "o": offset, "c": counts} if exact else \
                {"o": offset, "c": counts}
        return {"o": self.offset, "c": self.counts}

    @classmethod
    def decode(cls, doc) -> "Histogram":
        """Read a histogram back from ``encode``'s form."""
        if "e" in doc:
            binned = (doc["o"], doc["c"]) if "c" in doc else None
            return cls(values=list(doc["e"]), binned=binned)
        return cls(values=None, offset=doc["o"], counts=list(doc["c"]))


class Tally:
    """What a group of segments adds up to: counters and the wait and service-time histograms."""

    __slots__ = ("counts", "waits", "services")

    def __init__(self, counts=None, waits=None, services=None):
        self.counts = counts if counts is not None else [0] * len(COUNTERS)
        self.waits = waits if waits is not None else Histogram()
        self.services = services if services is not None else Histogram()

    def add_counts(self, values) -> None:
        """Add counters given in COUNTERS order (the maximum wait by maximum)."""
        counts = self.counts
        top = max(counts[MAX_INDEX], values[MAX_INDEX] or 0)
        counts[:] = map(add, counts, values)
        counts[MAX_INDEX] = top

    def bump(self, name: str, value: int) -> None:
        """Add to one counter."""
        self.counts[INDEX[name]] += value

    def add(self, other: "Tally") -> None:
        """Add another tally to this one."""
        self.add_counts(other.counts)
        self.waits.merge(other.waits)
        self.services.merge(other.services)

    def encode(self, exact: bool = True) -> list:
        """Return a JSON-ready form of the tally (see ``Histogram.encode``)."""
        return [self.counts, self.waits.encode(exact), self.services.encode(exact)]

    @classmethod
    def decode(cls, doc) -> "Tally":
        """Read a tally back from ``encode``'s form (counters missing from old data are 0)."""
        counts, waits, services = doc
        counts = list(counts) + [0] * (len(COUNTERS) - len(counts))
        return cls(counts, Histogram.decode(waits), Histogram.decode(services))


def wait_bands(tally: Tally) -> list[dict]:
    """Return how many called segments waited within each band of minutes (exact counters)."""
    c = dict(zip(COUNTERS, tally.counts))
    bands, previous, lower = [], 0, 0
    for minutes in WAIT_BANDS_MINUTES:
        below = c[f"wait_below_{minutes}"]
        bands.append({"from_minutes": lower, "to_minutes": minutes, "count": below - previous})
        previous, lower = below, minutes
    bands.append({"from_minutes": lower, "to_minutes": None, "count": c["called"] - previous})
    return bands


def _rounded(share: float | None, places: int = 6) -> float | None:
    """Round a share so that exports carry no float noise."""
    return None if share is None else round(share, places)


def figures(tally: Tally) -> dict:
    """Return a group's figures (times in seconds, shares 0..1) from its tally."""
    c = dict(zip(COUNTERS, tally.counts))
    serving = c["serving_ms"]
    logged = c["logged_in_ms"]
    desk_time = bool(logged or serving)
    called = c["called"]
    wait_p50, wait_p90 = tally.waits.quantiles(PERCENTILES)
    service_p50, service_p90 = tally.services.quantiles(PERCENTILES)
    return {
        "tickets": c["visits"], "segments": c["issued"],
        "issued": c["issued"], "visits": c["visits"], "transferred_in": c["transferred_in"],
        "called": called, "served": c["served"], "no_shows": c["no_shows"],
        "abandoned": c["abandoned"], "cancelled": c["cancelled"], "transferred": c["transferred"],
        "recalls": c["recalls"], "automatic_finished": c["automatic_finished"],
        "automatic_no_shows": c["automatic_no_shows"],
        "no_show_rate": _rounded(ratio(c["no_shows"], called)),
        "abandonment_rate": _rounded(ratio(c["abandoned"], c["issued"])),
        "wait_mean": seconds(ratio(c["wait_ms"], called)),
        "wait_p50": seconds(wait_p50),
        "wait_p90": seconds(wait_p90),
        "wait_max": seconds(c["wait_max_ms"]) if called else None,
        "segment_wait_mean": seconds(ratio(c["segment_wait_ms"], called)),
        "walk_mean": seconds(ratio(c["walk_ms"], c["walk_n"])),
        "service_mean": seconds(ratio(c["service_ms"], c["service_n"])),
        "service_p50": seconds(service_p50),
        "service_p90": seconds(service_p90),
        "centre_mean": seconds(ratio(c["centre_ms"], c["centre_n"])),
        "service_level": _rounded(ratio(c["wait_met"], called)),
        "service_level_all": _rounded(ratio(c["wait_met"], called + c["abandoned"])),
        "service_level_met": c["wait_met"],
        "logged_in_seconds": seconds(logged) if desk_time else None,
        "serving_seconds": seconds(serving) if desk_time else None,
        "paused_seconds": seconds(c["paused_ms"]) if desk_time else None,
        "idle_seconds": seconds(logged - serving) if desk_time else None,
        "occupancy": _rounded(ratio(serving, logged)),
        "ratings": c["ratings"],
        "ratings_by_score": {str(k): c[f"score_{k}"] for k in range(1, 6)},
        "satisfaction_mean": _rounded(ratio(c["score_sum"], c["ratings"])),
        "satisfied_share": _rounded(ratio(c["score_4"] + c["score_5"], c["ratings"])),
        "response_rate": _rounded(ratio(c["ratings"], c["served"])),
    }
