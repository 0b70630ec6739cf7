"""Embedding Consortium in an asyncio web service.

A tiny HTTP endpoint (standard library only) that turns ``POST /pay?to=<name>&amount=<n>`` into a
signed transfer and answers with the receipt, awaiting it without blocking the event loop. The
script starts the service, calls it once as a client would, prints the answer and stops.

Run: python examples/embed_asyncio.py
"""

from __future__ import annotations

import asyncio
import json
import tempfile
from urllib.parse import parse_qs, urlsplit

from consortium import (
    Consortium,
    ConsortiumConfig,
    Genesis,
    GenesisParticipant,
    GenesisValidator,
    Identity,
    IssueTokens,
    ParticipantHandle,
    RegisterParticipant,
    TokenDefinition,
    Transfer,
)


def make_genesis() -> tuple[Genesis, list[Identity], dict[str, Identity]]:
    validators = [Identity.generate(f"validator-{i}") for i in range(4)]
    people = {name: Identity.generate(name) for name in ("bank-admin", "alice", "bob")}
    genesis = Genesis(
        chain_id="web-example",
        genesis_time_ms=1_767_225_600_000,
        validators=tuple(
            GenesisValidator(v.name, f"org-{i}", v.public_key) for i, v in enumerate(validators)
        ),
        participants=(
            GenesisParticipant("bank-admin", "bank", "org_admin", people["bank-admin"].public_key),
        ),
        tokens=(TokenDefinition("EUR", "bank"),),
    )
    return genesis, validators, people


async def handle(
    reader: asyncio.StreamReader,
    writer: asyncio.StreamWriter,
    payer: ParticipantHandle,
    names: dict[str, bytes],
) -> None:
    request_line = (await reader.readline()).decode()
    while (await reader.readline()) not in (b"\r\n", b""):
        pass  # headers are not needed here
    _, target, _ = request_line.split(" ", 2)
    query = parse_qs(urlsplit(target).query)
    transfer = Transfer(token="EUR", to=names[query["to"][0]], amount=int(query["amount"][0]))
    receipt = await payer.submit(transfer)  # awaits without blocking the loop
    body = json.dumps(
        {"accepted": receipt.accepted, "height": receipt.height, "code": receipt.result.code}
    ).encode()
    writer.write(b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\n")
    writer.write(f"Content-Length: {len(body)}\r\n\r\n".encode() + body)
    await writer.drain()
    writer.close()


async def call(port: int, path: str) -> str:
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    writer.write(f"POST {path} HTTP/1.1\r\nHost: localhost\r\n\r\n".encode())
    await writer.drain()
    response = (await reader.read()).decode()
    writer.close()
    return response.split("\r\n\r\n", 1)[1]


async def main() -> None:
    genesis, validators, people = make_genesis()
    with (
        tempfile.TemporaryDirectory() as data,
        Consortium(genesis, data, validators, ConsortiumConfig(durable=False)) as consortium,
    ):
        admin = consortium.participant(people["bank-admin"])
        for name in ("alice", "bob"):
            await admin.submit(
                RegisterParticipant(participant=people[name].public_key, name=name, role="user")
            )
        await admin.submit(IssueTokens(token="EUR", to=people["alice"].public_key, amount=1000))
        alice = consortium.participant(people["alice"])
        names = {name: people[name].public_key for name in ("alice", "bob")}
        server = await asyncio.start_server(lambda r, w: handle(r, w, alice, names), "127.0.0.1", 0)
        port = server.sockets[0].getsockname()[1]
        async with server:
            print(await call(port, "/pay?to=bob&amount=250"))
        print("bob holds", consortium.balance(people["bob"].public_key, "EUR"), "EUR")


if __name__ == "__main__":
    asyncio.run(main())
