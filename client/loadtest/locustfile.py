"""The Locust side of tether-load: options, user classes, and the master/worker choreography.

Locust owns processes, distribution of users to workers, the web UI and its live charts; the
engine thread (engine.py) owns the sockets. A run goes: users spawn and their devices attach
-> workers report `tl_ready` -> the master sends `tl_go` (publishing starts, the clock of
`--duration` starts) -> optional `tl_storm` -> `tl_stop` -> each worker drains and sends
`tl_final` -> the master merges (summary.py), writes the JSON summary, applies `--fail-on`
and, headless, quits. Every wait has a bound, so a run always ends by itself.
"""

from __future__ import annotations

import json
import logging
import sys
import time
from typing import Any

import gevent
from gevent import monkey
from locust import User, between, events, task
from locust.runners import LocalRunner, MasterRunner, WorkerRunner
from locust.stats import bucket_response_time

from client.loadtest import options as opts
from client.loadtest.engine import Engine
from client.loadtest.metrics import Histogram, bucket_value
from client.loadtest.roles import Agent, Listener, PersonalUser, Plan, PresenceMember, Publisher
from client.loadtest.summary import failures, merge, parse_rules, render

log = logging.getLogger("tether_load")
_start_thread = monkey.get_original("_thread", "start_new_thread")
LIVE = ("deliver", "ack", "connect", "attach", "resume")


@events.init_command_line_parser.add_listener
def _add_arguments(parser: Any) -> None:
    opts.add_arguments(parser)


class _Device(User):
    """A Locust user is one device; the engine thread does its work, the greenlet only holds it."""

    abstract = True
    wait_time = between(5, 5)
    role = "sub"

    def on_start(self) -> None:
        controller().start_device(self.role)

    @task
    def hold(self) -> None:
        """Nothing to do on the gevent side: the device runs on the engine thread."""


class PublisherUser(_Device):
    role = "pub"
    fixed_count = 1


class SubscriberUser(_Device):
    role = "sub"
    weight = 1


