"""``consortium keygen``: an Ed25519 key pair for a validator, an organisation's admin or a host."""

from __future__ import annotations

import argparse
from pathlib import Path

from consortium.commands import Commands


def register(commands: Commands) -> None:
    keygen = commands.add_parser(
        "keygen",
        help="create an Ed25519 key pair (secret file mode 0600, public .pub file to share)",
        description="Writes FILE (the secret signing key, mode 0600; it stays on the "
        "organisation's machine) and FILE with the suffix .pub (name, organisation, role and "
        "public key; send it to whoever assembles the genesis). Never overwrites a key. The "
        "role 'validator' makes the key a validator in the genesis, 'host' a key that hosts "
        "use to connect to a validator (list it in the node config's client_keys); any other "
        "role (e.g. org_admin) makes it a genesis participant with that role.",
        epilog="example: consortium keygen --name north-bank --role validator --org north-bank "
        "--out keys/north-bank.key",
    )
    keygen.add_argument("--name", required=True, help="the name the consortium knows the key by")
    keygen.add_argument(
        "--role", required=True, help="validator, host, or a participant role such as org_admin"
    )
    keygen.add_argument("--org", required=True, help="the organisation the key belongs to")
    keygen.add_argument("--out", type=Path, required=True, help="the secret key file to write")
    sealed = keygen.add_mutually_exclusive_group()
    sealed.add_argument(
        "--passphrase-env",
        metavar="VAR",
        help="seal the seed under the passphrase in environment variable VAR (Argon2id and "
        "secretbox); loaders read it from CONSORTIUM_KEY_PASSPHRASE or ask for it",
    )
    sealed.add_argument(
        "--passphrase",
        action="store_true",
        help="seal the seed under a passphrase asked for on the terminal",
    )
    keygen.set_defaults(run=_run)


def valid_roles() -> list[str]:
    """The roles a key may have: validator, host, an organisation admin, or a role a workflow
    of the ruleset enrols."""
    from consortium.key_file import HOST_ROLE, VALIDATOR_ROLE
    from consortium.rules.payments import ADMIN
    from consortium.rules.rulebook import RULESET

    return sorted({VALIDATOR_ROLE, HOST_ROLE, ADMIN, *RULESET.roles})


def _run(args: argparse.Namespace) -> int:
    from consortium.commands import CommandError
    from consortium.key_file import write_key_pair

    roles = valid_roles()
    if args.role not in roles:
        raise CommandError(f"--role {args.role!r} is not a role; use one of: {', '.join(roles)}")
    public, identity = write_key_pair(
        args.out, args.name, args.role, args.org, _passphrase(args)
    )
    print(f"wrote {args.out} (secret, mode 0600) and {public}")
    print(f"public key: {identity.public_key.hex()}")
    return 0


def _passphrase(args: argparse.Namespace) -> str | None:
    import getpass
    import os

    from consortium.commands import CommandError

    if args.passphrase_env is not None:
        value = os.environ.get(args.passphrase_env)
        if not value:
            raise CommandError(f"--passphrase-env {args.passphrase_env}: that variable is unset")
        return value
    if not args.passphrase:
        return None
    first = getpass.getpass("passphrase for the new key: ")
    if first != getpass.getpass("the same passphrase again: "):
        raise CommandError("the two passphrases differ; run keygen again")
    return first
