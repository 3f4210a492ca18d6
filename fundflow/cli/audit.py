"""``fundflow audit``: the signing key, checkpoints, and the whole-state verification."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from fundflow.cli.common import fail, guarded, load_settings, now, parse_moment, services

audit_app = typer.Typer(help="审计：签名密钥、检查点与全量校验", no_args_is_help=True)


@audit_app.command("keygen")
def audit_keygen(
    out: Annotated[Path | None, typer.Argument(help="私钥文件（默认 FUNDFLOW_SIGNING_KEY_FILE）")] = None,
) -> None:
    """Write a new Ed25519 signing key (mode 0600) and its public key (FILE.pub); print the key id."""
    from fundflow.service.integrity.keys import generate

    path = out or load_settings().signing_key_file
    if path is None:
        fail("请指定私钥文件，或设置 FUNDFLOW_SIGNING_KEY_FILE")
    with guarded():
        signer = generate(path)
    typer.echo(f"private key: {path} (keep it off the database server; back it up offline)")
    typer.echo(f"public key:  {path}.pub (enough to verify checkpoints)")
    typer.echo(f"key id:      {signer.key_id}")


@audit_app.command("checkpoint")
def audit_checkpoint(
    at: Annotated[str | None, typer.Option("--now", help="时刻（ISO 格式，不带时区按北京时间；默认当前时间）")] = None,
    adopt_legacy: Annotated[
        bool, typer.Option("--adopt-legacy", help="先为启用密钥前写入的事件加封（仅首次启用时）")
    ] = False,
) -> None:
    """Sign a checkpoint over the events not yet covered (whatever the interval); print it."""
    from fundflow.service.integrity.checkpoints import seal_legacy, write_checkpoint

    with services() as svc:
        if svc.signer is None:
            fail("未配置签名密钥（FUNDFLOW_SIGNING_KEY_FILE）")
        if adopt_legacy:
            typer.echo(f"{seal_legacy(svc)} event(s) from before the key sealed", err=True)
        cp = write_checkpoint(svc, parse_moment(at) if at else now(), force=True)
    typer.echo(f"checkpoint {cp.number}: events 1-{cp.upto}, head {cp.head}" if cp else "no new events", err=True)


@audit_app.command("verify")
def audit_verify(
    public_key: Annotated[Path | None, typer.Option("--public-key", help="公钥文件（默认取自签名密钥）")] = None,
    witness: Annotated[list[Path] | None, typer.Option("--witness", help="外部留存的检查点副本（可多次指定）")] = None,
    no_files: Annotated[bool, typer.Option("--no-files", help="不校验材料文件的 sha256")] = False,
) -> None:
    """Verify the whole state: chains, seals, rows against their events, document files, ledgers,
    signed checkpoints and their copies. One line per finding (kind, case, where); exit 1 on any."""
    from fundflow.service.integrity.keys import load_verifier
    from fundflow.service.integrity.verify import verify_state

    with services() as svc:
        settings = svc.settings
        verifier = load_verifier(public_key or settings.public_key_file, settings.signing_key_file)
        with svc.sessions() as session:
            report = verify_state(
                session, settings, signer=svc.signer, verifier=verifier, witness=witness or (), files=not no_files
            )
    for f in report.findings:
        typer.echo(str(f))
    for note in report.notes:
        typer.echo(f"note: {note}", err=True)
    typer.echo(report.summary(), err=True)
    raise typer.Exit(0 if report.ok else 1)
