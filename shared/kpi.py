"""Every KPI formula of Turnos, with the exact meanings of the product brief.

A *segment* is one ticket row: a visit that was transferred has two or more
segments (linked by ``origin_id``/``previous_id``) and the reports count each.
Times are stored in integer milliseconds and reported in seconds (floats).

- wait time = first call − issue of the segment (``called_at − issued_at``);
  a transferred segment waits from the transfer.
- walk time = start − first call; service time = finish − start (a segment
  transferred while in service finishes at the transfer).
- time in centre = finish − first issue of the visit, counted on the segment
  that ends the visit served (``finished_at − queue_at``: a transfer keeps the
  visit's arrival time in ``queue_at``).
- no-show rate = no-shows ÷ segments called; abandonment = segments never
  called and closed at the end of the day ÷ segments issued.
- service level = share of called segments whose wait ≤ their service's
  target (segments never called have no wait and are not counted).
- percentiles interpolate linearly between the closest ranks (PostgreSQL's
  ``percentile_cont``, Excel's PERCENTILE.INC): p50 of [1, 2, 3, 4] is 2.5.
- desk occupancy = serving time ÷ logged-in time; idle = logged-in − serving
  (pauses are part of idle and also reported on their own).
- satisfaction = mean score (1–5) of the ratings; response rate = ratings ÷
  segments served.

A ticket is reported on its local issue day (``tickets.day``): a ticket issued
before midnight and served after it belongs to the day it was issued. Desk
time (logged in, paused, serving) is clipped to the clock: the part of a
service after midnight counts for the next day's occupancy.
"""

from array import array
from bisect import bisect_right
from itertools import chain

PERCENTILES = (0.5, 0.9)

# Additive counters of a group; every figure below is computed from them.
COUNTERS = ("issued", "visits", "transferred_in", "called", "served", "no_shows", "abandoned",
            "cancelled", "transferred", "recalls", "walk_ms", "walk_n", "centre_ms", "centre_n",
            "ratings", "score_sum", "logged_in_ms", "paused_ms", "serving_ms")


def wait_ms(ticket: dict) -> int | None:
    """Return a segment's wait (first call − issue) in ms, or None before its first call."""
    if ticket.get("called_at") is None:
        return None
    return ticket["called_at"] - ticket["issued_at"]


def walk_ms(ticket: dict) -> int | None:
    """Return a segment's walk time (start − first call) in ms, or None."""
    if ticket.get("called_at") is None or ticket.get("started_at") is None:
        return None
    return ticket["started_at"] - ticket["called_at"]


def service_ms(ticket: dict) -> int | None:
    """Return a segment's service time (finish − start) in ms, or None."""
    if ticket.get("started_at") is None or ticket.get("finished_at") is None:
        return None
    return ticket["finished_at"] - ticket["started_at"]


def centre_ms(ticket: dict) -> int | None:
    """Return a served visit's time in centre (finish − first issue) in ms, or None."""
    if ticket.get("status") != "finished" or ticket.get("finished_at") is None:
        return None
    return ticket["finished_at"] - ticket["queue_at"]


def seconds(ms: float | None) -> float | None:
    """Convert milliseconds to seconds (a float), keeping None."""
    return None if ms is None else ms / 1000.0


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


def kth_smallest(runs: list[list[int]], k: int) -> int:
    """Return the k-th smallest (0-based) integer across several sorted lists.

    A binary search over values counts, in each run, how many are ≤ a
    candidate: exact, and it never sorts the runs together.
    """
    runs = [r for r in runs if len(r)]
    low = min(r[0] for r in runs)
    high = max(r[-1] for r in runs)
    while low < high:
        mid = (low + high) // 2
        if sum(bisect_right(r, mid) for r in runs) > k:
            high = mid
        else:
            low = mid + 1
    return low


def percentile_of_runs(runs: list[list[int]], p: float) -> float | None:
    """Return the p-quantile across sorted runs, as ``percentile`` of their union would."""
    runs = [r for r in runs if len(r)]
    n = sum(len(r) for r in runs)
    if n == 0:
        return None
    if len(runs) == 1:
        return percentile(runs[0], p)
    rank = (n - 1) * p
    low = int(rank)
    a = kth_smallest(runs, low)
    if rank == low:
        return float(a)
    b = kth_smallest(runs, min(low + 1, n - 1))
    return a + (b - a) * (rank - low)


