"""The benchmark harness: ``python -m consortium.bench``. Every figure is printed beside the raw
limits of this machine measured in the same run, because absolute numbers on shared machines
drift."""
