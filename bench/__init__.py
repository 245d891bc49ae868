"""`make bench`: seeding at scale, the floor endpoint, the load driver and its results (see bench/run.py)."""
