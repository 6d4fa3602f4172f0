"""``edged schemas``: write or check the committed JSON Schemas of the MQTT messages.

The schemas are generated from the message models in ``edged.messages``; the
files under ``schemas/`` are what subscribers validate against, and a test fails
when they no longer match the models. After changing a message model, run
``edged schemas --write`` from the repository root and commit the result.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import Any

__all__ = ["register"]

DEFAULT_DIR = "schemas"


def register(subparsers: Any) -> argparse.ArgumentParser:
    parser = subparsers.add_parser(
        "schemas", help="write or check the JSON Schemas of the MQTT messages"
    )
    mode = parser.add_mutually_exclusive_group(required=True)
    mode.add_argument("--write", action="store_true", help="(re)write the schema files that differ")
    mode.add_argument(
        "--check", action="store_true", help="exit 1 if a file is missing, stale or left over"
    )
    parser.add_argument(
        "directory",
        nargs="?",
        default=DEFAULT_DIR,
        help=f"where the files are (default: ./{DEFAULT_DIR}, run from the repository root)",
    )
    parser.set_defaults(func=_run)
    return parser


def _run(args: argparse.Namespace) -> int:
    from edged.messages import check_schema_files, write_schema_files

    directory = Path(args.directory)
    if args.write:
        changed = write_schema_files(directory)
        for path in changed:
            print(f"wrote {path}")
        if not changed:
            print(f"{directory}: all schema files are up to date")
        return 0
    problems = check_schema_files(directory)
    if problems:
        print("\n".join(problems), file=sys.stderr)
        print("run `edged schemas --write` and commit the files", file=sys.stderr)
        return 1
    print(f"{directory}: all schema files are up to date")
    return 0
