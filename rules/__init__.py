"""The rules core: deterministic checks and effects of every workflow over the shared state."""
