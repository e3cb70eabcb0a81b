"""`probekit train`: the same entry point as `python -m probekit.train`."""

from probekit.train import add_arguments, run

__all__ = ["add_arguments", "run"]
