"""Child process of the SIGKILL test: a durable consortium that reports every acknowledged event.

Prints ``READY`` once users are funded, then one ``ACK <event id hex> <height>`` line per accepted
receipt, flushed at once, until it is killed.
"""

from __future__ import annotations

import itertools
import sys
from pathlib import Path

from consortium.config import ConsortiumConfig
from consortium.events.payments import Transfer
from tests.consortium_fixtures import funded_users, start


def main(data_dir: str) -> None:
    config = ConsortiumConfig(durable=True, timeout_propose_ms=300, timeout_vote_ms=150)
    consortium = start(Path(data_dir), config)
    users = funded_users(consortium, 4)
    print("READY", flush=True)
    for i in itertools.count():
        batch = [
            users[(i + k) % 4].submit(
                Transfer(token="NORTH", to=users[(i + k + 1) % 4].public_key, amount=1)
            )
            for k in range(8)
        ]
        for future in batch:
            receipt = future.result(30)
            if receipt.accepted:
                print(f"ACK {receipt.event_id.hex()} {receipt.height}", flush=True)


if __name__ == "__main__":
    main(sys.argv[1])
