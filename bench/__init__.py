"""The benchmark harness: ``python -m bench``. Every figure is printed beside the raw limits of
this machine measured in the same run, because absolute numbers on shared machines drift."""
