"""``python -m services.gateway.keys`` (console script ``ekai-keys``): create and list gateway keys.

    ekai-keys add NAME [--budget-usd 5 --budget-period day] [--requests-per-minute 60]
                       [--tokens-per-minute 200000] [--model 'gpt-4o*' …] [--admin] [--file PATH]
    ekai-keys list [--file PATH]

``add`` makes a random key, prints it once on stdout (nowhere else: only its SHA-256 is stored) and
appends a ``[[keys]]`` table to the keys file (``--file``, else ``GATEWAY_KEYS_PATH``, else
``data/keys.toml``). The file is checked before and after, so a name is never used twice.
"""

from __future__ import annotations

import argparse
import os
import sys
from collections.abc import Sequence
from pathlib import Path

from services.gateway.keys.keyfile import KeyEntry, KeyFileError, entry_toml, hash_key, load_keyring, new_key

DEFAULT_PATH = "data/keys.toml"


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="ekai-keys", description="Create and list Ekai Gateway keys.")
    sub = parser.add_subparsers(dest="command", required=True)
    add = sub.add_parser("add", help="create a key, print it once and append its hash to the keys file")
    add.add_argument("name")
    add.add_argument("--budget-usd", type=float)
    add.add_argument("--budget-period", choices=("day", "month"), default="month")
    add.add_argument("--requests-per-minute", type=int)
    add.add_argument("--tokens-per-minute", type=int)
    add.add_argument("--model", action="append", default=[], help="allowed model glob (repeatable)")
    add.add_argument("--admin", action="store_true", help="may read /usage and the dashboard beyond loopback")
    add.add_argument("--file", help=f"keys file (default: $GATEWAY_KEYS_PATH or {DEFAULT_PATH})")
    listing = sub.add_parser("list", help="names and limits of the keys in the file")
    listing.add_argument("--file")
    return parser


def _path(given: str | None) -> Path:
    return Path(given or os.environ.get("GATEWAY_KEYS_PATH", "").strip() or DEFAULT_PATH)


def _add(args: argparse.Namespace) -> int:
    path = _path(args.file)
    existing = load_keyring(None, str(path)) if path.exists() else None
    if existing and any(e.name == args.name for e in existing.entries):
        raise KeyFileError(f"{path} already has a key named {args.name!r}")
    key = new_key()
    entry = KeyEntry(
        name=args.name,
        key_sha256=hash_key(key),
        budget_usd=args.budget_usd,
        budget_period=args.budget_period,
        requests_per_minute=args.requests_per_minute,
        tokens_per_minute=args.tokens_per_minute,
        models=tuple(args.model),
        admin=args.admin,
    )
    text = path.read_text(encoding="utf-8") if path.exists() else ""
    addition = "" if not text or text.endswith("\n\n") else "\n" if text.endswith("\n") else "\n\n"
    candidate = text + addition + entry_toml(entry)
    check = path.with_name(path.name + ".check")
    path.parent.mkdir(parents=True, exist_ok=True)
    check.write_text(candidate, encoding="utf-8")
    try:
        load_keyring(None, str(check))  # the new entry breaks no rule (budget > 0, name, …)
    finally:
        check.unlink()
    with path.open("a", encoding="utf-8") as fh:
        fh.write(addition + entry_toml(entry))
    print(key)
    print(
        f"ekai-keys: key {args.name!r} added to {path} (only its SHA-256 is stored; "
        "this is the only time the key is shown)",
        file=sys.stderr,
    )
    return 0


def _list(args: argparse.Namespace) -> int:
    path = _path(args.file)
    ring = load_keyring(None, str(path)) if path.exists() else None
    for e in ring.entries if ring else ():
        budget = f"{e.budget_usd:g} USD/{e.budget_period}" if e.budget_usd is not None else "no budget"
        extra = [
            f"{e.requests_per_minute} req/min" if e.requests_per_minute else "",
            f"{e.tokens_per_minute} tok/min" if e.tokens_per_minute else "",
            "models " + ",".join(e.models) if e.models else "",
            "admin" if e.admin else "",
        ]
        print("\t".join([e.name, budget, *[x for x in extra if x]]))
    return 0


def main(argv: Sequence[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    try:
        return _add(args) if args.command == "add" else _list(args)
    except KeyFileError as exc:
        print(f"ekai-keys: {exc}", file=sys.stderr)
        return 1


if __name__ == "__main__":
    sys.exit(main())
