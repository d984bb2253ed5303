"""The README's "two devices in a few lines", runnable as is: `make run`, `python examples/agent.py`, then this.

Two Realtime clients (a laptop and a phone of one user) share one AI session: the laptop sends a
prompt and pokes the agent, the phone watches the same reply stream in. The key is the broker's
dev key (data/dev-key.txt), or TETHER_KEY.
"""

from __future__ import annotations

import asyncio
import os
import sys

from client import Realtime
from client.codec import ui_message_codec
from client.session import ClientSession, invoke_agent

try:
    from examples.broker_options import dev_key
except ImportError:  # run as a script: examples/ itself is on sys.path
    from broker_options import dev_key  # type: ignore[no-redef]

KEY = os.environ.get("TETHER_KEY") or dev_key()


async def main() -> None:
    async with Realtime(key=KEY, host="127.0.0.1", port=8080, tls=False, client_id="alice-laptop") as laptop, \
               Realtime(key=KEY, host="127.0.0.1", port=8080, tls=False, client_id="alice-phone") as phone:
        a = ClientSession.for_realtime(laptop, "conversations:c1", ui_message_codec())
        b = ClientSession.for_realtime(phone, "conversations:c1", ui_message_codec())
        await a.connect(); await b.connect()

        run = await a.view.send(a.codec.create_user_message(
            {"id": "m1", "role": "user", "parts": [{"type": "text", "text": "What is 2+2?"}]}))
        await invoke_agent(run.to_invocation(), "http://127.0.0.1:9000/invoke")  # the client pokes the agent

        async for messages in b.view.watch():       # the phone sees the same reply stream in
            print(messages[-1:])
            if b.view.runs() and b.view.runs()[-1].status != "active":
                break


if __name__ == "__main__":
    if KEY is None:
        sys.exit("no data/dev-key.txt: start the broker with `make run` first (or set TETHER_KEY)")
    asyncio.run(main())
