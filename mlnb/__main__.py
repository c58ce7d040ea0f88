"""``python -m mlnb``: the command line, as the ``mlnb`` script runs it."""

from mlnb.cli import run

run()
