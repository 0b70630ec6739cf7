"""Durable, append-only storage of committed blocks, on LMDB."""
