"""The ``batchstream`` command.

Each subcommand lives in ``airflow_batchstream/commands/<name>.py`` with ``add_arguments(parser)``
and ``run(args) -> int``; heavy imports (grpc, HTTP clients) happen inside ``run`` only.
Exit codes: 0 fine, 1 problems found, 2 bad usage or unreadable input.
"""

from __future__ import annotations

import argparse
import importlib
import sys
from typing import NoReturn

SUBCOMMANDS = {
    "validate": "check a Batch job config (JSON or YAML) against the Batch and image-streaming rules",
    "render": "print the Batch job JSON built from parameters",
    "inspect-image": "check that an image can be streamed (manifest, layers) before submission",
    "emulator": "serve a local Batch API (gRPC) for tests and offline development",
}


class Parser(argparse.ArgumentParser):
    """argparse whose usage errors are one line, like every other error of the command (exit 2)."""

    def error(self, message: str) -> NoReturn:
        self.exit(2, f"{self.prog}: error: {message} (see {self.prog} --help)\n")


def _command_module(name: str):
    return importlib.import_module(f"airflow_batchstream.commands.{name.replace('-', '_')}")


def build_parser() -> argparse.ArgumentParser:
    parser = Parser(prog="batchstream", description=__doc__.splitlines()[0])
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    for name, help_text in SUBCOMMANDS.items():
        module = _command_module(name)
        command = sub.add_parser(name, help=help_text, description=help_text)
        module.add_arguments(command)
        command.set_defaults(run=module.run)
    return parser


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)  # argparse exits with 2 on bad arguments, as documented
    return int(args.run(args) or 0)


if __name__ == "__main__":
    sys.exit(main())
