"""A terminal client for an AI session: type a prompt, watch the reply stream in.

    python examples/chat.py [--broker-port 8080 --key KEY] [--agent http://127.0.0.1:9000/invoke] \\
        [--channel conversations:demo] [--client-id alice-laptop]    # defaults: the broker of `make run`

Run it twice (say `--client-id alice-laptop` and `--client-id alice-phone`) and both terminals show
the same conversation. Commands: `/regen` regenerates the last reply, `/cancel` cancels this
device's runs, `/cancel all` asks to cancel every active run (the agent may refuse, and then it
says so), `/who` lists who is here, `/quit`. `--say TEXT` sends one prompt, prints the reply and
exits. Each reply is marked (complete), (cancelled) or (failed) when its run ends; an agent that
cannot be reached is an error line, not the end of the session.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import sys
from typing import Any

from client import AblyError, Realtime
from client.codec import AitError, ui_message_codec
from client.session import ClientSession, ClientView, RunInfo, invoke_agent

try:
    from examples.broker_options import add_broker_options, parse_with_key
except ImportError:  # run as a script: examples/ itself is on sys.path
    from broker_options import add_broker_options, parse_with_key  # type: ignore[no-redef]


def text_of(message: dict[str, Any]) -> str:
    return "".join(p.get("text", "") for p in message.get("parts", []) if p.get("type") == "text")


class Printer:
    """Prints each message once, and a streaming one as it grows."""

    def __init__(self, view: ClientView) -> None:
        self.view = view
        self.printed: dict[str, int] = {}

    def __call__(self, _: object = None) -> None:
        for item in self.view.get_messages():
            text = text_of(item.message)
            done = self.printed.get(item.codec_message_id)
            if done is None:
                sys.stdout.write(f"\n[{item.message.get('role')}] ")
                done = 0
            if len(text) > done:
                sys.stdout.write(text[done:])
            self.printed[item.codec_message_id] = max(done, len(text))
        sys.stdout.flush()


async def ask(session: ClientSession, agent_url: str, text: str) -> str:
    prompt = {"kind": "user-message", "message": {"id": f"m-{len(session.view.get_messages())}", "role": "user",
                                                  "parts": [{"type": "text", "text": text}]}}
    run = await session.view.send(prompt)
    await invoke_agent(run.to_invocation(), agent_url)
    return await run.wait_started(30)


async def finished(session: ClientSession, run_id: str, timeout: float = 60) -> str:
    """The run's status once it ends, or "active" if it has not within `timeout`."""
    done = asyncio.Event()
    off = session.view.on("run", lambda e: done.set() if e.run_id == run_id and e.type == "end" else None)
    try:
        info = session.view.run(run_id)
        if info is None or info.status == "active":
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(done.wait(), timeout)
    finally:
        off()
    info = session.view.run(run_id)
    return info.status if info is not None else "unknown"


CANCEL_WAIT = 5.0  # seconds for a run to end after a cancel before the cancel counts as refused


async def cancel(session: ClientSession, runs: list[RunInfo]) -> None:
    """Cancel `runs` and report each one the agent did not stop: a refusal publishes nothing (the
    agent's onCancel decides), so a run still active after CANCEL_WAIT is what refusal looks like."""
    if not runs:
        print("\n(no active run to cancel)")
        return
    for info in runs:
        await session.cancel(info.run_id)
    outcomes = await asyncio.gather(*(finished(session, info.run_id, CANCEL_WAIT) for info in runs))
    for info, status in zip(runs, outcomes, strict=True):
        if status != "cancelled":
            print(f"\n! the agent did not cancel {info.client_id}'s run {info.run_id}, which is {status} "
                  "(it accepts cancels from a run's owner)", file=sys.stderr)


async def command(session: ClientSession, agent_url: str, line: str) -> bool:
    """Handle one input line; False to quit."""
    if line in ("/quit", "/exit"):
        return False
    if line == "/who":
        for p in await session.participants.list():
            print(f"\n  {p.client_id} ({p.role}{', ' + p.device if p.device else ''}"
                  f"{', ' + p.status if p.status else ''})")
    elif line == "/cancel":
        await cancel(session, session.own_active_runs())
    elif line == "/cancel all":
        await cancel(session, [info for info in session.view.runs() if info.status == "active"])
    elif line == "/regen":
        replies = [m for m in session.view.get_messages() if m.message.get("role") == "assistant"]
        if replies:
            run = await session.view.regenerate(replies[-1].codec_message_id)
            await invoke_agent(run.to_invocation(), agent_url)
    elif line:
        await ask(session, agent_url, line)
    return True


async def guarded(session: ClientSession, agent_url: str, line: str) -> bool:
    """One command; a failure (agent unreachable, a refused publish) is an error line, not an exit."""
    try:
        return await command(session, agent_url, line)
    except (AblyError, AitError) as exc:
        print(f"\n! {exc}", file=sys.stderr)
        return True


def mark_ends(session: ClientSession) -> None:
    """Print how each run ended, once, after its reply."""
    def on_run(event: Any) -> None:
        if event.type == "end":
            info = session.view.run(event.run_id)
            print(f"\n({info.status if info is not None else 'ended'})", flush=True)
    session.view.on("run", on_run)


async def main(args: argparse.Namespace) -> None:
    async with Realtime(key=args.key, host=args.broker_host, port=args.broker_port, tls=False,
                        client_id=args.client_id) as client, \
            ClientSession.for_realtime(client, args.channel, ui_message_codec()) as session:
        printer = Printer(session.view)
        session.view.on("update", printer)
        session.on("error", lambda e: print(f"\n! {e}", file=sys.stderr))
        if args.say is None:
            print(f"connected to {args.broker_host}:{args.broker_port} as {args.client_id} on {args.channel}; "
                  "type a prompt, or /who, /regen, /cancel, /cancel all, /quit", flush=True)
        if args.history:
            await session.view.load_older(args.history)
        if args.say is not None:
            status = await finished(session, await ask(session, args.agent, args.say))
            printer()
            print(f"\n({status})")
            return
        await session.participants.enter(device=args.device)
        mark_ends(session)
        loop = asyncio.get_running_loop()
        while True:
            line = await loop.run_in_executor(None, sys.stdin.readline)
            if not line or not await guarded(session, args.agent, line.strip()):
                break


def parse() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    add_broker_options(parser)
    parser.add_argument("--agent", default="http://127.0.0.1:9000/invoke", help="the agent's invoke URL")
    parser.add_argument("--channel", default="conversations:demo")
    parser.add_argument("--client-id", default="alice-laptop", help="one per device, so ownership is clear")
    parser.add_argument("--device", default=None, help="a name shown to the other participants")
    parser.add_argument("--history", type=int, default=30, help="messages to load on start")
    parser.add_argument("--say", default=None, help="send one prompt, print the reply, exit")
    return parse_with_key(parser)


if __name__ == "__main__":
    asyncio.run(main(parse()))
