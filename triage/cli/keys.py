"""`triage keys show|list|trust|untrust|recipient add|remove`: the keys that sign and encrypt batches, and the
homes whose watchlist packages this one receives."""

from __future__ import annotations

from typing import Annotated

import typer
from rich.text import Text

from triage.cli.common import HomeOpt, JsonOpt, OfficerOpt, emit_json, officer_of, open_store, out


def register(app: typer.Typer) -> None:
    group = typer.Typer(
        help="This laptop's batch keys, the laptops and watchlist issuers it trusts, and the recipients it encrypts to.",
        no_args_is_help=True,
    )
    group.command("show")(show)
    group.command("list")(list_cmd)
    group.command("trust")(trust)
    group.command("untrust")(untrust)
    recipient = typer.Typer(help="Who this laptop's batches are encrypted to.", no_args_is_help=True)
    recipient.command("add")(recipient_add)
    recipient.command("remove")(recipient_remove)
    group.add_typer(recipient, name="recipient")
    app.add_typer(group, name="keys")


def show(officer: OfficerOpt = None, home: HomeOpt = None, json_out: JsonOpt = False) -> None:
    """This laptop's public keys: give the signing key to the supervisor who imports its batches, and the
    age recipient to the laptops that send batches here. They are made on first use.

    Example: triage keys show
    """
    from triage.exchange import keys

    store = open_store(home)
    view = keys.own(store, officer=officer_of(store, officer)).public_view()
    if json_out:
        emit_json(view)
        return
    out.print(f"Device            {view['device']}", markup=False)
    out.print(f"Signing key       {view['signing_key']}", markup=False)
    out.print(f"  fingerprint     {view['fingerprint']}", markup=False)
    out.print("                  (read it back when the key is trusted elsewhere)", markup=False)
    out.print(f"Age recipient     {view['age_recipient']}", markup=False)


def list_cmd(home: HomeOpt = None, json_out: JsonOpt = False) -> None:
    """Trusted laptops (whose batches this home imports), watchlist issuers (whose packages it receives) and
    batch recipients (whom its exports are for).

    Example: triage keys list --json
    """
    from triage.exchange import keys

    store = open_store(home)
    listed = keys.listed(store)
    if json_out:
        emit_json(
            {
                "trusted_laptops": listed[keys.SIGNER],
                "watchlist_issuers": listed[keys.ISSUER],
                "recipients": listed[keys.RECIPIENT],
            }
        )
        return
    # One block per key rather than a table: a key and its fingerprint, read aloud to check, are never split.
    blocks = [
        [
            f"{keys.ROLE_WORDS[role]}: {r['name']}",
            *([f"  fingerprint  {r['fingerprint']}"] if r.get("fingerprint") else []),
            f"  key          {r['public']}",
            f"  added        {r['added_at']} by {r['officer']}",
        ]
        for role, rows in listed.items()
        for r in rows
    ]
    if not blocks:
        out.print("No trusted laptops, watchlist issuers or recipients yet.", markup=False)
    for block in blocks:
        for line in block:
            out.print(Text(line))


IssuerOpt = Annotated[
    bool,
    typer.Option(
        "--issuer",
        help="A home that issues watchlist packages (a force intelligence unit, a supervisor), not a laptop's batches.",
    ),
]


def trust(
    name: str = typer.Argument(..., help="Whose key, e.g. 'Laptop 2 Dover' or 'Kent Intelligence Unit'."),
    public_key: str = typer.Argument(..., help="Its signing key (ed25519:...) from `triage keys show`."),
    issuer: IssuerOpt = False,
    officer: OfficerOpt = None,
    home: HomeOpt = None,
    json_out: JsonOpt = False,
) -> None:
    """Accept batches signed by a laptop, or with --issuer watchlist packages signed by an issuing home. Read
    the fingerprint back to its officer before trusting it. The two are kept apart: a laptop trusted for its
    batches cannot issue a watchlist here, and an issuer's key signs no batch that is imported here.

    Examples:

      triage keys trust "Laptop 2 Dover" ed25519:3q2+7w...

      triage keys trust "Kent Intelligence Unit" ed25519:Jm9r... --issuer
    """
    from triage.exchange import keys

    store = open_store(home)
    role = keys.ISSUER if issuer else keys.SIGNER
    row = keys.trust(store, name, public_key, officer=officer_of(store, officer), role=role)
    if json_out:
        emit_json(dict(row))
    else:
        what = "watchlist packages" if issuer else "batches"
        out.print(f"Trusted {row['name']} for its {what}: fingerprint {row['fingerprint']}.", markup=False)
        if row.get("also"):
            other = "watchlist packages" if row["also"][0] == keys.ISSUER else "batches"
            out.print(f"The same key is also trusted for its {other}, as {row['also'][1]}.", markup=False)


def untrust(
    name: str = typer.Argument(..., help="The trusted laptop's or issuer's name."),
    issuer: IssuerOpt = False,
    officer: OfficerOpt = None,
    home: HomeOpt = None,
) -> None:
    """Stop accepting a laptop's batches, or with --issuer an issuer's watchlist packages (what was merged or
    received stays).

    Example: triage keys untrust "Laptop 2 Dover"
    """
    from triage.exchange import keys

    store = open_store(home)
    name = keys.remove(store, keys.ISSUER if issuer else keys.SIGNER, name, officer=officer_of(store, officer))
    out.print(f"{name} is no longer trusted {'to issue watchlists' if issuer else 'for its batches'}.", markup=False)


def recipient_add(
    name: str = typer.Argument(..., help="Whose key, e.g. 'Supervisor DS 4411 Clarke'."),
    public_key: str = typer.Argument(..., help="Their age public key (age1...), from `triage keys show`."),
    officer: OfficerOpt = None,
    home: HomeOpt = None,
    json_out: JsonOpt = False,
) -> None:
    """Encrypt this laptop's batches to this key from now on (as well as to any others listed).

    Example: triage keys recipient add "Supervisor Dover" age1ql3z7hjy54pw3hyww5ayyfg7zqgvc7w3j2elw8zmrj2kg5sfn9aqmcac8p
    """
    from triage.exchange import keys

    store = open_store(home)
    row = keys.add_recipient(store, name, public_key, officer=officer_of(store, officer))
    if json_out:
        emit_json(row)
    else:
        out.print(
            f"What this home exports (batches, watchlist packages) is encrypted to {row['name']} ({row['public']}) from now on.",
            markup=False,
        )


def recipient_remove(
    name: str = typer.Argument(..., help="The recipient's name."), officer: OfficerOpt = None, home: HomeOpt = None
) -> None:
    """Stop encrypting batches to a recipient. Example: triage keys recipient remove "Supervisor Dover" """
    from triage.exchange import keys

    store = open_store(home)
    keys.remove(store, keys.RECIPIENT, name, officer=officer_of(store, officer))
    out.print(f"Batches are no longer encrypted to {name}.", markup=False)
