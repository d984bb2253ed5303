"""StatsLog: per-interval growth of the totals, across minute and hour boundaries (pure, no broker)."""

from __future__ import annotations

from datetime import UTC, datetime

from broker.observe.stats import StatsLog


def ms(text: str) -> int:
    return int(datetime.strptime(text, "%Y-%m-%d %H:%M:%S").replace(tzinfo=UTC).timestamp() * 1000)


def test_intervals_hold_the_growth_within_them() -> None:
    log = StatsLog()
    log.sample(ms("2026-03-01 10:58:30"), {"messages.all.all.count": 4}, {"channels": 2})
    log.sample(ms("2026-03-01 10:59:10"), {"messages.all.all.count": 10}, {"channels": 5})
    log.sample(ms("2026-03-01 11:00:05"), {"messages.all.all.count": 11}, {"channels": 1})
    minutes = log.query("minute", None, None, backwards=False, limit=100, app_id="app")
    assert [(m["intervalId"], m["entries"]) for m in minutes] == [
        ("2026-03-01:10:58", {"messages.all.all.count": 4, "channels.peak": 2}),
        ("2026-03-01:10:59", {"messages.all.all.count": 6, "channels.peak": 5}),
        ("2026-03-01:11:00", {"messages.all.all.count": 1, "channels.peak": 1}),
    ]
    assert [m.get("inProgress") for m in minutes] == [None, None, "2026-03-01:11:00:05"]
    hours = log.query("hour", None, None, backwards=True, limit=100, app_id="app")
    assert [(h["intervalId"], h["entries"]["messages.all.all.count"]) for h in hours] == [
        ("2026-03-01:11", 1), ("2026-03-01:10", 10)]
    [month] = log.query("month", None, None, backwards=True, limit=1, app_id="app")
    assert month["intervalId"] == "2026-03-01:00" and month["entries"]["messages.all.all.count"] == 11
    [day] = log.query("day", None, None, backwards=True, limit=1, app_id="app")
    assert day["intervalId"] == "2026-03-01:00" and day["entries"]["channels.peak"] == 5


def test_start_end_and_limit_select_intervals() -> None:
    log = StatsLog()
    for minute in range(5):
        log.sample(ms(f"2026-03-01 10:0{minute}:00"), {"messages.all.all.count": minute + 1}, {})
    picked = log.query("minute", ms("2026-03-01 10:01:30"), ms("2026-03-01 10:03:00"), backwards=True,
                       limit=100, app_id="app")
    assert [p["intervalId"] for p in picked] == ["2026-03-01:10:03", "2026-03-01:10:02", "2026-03-01:10:01"]
    assert len(log.query("minute", None, None, backwards=True, limit=2, app_id="app")) == 2
    quiet = log.query("minute", None, None, backwards=False, limit=1, app_id="app")
    assert quiet[0]["entries"] == {"messages.all.all.count": 1}
