"""The subscribed client of the benchmark, run as its own process (so the scan's CPU work in
the orchestrator never delays a receipt timestamp): it subscribes to the exception feed of one
contract over graphql-transport-ws and writes one JSON line per message, stamped with the wall
clock on arrival, until its deadline.

    python -m bench.exceptions.feed_client --url ws://127.0.0.1:8000/graphql --token … \
        --contract <Contract id> --out messages.jsonl --seconds 300
"""

from __future__ import annotations

import argparse
import asyncio
import json
import time
from pathlib import Path

from websockets.asyncio.client import connect
from websockets.typing import Subprotocol

FEED = """
subscription BenchFeed($contracts: [ID!]!) {
  exceptionFeed(contractIds: $contracts) { cursor type caseId rule level recordedAt }
}
"""


async def listen(url: str, token: str, contract: str, out: Path, seconds: float) -> None:
    deadline = time.monotonic() + seconds
    async with connect(url, subprotocols=[Subprotocol("graphql-transport-ws")]) as socket:
        await socket.send(
            json.dumps({"type": "connection_init", "payload": {"authorization": f"Bearer {token}"}})
        )
        ack = json.loads(await socket.recv())
        if ack.get("type") != "connection_ack":
            raise SystemExit(f"not acknowledged: {ack}")
        await socket.send(
            json.dumps(
                {
                    "id": "1",
                    "type": "subscribe",
                    "payload": {"query": FEED, "variables": {"contracts": [contract]}},
                }
            )
        )
        with out.open("a") as lines:
            while (left := deadline - time.monotonic()) > 0:
                try:
                    async with asyncio.timeout(left):
                        raw = await socket.recv()
                except TimeoutError:
                    break
                received = time.time()
                message = json.loads(raw)
                if message.get("type") != "next":
                    lines.write(json.dumps({"t": received, "protocol": message}) + "\n")
                    lines.flush()
                    continue
                event = (message["payload"].get("data") or {}).get("exceptionFeed")
                if event is None:
                    lines.write(json.dumps({"t": received, "error": message["payload"]}) + "\n")
                else:
                    lines.write(json.dumps({"t": received, **event}) + "\n")
                lines.flush()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--url", required=True)
    parser.add_argument("--token", required=True)
    parser.add_argument("--contract", required=True)
    parser.add_argument("--out", required=True, type=Path)
    parser.add_argument("--seconds", required=True, type=float)
    args = parser.parse_args()
    asyncio.run(listen(args.url, args.token, args.contract, args.out, args.seconds))


if __name__ == "__main__":
    main()
