"""A subscriber process for the recover tests: prints one JSON line per message it handles, each
with the recovery key as of that message (the saved state a restarted process recovers from).

    python -m tests.client.recover_child HOST PORT KEY CHANNEL [RECOVERY_KEY]
"""

from __future__ import annotations

import asyncio
import json
import os
import sys

from client import Realtime


async def main(host: str, port: str, key: str, channel_name: str, recover: str | None) -> None:
    client = Realtime(key=key, host=host, port=int(port), tls=False, recover=recover)
    await client.connect()
    channel = client.channels.get(channel_name)

    def emit(record: dict[str, object]) -> None:
        record.update(connectionId=client.connection.id, key=client.connection.create_recovery_key())
        os.write(1, (json.dumps(record) + "\n").encode())  # one write: a kill never leaves half a line

    await channel.subscribe(lambda message: emit({"data": message.data}))
    emit({"ready": True})
    await asyncio.Event().wait()


if __name__ == "__main__":
    asyncio.run(main(*sys.argv[1:5], sys.argv[5] if len(sys.argv) > 5 else None))
