"""The `tongban` command line: set up data, import catalogs, and talk to the agent."""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Annotated

import typer

from memory.pii import install_log_masking

app = typer.Typer(help="通办 tongban — government-service conversational agent", no_args_is_help=True)
catalog_app = typer.Typer(help="Import and export the service catalog", no_args_is_help=True)
app.add_typer(catalog_app, name="catalog")


def _logging(verbose: bool) -> None:
    logging.basicConfig(
        level=logging.DEBUG if verbose else logging.WARNING,
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
    )
    install_log_masking()


def _store():  # type: ignore[no-untyped-def]
    from memory.store import Store

    try:
        return Store.from_settings()
    except ValueError as exc:  # settings validation (e.g. a default secret in production)
        typer.secho(f"配置错误: {exc}", fg=typer.colors.RED, err=True)
        raise typer.Exit(2) from exc


@app.command()
def init(verbose: Annotated[bool, typer.Option("--verbose", "-v")] = False) -> None:
    """Create the database, run migrations and load the demo data (idempotent)."""
    _logging(verbose)
    store = _store()
    summary = store.initialise()
    typer.echo(
        f"数据库已就绪: {store.engine.url.render_as_string(hide_password=True)}\n"
        f"事项 {summary['items']} 项, 大厅 {summary['halls']} 个, 办件 {summary['applications']} 件, "
        f"新增预约时段 {summary['slots']} 个"
    )


@catalog_app.command("import")
def catalog_import(
    file: Annotated[Path, typer.Argument(exists=True, dir_okay=False, readable=True)],
    kind: Annotated[str, typer.Option(help="items or applications")] = "items",
) -> None:
    """Import a catalog file (JSON Lines or CSV); bad rows are reported and skipped."""
    from memory.catalog import import_applications, import_items, read_rows

    _logging(False)
    store = _store()
    store.migrate()
    with store.session(actor="cli:catalog-import") as session:
        try:
            rows = list(read_rows(file))
        except ValueError as exc:
            typer.secho(str(exc), fg=typer.colors.RED, err=True)
            raise typer.Exit(2) from exc
        if kind == "items":
            report = import_items(session, rows)
        elif kind == "applications":
            report = import_applications(session, store.vault, rows)
        else:
            raise typer.BadParameter("kind must be items or applications")
    for line, error in report.errors:
        typer.secho(f"{file}:{line}: {error}", fg=typer.colors.RED, err=True)
    typer.echo(f"导入 {report.imported} 行，出错 {len(report.errors)} 行")
    if report.errors:
        raise typer.Exit(1)


@catalog_app.command("export")
def catalog_export(file: Annotated[Path, typer.Argument(dir_okay=False)]) -> None:
    """Export the catalog to JSON Lines or CSV (by the file's extension)."""
    from memory.catalog import export_items

    store = _store()
    with store.session(actor="cli:catalog-export") as session:
        count = export_items(session, file)
    typer.echo(f"导出 {count} 项到 {file}")


def main() -> None:
    app()


if __name__ == "__main__":
    main()
