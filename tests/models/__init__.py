"""Reference models of the workflows: plain Python, obviously correct, no optimisation."""
