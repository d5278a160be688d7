"""`tongban staff …`: console accounts for hall staff and supervisors.

Passwords are never taken as arguments (they would sit in shell history and `ps`): they are
prompted for twice, or read from standard input with `--password-stdin` for scripts.
"""

from __future__ import annotations

import sys
from typing import Annotated

import typer

from tongban.memory.models import StaffRole

staff_app = typer.Typer(help="Staff console accounts", no_args_is_help=True)


def _store():  # type: ignore[no-untyped-def]
    from tongban.memory.store import Store

    try:
        return Store.from_settings()
    except ValueError as exc:
        typer.secho(f"配置错误: {exc}", fg=typer.colors.RED, err=True)
        raise typer.Exit(2) from exc


@staff_app.command("add")
def add(
    username: Annotated[str, typer.Argument(help="sign-in name")],
    role: Annotated[str, typer.Option(help="staff or supervisor")] = "staff",
    hall: Annotated[str | None, typer.Option(help="the hall this person works in")] = None,
    department: Annotated[str | None, typer.Option(help="their department (e.g. 公安局)")] = None,
    display_name: Annotated[str | None, typer.Option("--display-name", help="shown to residents")] = None,
    password_stdin: Annotated[bool, typer.Option("--password-stdin", help="read the password from stdin")] = False,
) -> None:
    """Create a console account."""
    from tongban.memory import staff

    if role not in (StaffRole.STAFF, StaffRole.SUPERVISOR):
        typer.secho("--role 只能是 staff 或 supervisor", fg=typer.colors.RED, err=True)
        raise typer.Exit(2)
    if password_stdin:
        password = sys.stdin.readline().rstrip("\r\n")
    else:
        password = typer.prompt("密码", hide_input=True, confirmation_prompt="再次输入密码")
    store = _store()
    store.migrate()
    try:
        with store.session(actor="cli:staff") as session:
            account = staff.add_staff(session, username=username, password=password, role=role,
                                      display_name=display_name, hall=hall, department=department)
            summary = f"已创建账号 {account.username}（{account.role}{'，' + account.hall if account.hall else ''}）"
    except staff.StaffError as exc:
        typer.secho(str(exc), fg=typer.colors.RED, err=True)
        raise typer.Exit(1) from exc
    typer.echo(summary)


@staff_app.command("deactivate")
def deactivate(username: Annotated[str, typer.Argument()]) -> None:
    """Disable an account; its open sessions end at once."""
    from tongban.memory import staff

    store = _store()
    with store.session(actor="cli:staff") as session:
        account = staff.set_active(session, username, False)
    if account is None:
        typer.secho(f"没有账号 {username}", fg=typer.colors.RED, err=True)
        raise typer.Exit(1)
    typer.echo(f"已停用 {username}")


@staff_app.command("scope")
def scope(
    username: Annotated[str, typer.Argument()],
    hall: Annotated[list[str] | None, typer.Option(help="a further hall this account sees (repeat for more)")] = None,
    department: Annotated[list[str] | None, typer.Option(help="a further department (repeat for more)")] = None,
) -> None:
    """Set what an account sees beyond its own hall and department (none given: only its own)."""
    from tongban.memory import staff

    store = _store()
    store.migrate()
    try:
        with store.session(actor="cli:staff") as session:
            account = staff.set_scope(session, username, halls=hall or [], departments=department or [])
            shown = staff.scope_of(account).as_dict() if account is not None else None
    except staff.StaffError as exc:
        typer.secho(str(exc), fg=typer.colors.RED, err=True)
        raise typer.Exit(1) from exc
    if shown is None:
        typer.secho(f"没有账号 {username}", fg=typer.colors.RED, err=True)
        raise typer.Exit(1)
    everything = "（全省）" if shown["everything"] else ""
    typer.echo(f"{username} 可见：大厅 {'、'.join(shown['halls']) or '—'}；部门 {'、'.join(shown['departments']) or '—'}{everything}")
