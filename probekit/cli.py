"""The `probekit` command line: one entry point, one module per subcommand.

Each subcommand lives in `probekit/commands/<name>.py` and exposes
`add_arguments(parser)` and `run(args) -> int`. Only the module of the command being
run is imported, so `probekit --help` stays fast and a broken optional dependency
only affects its own command.
"""

from __future__ import annotations

import argparse
import importlib
import sys

# name -> one-line help. Order is the order shown in `probekit --help`.
SUBCOMMANDS: dict[str, str] = {
    "generate": "generate a synthetic world, its proxy tasks and a token dataset",
    "fourier": "Fourier-Walsh degrees of the tasks, in z and in x",
    "train": "pretrain a model on proxy tasks (also under `accelerate launch`)",
    "probe": "probe a checkpoint layer by layer for the latents, with controls",
    "theory": "what the theory predicts for a world and task set",
    "sweep": "run a grid of training + probing runs, resumably",
    "report": "write an HTML/Markdown report for a run or a sweep",
    "demo": "the one-command demo: generate, train, probe, predict, report",
    "push": "share a trained run on the Hugging Face Hub",
}


def build_parser(load: str | None = None) -> argparse.ArgumentParser:
    """The top-level parser; only the subcommand named `load` has its module imported.

    Importing a command module can mean importing torch and transformers, so the
    others are listed by name only and `probekit --help` stays fast.
    """
    parser = argparse.ArgumentParser(
        prog="probekit", description="When do neural networks learn world models?"
    )
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    for name, help_text in SUBCOMMANDS.items():
        if name != load:
            sub.add_parser(name, help=help_text, add_help=False)
            continue
        try:
            module = importlib.import_module(f"probekit.commands.{name}")
        except ModuleNotFoundError as err:
            # A broken optional dependency disables its command, not the whole CLI.
            p = sub.add_parser(name, help=f"(unavailable: {err})", add_help=False)
            p.set_defaults(_run=_unavailable(name, err))
            continue
        p = sub.add_parser(name, help=help_text, description=help_text)
        module.add_arguments(p)
        p.set_defaults(_run=module.run)
    return parser


def _unavailable(name: str, err: Exception):
    def run(args) -> int:
        print(
            f"error: `probekit {name}` cannot run: {err}. Reinstall with "
            f"`pip install -e .` to get its dependencies.",
            file=sys.stderr,
        )
        return 1

    return run


def main(argv: list[str] | None = None) -> int:
    """Parse `argv` (default: sys.argv[1:]) and run the chosen subcommand."""
    argv = list(sys.argv[1:] if argv is None else argv)
    command = next((a for a in argv if not a.startswith("-")), None)
    parser = build_parser(load=command if command in SUBCOMMANDS else None)
    args = parser.parse_args(argv)
    if not getattr(args, "_run", None):
        parser.print_help()
        return 2
    return int(args._run(args) or 0)


if __name__ == "__main__":
    sys.exit(main())
