"""One validator of a consortium whose other validators run in other processes or machines.

It is the embedded facade (``Consortium``) running one validator over the ZeroMQ transport, so
the same validator code runs in both modes, and a host that embeds a node still gets local
participant handles, queries and subscriptions. ``consortium node`` runs one of these until
SIGTERM; remote hosts reach it through ``consortium.remote``.
"""

from __future__ import annotations

from consortium.actors.net.transport import ZmqTransport, validator_index
from consortium.api import Consortium
from consortium.genesis_file import read_genesis
from consortium.key_file import read_secret_key
from consortium.node_config import ConfigError, NodeConfig


class NetworkedConsortium(Consortium):
    def __init__(self, config: NodeConfig) -> None:
        genesis = read_genesis(config.genesis_file)
        identity = read_secret_key(config.key_file)
        try:
            index = validator_index(genesis, identity)
        except ValueError as exc:
            raise ConfigError(
                f"{config.key_file}: {exc}; use the key file of a validator that "
                f"{config.genesis_file} names (its public key is listed under [[validators]])"
            ) from None
        self.index = index
        self.network = ZmqTransport(
            genesis, identity, config.listen, config.peers, config.client_keys
        )
        try:
            super().__init__(
                genesis, config.data_dir, {index: identity}, config.ledger, transport=self.network
            )
        except BaseException:
            self.network.close()
            raise

    def stop(self) -> None:
        """Stop the validator (it finishes the message in hand, so a block being committed is
        committed, and closes its log), then the network; safe to call twice."""
        super().stop()
        self.network.close()
