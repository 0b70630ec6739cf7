"""A validator's ledger machinery, free of actors: intake, mempool, blocks, state, signing records.

Everything here is driven by plain method calls, so the pykka shell (``consortium.actors``) and
the fault simulator (``tests/sim``) run the same code.
"""
