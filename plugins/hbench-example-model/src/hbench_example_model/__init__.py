"""An example third-party hbench plugin: a network whose layers mirror the grammar's tree."""

__version__ = "0.1.0"
