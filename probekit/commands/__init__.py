"""The command line: parsed arguments in, one call of a library function out.

One module per `probekit` subcommand, each with `add_arguments(parser)` and
`run(args) -> int`; read `probekit/cli.py` first, then the command you need.
"""