class Controller:
    """Per-process glue; the master half runs on master/local runners, the worker half on worker/local."""

    def __init__(self, environment: Any) -> None:
        self.env = environment
        self.engine: Engine | None = None
        self.counters = {"pub": 0, "sub": 0}
        self.finished = False
        self.final_sent = False
        self.ready: dict[str, int] = {}
        self.finals: dict[str, dict[str, Any]] = {}
        self.progress: dict[str, dict[str, Any]] = {}
        self.summary: dict[str, Any] | None = None
        runner = environment.runner
        self.master_side = isinstance(runner, (MasterRunner, LocalRunner))
        self.worker_side = isinstance(runner, (WorkerRunner, LocalRunner))
        if self.worker_side:
            runner.register_message("tl_go", lambda environment, msg, **kw: self._engine().go(msg.data["at"]))
            runner.register_message("tl_storm", lambda environment, msg, **kw: self._engine().storm())
            runner.register_message("tl_stop", lambda environment, msg, **kw: self._finish())
        if self.master_side:
            runner.register_message("tl_ready", self._on_ready)
            runner.register_message("tl_final", self._on_final)
            runner.register_message("tl_progress", self._on_progress)

    @property
    def options(self) -> Any:
        return self.env.parsed_options

    # --- worker half ------------------------------------------------------------------------

    def _engine(self) -> Engine:
        if self.engine is None:
            o = self.options
            self.engine = Engine(opts.endpoint_placeholder(o), lambda fn: _start_thread(fn, ()))
            self.engine.configure(lambda: opts.resolve_endpoint(o))
            gevent.spawn(self._pump)
        return self.engine

    def _node(self) -> str:
        runner = self.env.runner
        return "local" if isinstance(runner, LocalRunner) else str(getattr(runner, "worker_index", 0))

    def start_device(self, role: str) -> None:
        engine = self._engine()
        o = self.options
        plan = opts.plan(o)
        workers = max(1, int(getattr(o, "expect_workers", 1) or 1)) if isinstance(self.env.runner, WorkerRunner) else 1
        worker = max(0, getattr(self.env.runner, "worker_index", 0))
        local = self.counters[role]
        self.counters[role] += 1
        index = local * workers + worker  # a global index, balanced as Locust spreads users round-robin
        gid = f"{role}{worker}-{local}"
        engine.spawn(lambda: _device(engine, plan, role, gid, index, opts.publishers(o)).run())

    def _pump(self) -> None:
        """Every second: live stats into Locust's tables, readiness and progress to the master."""
        engine = self.engine
        assert engine is not None
        last_ready = -1
        while True:
            engine.take_delta()
            gevent.sleep(1.0 if engine.go_at else 0.25)
            while engine.done:
                item = engine.done.popleft()
                if "final" in item:
                    self.env.runner.send_message("tl_final", item["final"])
                    self.final_sent = True
                    continue
                self._live(item["delta"])
                self.env.runner.send_message("tl_progress", {
                    "counts": item["counts"], "errors": item["errors"],
                    "deliver": item["delta"]["deliver"].to_wire(), "t": time.time()})
            ready = engine.state.counts["ready"]
            if ready != last_ready:
                self.env.runner.send_message("tl_ready", {"ready": ready})
                last_ready = ready

    def _live(self, delta: dict[str, Histogram]) -> None:
        """Fold a second of histograms into Locust's stats so the web UI and CSVs chart them."""
        stats = self.env.stats
        now = time.time()
        for name in LIVE:
            h = delta[name]
            if not h.count:
                continue
            for entry in (stats.get(name, "ably"), stats.total):
                entry.num_requests += h.count
                entry.num_reqs_per_sec[int(now)] += h.count
                entry.last_request_timestamp = now
                entry.total_response_time += h.total / 1000
                low, high = (h.min or 0) / 1000, h.max / 1000
                entry.min_response_time = low if entry.min_response_time is None else min(entry.min_response_time, low)
                entry.max_response_time = max(entry.max_response_time, high)
                for index, count in h.buckets.items():
                    entry.response_times[bucket_response_time(bucket_value(index) / 1000)] += count

    def _finish(self) -> None:
        if self.finished or self.engine is None:
            return
        self.finished = True
        self.engine.finish(self.options.drain)

    def wait_final(self) -> None:
        """Worker stopping under Locust's control (web UI stop): drain and report first."""
        if self.engine is None:
            return
        self._finish()
        deadline = time.monotonic() + self.options.drain + 5
        while not self.final_sent and time.monotonic() < deadline:
            gevent.sleep(0.1)

    # --- master half ------------------------------------------------------------------------

    def _on_ready(self, environment: Any, msg: Any, **kw: Any) -> None:
        self.ready[msg.node_id] = msg.data["ready"]

    def _on_final(self, environment: Any, msg: Any, **kw: Any) -> None:
        self.finals[msg.node_id] = msg.data

    def _on_progress(self, environment: Any, msg: Any, **kw: Any) -> None:
        self.progress[msg.node_id] = msg.data

    def workers(self) -> int:
        runner = self.env.runner
        if isinstance(runner, MasterRunner):
            return max(1, runner.worker_count)
        return 1

    def orchestrate(self) -> None:
        """The run's timeline, on the master (or the local runner)."""
        o = self.options
        runner = self.env.runner
        expected = opts.total_devices(o)
        deadline = time.monotonic() + o.ready_timeout
        while sum(self.ready.values()) < expected and time.monotonic() < deadline:
            gevent.sleep(0.1)
        ready = sum(self.ready.values())
        if ready < expected:
            log.warning("only %d of %d devices ready after %ss: starting anyway", ready, expected, o.ready_timeout)
        go_at = time.time() + 0.2
        runner.send_message("tl_go", {"at": go_at})
        progress = gevent.spawn(self._print_progress, go_at) if o.headless else None
        if o.scenario == "storm":
            gevent.sleep(max(0.0, go_at + o.storm_at - time.time()))
            runner.send_message("tl_storm", {})
        gevent.sleep(max(0.0, go_at + o.duration - time.time()))
        stopped_at = time.time()
        runner.send_message("tl_stop", {})
        workers = self.workers()
        deadline = time.monotonic() + o.drain + 15
        while len(self.finals) < workers and time.monotonic() < deadline:
            gevent.sleep(0.1)
        if progress is not None:
            progress.kill()
        self.report(stopped_at - go_at, expected, workers)
        if o.headless:
            runner.quit()

    def _print_progress(self, go_at: float) -> None:
        last: dict[str, float] = {}
        every = max(1.0, float(self.options.progress))
        while True:
            gevent.sleep(every)
            counts: dict[str, int] = {}
            window = Histogram()
            errors = 0
            for data in self.progress.values():
                for k, v in data["counts"].items():
                    counts[k] = counts.get(k, 0) + v
                errors += sum(data["errors"].values())
                window.merge(Histogram.from_wire(data["deliver"]))
            delivered = counts.get("delivered", 0) + counts.get("presence_events", 0)
            rate = (delivered - last.get("d", 0)) / every
            last["d"] = delivered
            print(f"[tether-load] {time.time() - go_at:6.1f}s conns {counts.get('connected', 0)} "
                  f"published {counts.get('published', 0)} deliveries/s {rate:,.0f} "
                  f"p99 {window.quantile(0.99) / 1000:.2f} ms errors {errors}", file=sys.stderr, flush=True)

    def report(self, duration: float, expected: int, workers: int) -> None:
        o = self.options
        if len(self.finals) < workers:
            log.error("only %d of %d workers sent their final report", len(self.finals), workers)
        summary = merge(self.finals, scenario=o.scenario, duration=duration, workers=workers,
                        expected_devices=expected, clock_offset_ms=o.clock_offset_ms)
        summary["complete"] = len(self.finals) >= workers
        summary["plan"] = {k: getattr(o, k) for k in opts.PLAN_KEYS}
        failed = failures(summary, parse_rules(o.fail_on)) if o.fail_on else []
        summary["failed"] = failed
        self.summary = summary
        if o.summary_json:
            with open(o.summary_json, "w") as f:
                json.dump(summary, f, indent=2)
        print(render(summary), file=sys.stderr, flush=True)
        if failed:
            print("tether-load: --fail-on: " + "; ".join(failed), file=sys.stderr, flush=True)
        self.env.process_exit_code = 1 if failed else (2 if not summary["complete"] else 0)


