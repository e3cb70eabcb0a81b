"""`python -m probekit.train` and `accelerate launch -m probekit.train`: the training command.

The loop is `probekit.training.loop.train`; this module only gives the command a
module path that `accelerate launch -m` can run.
"""

import sys

from probekit.commands.train import main
from probekit.training.loop import TrainResult, train

__all__ = ["TrainResult", "main", "train"]

if __name__ == "__main__":
    sys.exit(main())
