"""Which files of each official SDK suite the conformance runner measures (issue 15's areas)."""

from __future__ import annotations

ABLY_JS_CORE = [
    *(f"test/realtime/{a}.test.js" for a in (
        "connection", "failure", "auth", "reauth", "channel", "message", "presence", "sync", "history",
        "resume", "encoding", "crypto", "updates-deletes", "annotations", "delta", "init")),
    *(f"test/rest/{a}.test.js" for a in (
        "api", "auth", "history", "message", "presence", "request", "time", "capability",
        "updates-deletes", "batch", "init")),
]

# in scope but not core: SDK-side behaviour mostly, cheap to run
ABLY_JS_IN_SCOPE = [
    *(f"test/realtime/{a}.test.js" for a in ("api", "event_emitter", "utils")),
    *(f"test/rest/{a}.test.js" for a in ("bufferutils", "defaults", "http", "status")),
]

# whole files not measured, and why (the runner never starts them)
ABLY_JS_OUT_OF_SCOPE = {
    "test/realtime/connectivity.test.js": "connectivity checks against Ably's internet hosts",
    "test/realtime/transports.test.js": "comet transports and transport fallback",
    "test/realtime/liveobjects.test.js": "LiveObjects",
    "test/rest/liveobjects.test.js": "LiveObjects",
    "test/rest/push.test.js": "push notifications",
    "test/rest/stats.test.js": "stats history",
    "test/rest/fallbacks.test.js": "fallback hosts",
}

SETS = {"core": ABLY_JS_CORE, "in-scope": ABLY_JS_IN_SCOPE, "all": ABLY_JS_CORE + ABLY_JS_IN_SCOPE}