def _device(engine: Engine, plan: Plan, role: str, gid: str, index: int, publishers: int) -> Any:
    s = plan.scenario
    if s == "personal":
        return PersonalUser(engine, gid, plan, index)
    if s == "presence":
        return PresenceMember(engine, gid, plan, index, observer=index < plan.observers)
    if s == "streaming":
        if role == "pub":
            return Agent(engine, gid, [f"{plan.channel}:conversation:{index % plan.conversations}"],
                         plan.rate, plan, index)
        return Listener(engine, gid, [f"{plan.channel}:conversation:{index % plan.conversations}"])
    channels = [plan.channel] if s != "sharded" else [f"{plan.channel}:shard:{i}" for i in range(plan.shards)]
    if role == "pub":
        return Publisher(engine, gid, channels, plan.rate / max(1, publishers), plan, index)
    return Listener(engine, gid, [channels[index % len(channels)]])


_controller: Controller | None = None


def controller() -> Controller:
    assert _controller is not None
    return _controller


@events.init.add_listener
def _on_init(environment: Any, **kw: Any) -> None:
    global _controller
    _controller = Controller(environment)
    o = environment.parsed_options
    if _controller.master_side and o is not None:
        opts.check_target(o)
        pubs = opts.publishers(o)
        if pubs:
            PublisherUser.fixed_count = pubs
        else:
            environment.user_classes = [SubscriberUser]


@events.test_start.add_listener
def _on_test_start(environment: Any, **kw: Any) -> None:
    c = controller()
    if c.worker_side:
        c._engine()
    if c.master_side:
        gevent.spawn(c.orchestrate)


@events.test_stopping.add_listener
def _on_test_stopping(environment: Any, **kw: Any) -> None:
    c = controller()
    if c.worker_side:
        c.wait_final()
