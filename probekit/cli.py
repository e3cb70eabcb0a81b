"""The `probekit` command line: one entry point, one module per subcommand.

Each subcommand lives in `probekit/commands/<name>.py` and exposes
`add_arguments(parser)` and `run(args) -> int`. Only the module of the command being
run is imported, so `probekit --help` stays fast and a broken optional dependency
only affects its own command.

Errors are handled here, once, for every command: a user's mistake (a config or value
error, a missing file, an existing run, a YAML syntax error, a damaged weights file, a
Hub error) is printed as one `error: ...` line and exits 2 (3 when the Hub cannot be
reached: retry later); anything else is a bug and keeps its traceback. `--debug`, anywhere
on the command line, shows the traceback of every error.

Every command takes `--threads N`, torch's intra-op threads for the whole command
(`threads_for` says how the default is chosen).
"""

from __future__ import annotations

import argparse
import contextlib
import importlib
import os
import sys

EXIT_USAGE = 2  # a usage or config error: the message says what to change
EXIT_UNAVAILABLE = 3  # the Hub cannot be reached: the same command can succeed later

# name -> one-line help. Order is the order shown in `probekit --help`.
SUBCOMMANDS: dict[str, str] = {
    "generate": "generate a synthetic world, its proxy tasks and a token dataset",
    "fourier": "Fourier-Walsh degrees of the tasks, in z and in x",
    "train": "pretrain a model on proxy tasks (also under `accelerate launch`)",
    "probe": "probe a checkpoint layer by layer for the latents, with controls",
    "intervene": "does the model use what the probe finds? steer, erase, interchange per site",
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
    parser.add_argument(
        "--debug", action="store_true", help="show the traceback of an error (anywhere in argv)"
    )
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    common = argparse.ArgumentParser(add_help=False)
    common.add_argument(
        "--threads",
        type=_thread_count,
        default=None,
        metavar="N",
        help="torch intra-op threads (default: $OMP_NUM_THREADS if set, else 1, the fastest "
        "for this toolkit's small models on a shared CPU; 0 = torch's own default)",
    )
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
        p = sub.add_parser(name, help=help_text, description=help_text, parents=[common])
        module.add_arguments(p)
        p.set_defaults(_run=module.run)
    return parser


def _thread_count(value: str) -> int:
    try:
        n = int(value)
    except ValueError:
        n = -1
    if n < 0:
        raise argparse.ArgumentTypeError(
            f"--threads must be a whole number >= 0 (0 = torch's default), got {value!r}"
        )
    return n


def threads_for(requested: int | None, environ=os.environ) -> int | None:
    """The intra-op thread count to set, or None to leave torch's default.

    An explicit `--threads` wins; then `OMP_NUM_THREADS`, which torch already reads;
    otherwise one thread. The models trained and probed here are small (widths of
    128-256), and on a 2-core machine that is doing anything else torch's default pool
    spends more time synchronising than computing: the README's "Threads" paragraph and
    `benchmarks/bench_threads.py` give the measurement behind the default.
    """
    if requested is not None:
        return None if requested == 0 else requested
    if environ.get("OMP_NUM_THREADS"):
        return None
    return 1


@contextlib.contextmanager
def thread_count(requested: int | None):
    """Run the block with `threads_for(requested)` threads, then restore what was there."""
    n = threads_for(requested)
    env_before = os.environ.get("OMP_NUM_THREADS")
    torch_before = sys.modules["torch"].get_num_threads() if "torch" in sys.modules else None
    if n is not None:
        # Before torch is imported the environment is enough (and reaches the processes a
        # sweep starts); importing torch here would slow the commands that never need it.
        os.environ["OMP_NUM_THREADS"] = str(n)
        if "torch" in sys.modules:
            sys.modules["torch"].set_num_threads(n)
    try:
        yield
    finally:
        if n is not None:
            if env_before is None:
                os.environ.pop("OMP_NUM_THREADS", None)
            else:
                os.environ["OMP_NUM_THREADS"] = env_before
            if torch_before is not None:
                sys.modules["torch"].set_num_threads(torch_before)


def _unavailable(name: str, err: Exception):
    def run(args) -> int:
        print(
            f"error: `probekit {name}` cannot run: {err}. Reinstall with "
            f"`pip install -e .` to get its dependencies.",
            file=sys.stderr,
        )
        return 1

    return run


def _loaded(module: str, name: str) -> type | None:
    """Class `name` of `module` if the module is loaded (an exception of it implies it is)."""
    found = getattr(sys.modules.get(module), name, None)
    return found if isinstance(found, type) else None


def _one_line(text: str) -> str:
    return " ".join(line.strip() for line in str(text).splitlines() if line.strip())


def user_error(err: BaseException) -> tuple[str, int] | None:
    """(one-line message, exit code) of a user's mistake; None for a bug, which keeps its traceback."""
    unavailable = _loaded("probekit.hub.client", "HubUnavailableError")
    if unavailable and isinstance(err, unavailable):
        return _one_line(err), EXIT_UNAVAILABLE
    named = [
        _loaded("probekit.training.run_dir", "RunExistsError"),
        _loaded("probekit.hub.client", "HubError"),
        _loaded("synthetic.registry", "UnknownNameError"),
    ]
    if any(cls and isinstance(err, cls) for cls in named):
        return _one_line(err.args[0] if err.args else err), EXIT_USAGE
    yaml_error = _loaded("yaml", "YAMLError")
    if yaml_error and isinstance(err, yaml_error):
        from synthetic.config import yaml_error_message

        mark = getattr(err, "problem_mark", None)
        return _one_line(yaml_error_message(getattr(mark, "name", "YAML"), err)), EXIT_USAGE
    damaged = _loaded("safetensors", "SafetensorError")
    if damaged and isinstance(err, damaged):
        return (
            f"a .safetensors weights file is damaged or not a safetensors file ({err}); "
            "train the run again or download the checkpoint again.",
            EXIT_USAGE,
        )
    if isinstance(err, PATH_ERRORS):
        if err.strerror and err.filename:  # raised by the OS: say which path
            return f"{err.strerror}: {err.filename}; check the path.", EXIT_USAGE
        return _one_line(err), EXIT_USAGE
    if isinstance(err, ValueError):  # the specs' and commands' config errors
        hint = "" if _raised_here(err) else " (--debug shows where it was raised)"
        return _one_line(err) + hint, EXIT_USAGE
    return None


PATH_ERRORS = (
    FileNotFoundError,
    FileExistsError,
    NotADirectoryError,
    IsADirectoryError,
    PermissionError,
)


def _raised_here(err: BaseException) -> bool:
    """Whether `err` was raised by probekit or synthetic (their messages name the fix)."""
    tb = err.__traceback__
    while tb is not None and tb.tb_next is not None:
        tb = tb.tb_next
    module = tb.tb_frame.f_globals.get("__name__", "") if tb is not None else ""
    return module.split(".")[0] in ("probekit", "synthetic")


def run_command(run, args: argparse.Namespace, *, debug: bool = False) -> int:
    """`run(args)`; a user's mistake becomes one `error: ...` line on stderr and exit 2 (or 3)."""
    try:
        return int(run(args) or 0)
    except Exception as err:
        handled = None if debug else user_error(err)
        if handled is None:
            raise
        message, code = handled
        print(f"error: {message}", file=sys.stderr)
        return code


def main(argv: list[str] | None = None) -> int:
    """Parse `argv` (default: sys.argv[1:]) and run the chosen subcommand."""
    argv = list(sys.argv[1:] if argv is None else argv)
    debug = "--debug" in argv
    argv = [a for a in argv if a != "--debug"]  # a global flag, accepted anywhere
    command = next((a for a in argv if not a.startswith("-")), None)
    parser = build_parser(load=command if command in SUBCOMMANDS else None)
    args = parser.parse_args(argv)
    if not getattr(args, "_run", None):
        parser.print_help()
        return 2
    with thread_count(getattr(args, "threads", None)):
        return run_command(args._run, args, debug=debug)


if __name__ == "__main__":
    sys.exit(main())
