"""Sweeps: a TOML file of cells (one run each), and the executors that run them (a local
process pool or a Dask cluster), resumable by each cell's hash. The sweep files hbench ships
live in ``files/`` (`hbench.sweep.builtins`)."""
