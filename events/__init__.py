"""Vocabulary of the ledger: identities, signed envelopes, event bodies, hashing."""
