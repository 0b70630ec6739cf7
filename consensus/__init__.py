"""The BFT consensus core: Tendermint rounds (propose, prevote, precommit, locks), pure.

See docs/consensus.md for the protocol as implemented. Nothing in this package reads a clock,
opens a socket, starts a thread or draws a random number: the shell passes in messages and the
current time, and carries out the returned actions.
"""