class Tally:
    """What a group of segments adds up to: counters, and waits and service times as sorted runs.

    Times are kept as sorted runs (one per day and service as read) so that
    merging a year never copies them; ``compact`` merges the runs of a group
    into one when it is about to be read many times.
    """

    __slots__ = ("counts", "waits", "services")

    def __init__(self):
        self.counts = dict.fromkeys(COUNTERS, 0)
        self.waits: dict[int, list] = {}    # per service id: sorted runs of waits (ms)
        self.services: list = []            # sorted runs of service times (ms)

    def add(self, other: "Tally") -> None:
        """Add another tally to this one (its runs are shared, not copied)."""
        for key, value in other.counts.items():
            self.counts[key] += value
        for service_id, runs in other.waits.items():
            self.waits.setdefault(service_id, []).extend(r for r in runs if len(r))
        self.services.extend(r for r in other.services if len(r))

    def compact(self) -> None:
        """Merge the runs of each service (and of service times) into one sorted run."""
        for service_id, runs in self.waits.items():
            if len(runs) > 1:
                self.waits[service_id] = [array("q", sorted(chain.from_iterable(runs)))]
        if len(self.services) > 1:
            self.services = [array("q", sorted(chain.from_iterable(self.services)))]


MERGE_BELOW = 200_000  # values: fewer than this are merged into one run before reading quantiles
MAX_RUNS = 400          # runs: more than this are merged too (a binary search per run costs more)


def _for_quantiles(runs: list) -> list:
    """Return the runs to read quantiles from: merged into one when that is cheaper."""
    runs = [r for r in runs if len(r)]
    if len(runs) > 1 and (len(runs) > MAX_RUNS or sum(len(r) for r in runs) < MERGE_BELOW):
        return [sorted(chain.from_iterable(runs))]
    return runs


def figures(tally: Tally, targets_ms: dict[int, int]) -> dict:
    """Return a group's figures (times in seconds) from its tally and the services' targets."""
    c = tally.counts
    runs = _for_quantiles([r for rs in tally.waits.values() for r in rs])
    waits_n = sum(len(r) for r in runs)
    wait_sum = sum(sum(r) for r in runs)
    met = sum(bisect_right(r, targets_ms.get(sid, 0)) for sid, rs in tally.waits.items() for r in rs)
    service_runs = _for_quantiles(tally.services)
    service_n = sum(len(r) for r in service_runs)
    serving = c["serving_ms"]
    logged = c["logged_in_ms"]
    return {
        "issued": c["issued"], "visits": c["visits"], "transferred_in": c["transferred_in"],
        "called": c["called"], "served": c["served"], "no_shows": c["no_shows"],
        "abandoned": c["abandoned"], "cancelled": c["cancelled"], "transferred": c["transferred"],
        "recalls": c["recalls"],
        "no_show_rate": ratio(c["no_shows"], c["called"]),
        "abandonment_rate": ratio(c["abandoned"], c["issued"]),
        "wait_mean": seconds(ratio(wait_sum, waits_n)),
        "wait_p50": seconds(percentile_of_runs(runs, 0.5)),
        "wait_p90": seconds(percentile_of_runs(runs, 0.9)),
        "wait_max": seconds(max((r[-1] for r in runs), default=None)),
        "walk_mean": seconds(ratio(c["walk_ms"], c["walk_n"])),
        "service_mean": seconds(ratio(sum(sum(r) for r in service_runs), service_n)),
        "service_p50": seconds(percentile_of_runs(service_runs, 0.5)),
        "service_p90": seconds(percentile_of_runs(service_runs, 0.9)),
        "centre_mean": seconds(ratio(c["centre_ms"], c["centre_n"])),
        "service_level": ratio(met, waits_n),
        "service_level_met": met,
        "logged_in_seconds": seconds(logged) if logged or serving else None,
        "serving_seconds": seconds(serving) if logged or serving else None,
        "paused_seconds": seconds(c["paused_ms"]) if logged or serving else None,
        "idle_seconds": seconds(logged - serving) if logged or serving else None,
        "occupancy": ratio(serving, logged),
        "ratings": c["ratings"],
        "satisfaction_mean": ratio(c["score_sum"], c["ratings"]),
        "response_rate": ratio(c["ratings"], c["served"]),
    }
