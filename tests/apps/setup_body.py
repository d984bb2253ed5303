"""The shape of the body the SDK suites send to `POST /apps` (ably-common's test-app-setup.json,
`post_apps`): empty and capability-restricted keys, a revocable one, namespaces, presence fixtures
including json and cipher encodings."""

from __future__ import annotations

from typing import Any

FIXTURE_CHANNEL = "persisted:presence_fixtures"

SETUP: dict[str, Any] = {
    "limits": {"presence": {"maxMembers": 250}},
    "keys": [
        {},
        {"capability": '{ "cansubscribe:*":["subscribe"], "canpublish:*":["publish"], '
                       '"canpublish:andpresence":["presence","publish"] }'},
        {"capability": '{ "channel0":["publish"], "channel2":["publish", "subscribe"], "channel6":["*"] }'},
        {"capability": '{ "*":["subscribe"] }'},
        {"revocableTokens": True},
        {"capability": '{ "[*]*":["*"] }'},
    ],
    "namespaces": [
        {"id": "persisted", "persisted": True},
        {"id": "pushenabled", "pushEnabled": True},
        {"id": "mutable", "mutableMessages": True},
        {"id": "frozen", "mutableMessages": False},
    ],
    "channels": [
        {"name": FIXTURE_CHANNEL, "presence": [
            {"clientId": "client_bool", "data": "true"},
            {"clientId": "client_int", "data": "24"},
            {"clientId": "client_string", "data": "This is a string clientData payload"},
            {"clientId": "client_json", "data": '{ "test": "This is a JSONObject clientData payload"}'},
            {"clientId": "client_decoded", "data": '{"example":{"json":"Object"}}', "encoding": "json"},
            {"clientId": "client_encoded", "data": "HO4cYSP8LybPYBPZPHQOtuD53yrD3YV3NBoTEYBh4U0N1QXHbtkfsDfTspKeLQFt",
             "encoding": "json/utf-8/cipher+aes-128-cbc/base64"},
        ]},
    ],
}
