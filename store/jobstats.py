"""What the job rows say about the last minutes: queue wait percentiles and jobs by outcome,
per kind and per minute, in one statement (the operator page's charts and
``GET /api/operator/metrics``).

Queue wait is ``started_at - created_at`` (a job that never ran has none); a job counts in
the minute it finished.
"""
from __future__ import annotations

from datetime import datetime, timedelta

from sqlalchemy import bindparam, text
from sqlalchemy.orm import Session

from core import lifecycle

MAX_MINUTES = 24 * 60
DEFAULT_MINUTES = 60  # the last hour: the operator page's charts, the API's default

_ENDED = text("""
WITH ended AS (
    SELECT kind, status, date_trunc('minute', finished_at) AS minute,
           extract(epoch FROM started_at - created_at) AS wait
    FROM jobs
    WHERE status IN :finished AND finished_at > :since AND finished_at <= :until
)
SELECT kind, minute, status, GROUPING(minute, status) AS level, count(*) AS jobs,
       percentile_cont(0.5) WITHIN GROUP (ORDER BY wait) AS wait_p50,
       percentile_cont(0.95) WITHIN GROUP (ORDER BY wait) AS wait_p95
FROM ended
GROUP BY GROUPING SETS ((kind), (kind, minute), (kind, minute, status))
ORDER BY kind, minute NULLS FIRST, status NULLS FIRST
""").bindparams(bindparam("finished", expanding=True))

#: GROUPING(minute, status): the whole window of a kind, one of its minutes, one outcome.
_KIND, _MINUTE, _OUTCOME = 3, 1, 0


def recent(session: Session, now: datetime, minutes: int) -> dict:
    """Per kind, the jobs that finished in the ``minutes`` before ``now``: queue wait p50 and
    p95 (seconds) and counts by outcome, over the window and minute by minute."""
    since = now - timedelta(minutes=minutes)
    rows = session.execute(_ENDED, {"finished": sorted(lifecycle.FINISHED), "since": since,
                                    "until": now}).mappings().all()
    return {"since": since.isoformat(), "until": now.isoformat(), "minutes": minutes,
            "kinds": shape(rows)}


def shape(rows) -> list[dict]:
    """The statement's rows (ordered by kind, then minute) as one entry per kind."""
    kinds: dict[str, dict] = {}
    for row in rows:
        if row["level"] == _KIND:
            kinds[row["kind"]] = {"kind": row["kind"], "jobs": row["jobs"],
                                  **_waits(row), "outcomes": {}, "per_minute": []}
            continue
        kind = kinds[row["kind"]]
        if row["level"] == _MINUTE:
            kind["per_minute"].append({"minute": row["minute"].isoformat(), "jobs": row["jobs"],
                                       **_waits(row), "outcomes": {}})
        elif row["level"] == _OUTCOME:
            kind["per_minute"][-1]["outcomes"][row["status"]] = row["jobs"]
            kind["outcomes"][row["status"]] = kind["outcomes"].get(row["status"], 0) + row["jobs"]
    return list(kinds.values())


def _waits(row) -> dict:
    def seconds(value):
        return None if value is None else round(float(value), 3)
    return {"wait_p50": seconds(row["wait_p50"]), "wait_p95": seconds(row["wait_p95"])}
