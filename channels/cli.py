"""The `tongban` command line: set up data, import catalogs, and talk to the agent."""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Annotated

import typer

from tongban.channels.app import logs
from tongban.channels.console.cli import staff_app
from tongban.memory.pii import install_log_masking

app = typer.Typer(help="通办 tongban — government-service conversational agent", no_args_is_help=True)
catalog_app = typer.Typer(help="Import and export the service catalog", no_args_is_help=True)
app.add_typer(catalog_app, name="catalog")
voice_app = typer.Typer(help="Speech recognition models", no_args_is_help=True)
app.add_typer(voice_app, name="voice")
app.add_typer(staff_app, name="staff")
kb_app = typer.Typer(help="The knowledge base: FAQ sheets and policy documents the agent answers from", no_args_is_help=True)
app.add_typer(kb_app, name="kb")


def _logging(verbose: bool, *, level: str | None = None, fmt: str = "text") -> None:
    """Root logging at `level` (debug with --verbose, else warning), masked, as text or JSON lines."""
    chosen = getattr(logging, (level or ("debug" if verbose else "warning")).upper())
    logging.basicConfig(level=chosen, handlers=[logs.handler(fmt)], force=True)
    for chatty in ("jieba", "bm25s"):  # they log their dictionary loading at DEBUG to stderr
        logging.getLogger(chatty).setLevel(max(chosen, logging.INFO))
    install_log_masking()


def _memory_settings():  # type: ignore[no-untyped-def]
    from tongban.memory.settings import MemorySettings

    try:
        return MemorySettings()
    except ValueError as exc:  # e.g. a default secret in production
        typer.secho(f"配置错误: {exc}", fg=typer.colors.RED, err=True)
        raise typer.Exit(2) from exc


def _store():  # type: ignore[no-untyped-def]
    from tongban.memory.store import Store

    try:
        store = Store.from_settings()
    except ValueError as exc:  # settings validation (e.g. a default secret in production)
        typer.secho(f"配置错误: {exc}", fg=typer.colors.RED, err=True)
        raise typer.Exit(2) from exc
    store.settings.keep_scratch_files_here()
    return store


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


@app.command()
def migrate() -> None:
    """Upgrade the database schema only (the deployment's migration job); loads no demo data."""
    _logging(False)
    store = _store()
    store.migrate()
    typer.echo("数据库结构已是最新")


@app.command()
def retention(
    days: Annotated[int, typer.Option(min=1, help="delete conversations idle this many days")] = 30,
    data_days: Annotated[int, typer.Option(min=1, help="delete messages, transcripts, recordings and the question log older than this")] = 180,
    upload_days: Annotated[int | None, typer.Option(min=1, help="delete uploaded materials older than this (default: TONGBAN_UPLOAD_RETENTION_DAYS, 30)")] = None,
) -> None:
    """Keep storage bounded: prune checkpoints, delete idle threads and old personal data."""
    import datetime as dt

    from tongban.memory.checkpoints import apply_retention, make_checkpointer
    from tongban.memory.clock import system_clock
    from tongban.memory.migrate import is_current
    from tongban.memory.retention import purge_before
    from tongban.memory.uploads import get_upload_settings

    _logging(False)
    store = _store()
    if not is_current(store.engine):
        typer.secho("数据库结构不是最新的：请先运行 tongban migrate", fg=typer.colors.RED, err=True)
        raise typer.Exit(2)
    now = system_clock()
    pruned, deleted = apply_retention(make_checkpointer(store.settings), now=now, idle_days=days)
    typer.echo(f"保留 {pruned} 个会话的最新状态，删除 {deleted} 个闲置超过 {days} 天的会话")
    with store.session(actor="system:retention") as session:
        upload_days = upload_days or get_upload_settings().upload_retention_days
        purged = purge_before(session, store.settings.data_dir, now - dt.timedelta(days=data_days),
                              uploads_before=now - dt.timedelta(days=upload_days))
    typer.echo(
        f"删除 {data_days} 天前的数据：消息 {purged.inbound} 条，对话记录 {purged.transcript} 条，"
        f"录音 {purged.recordings} 个，问题记录 {purged.questions} 条；{upload_days} 天前上传的材料 {purged.uploads} 份"
    )


@catalog_app.command("import")
def catalog_import(
    file: Annotated[Path, typer.Argument(exists=True, dir_okay=False, readable=True)],
    kind: Annotated[str, typer.Option(help="items, applications or life_events")] = "items",
) -> None:
    """Import a catalog file (JSON Lines or CSV); bad rows are reported and skipped."""
    from tongban.memory.catalog import import_applications, import_items, read_rows

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
        elif kind == "life_events":
            from tongban.memory.life_events import import_life_events

            report = import_life_events(session, rows)
        else:
            raise typer.BadParameter("kind must be items, applications or life_events")
    for line, error in report.errors:
        typer.secho(f"{file}:{line}: {error}", fg=typer.colors.RED, err=True)
    typer.echo(f"导入 {report.imported} 行，出错 {len(report.errors)} 行")
    if report.errors:
        raise typer.Exit(1)


@kb_app.command("import")
def kb_import(
    files: Annotated[list[Path], typer.Argument(exists=True, dir_okay=False, readable=True,
                                                help=".xlsx .csv .jsonl .pdf .docx .md .html .txt")],
) -> None:
    """Import FAQ sheets and documents; bad rows are reported by line and skipped, and the index
    is brought up to date (only new or changed texts are embedded)."""
    import time

    from tongban.memory.knowledge import save_source
    from tongban.tools.kb.files import UnreadableFile, read_file
    from tongban.tools.kb.index import get_knowledge

    _logging(False)
    store = _store()
    store.migrate()
    failed = False
    for file in files:
        try:
            parsed = read_file(file)
        except UnreadableFile as exc:
            typer.secho(f"{file}: {exc}", fg=typer.colors.RED, err=True)
            failed = True
            continue
        with store.session(actor="cli:kb-import") as session:
            report = save_source(session, name=file.name, kind=parsed.kind, sha256=parsed.sha256,
                                 entries=parsed.entries, errors=parsed.errors, lines=parsed.lines)
        for line, error in report.errors:
            typer.secho(f"{file}:{line}: {error}", fg=typer.colors.RED, err=True)
        failed = failed or bool(report.errors)
        typer.echo(f"{file.name}: {report.stored} 条（新增 {report.added}，更新 {report.changed}，未变 {report.unchanged}，"
                   f"删除 {report.removed}），出错 {len(report.errors)} 行")
    started = time.perf_counter()
    knowledge = get_knowledge(store)
    knowledge.refresh(force=True)
    typer.echo(f"知识库索引：{len(knowledge)} 条，本次嵌入 {knowledge.embedder.embedded} 段，"
               f"用时 {time.perf_counter() - started:.1f} 秒")
    if failed:
        raise typer.Exit(1)


@kb_app.command("list")
def kb_list() -> None:
    """The imported files and how many entries each holds."""
    from tongban.memory.knowledge import list_sources

    _logging(False)
    store = _store()
    store.migrate()
    with store.read_session() as session:
        sources = list_sources(session)
    for s in sources:
        typer.echo(f"{s['name']}\t{s['kind']}\t{s['entries']} 条\t{s['imported_at'][:19]}\t{s['sha256'][:12]}")
    typer.echo(f"共 {len(sources)} 个文件，{sum(s['entries'] for s in sources)} 条")


@kb_app.command("remove")
def kb_remove(names: Annotated[list[str], typer.Argument(help="file names as `tongban kb list` shows them")]) -> None:
    """Remove imported files and their entries from the knowledge base."""
    from tongban.memory.knowledge import remove_source

    _logging(False)
    store = _store()
    store.migrate()
    missing = False
    with store.session(actor="cli:kb-remove") as session:
        for name in names:
            removed = remove_source(session, name)
            if removed < 0:
                typer.secho(f"没有名为 {name} 的知识库文件", fg=typer.colors.RED, err=True)
                missing = True
            else:
                typer.echo(f"已删除 {name}：{removed} 条")
    if missing:
        raise typer.Exit(1)


@catalog_app.command("export")
def catalog_export(file: Annotated[Path, typer.Argument(dir_okay=False)]) -> None:
    """Export the catalog to JSON Lines or CSV (by the file's extension)."""
    from tongban.memory.catalog import export_items

    store = _store()
    with store.session(actor="cli:catalog-export") as session:
        count = export_items(session, file)
    typer.echo(f"导出 {count} 项到 {file}")


@app.command()
def serve(
    host: Annotated[str | None, typer.Option(help="listen address (default TONGBAN_HOST or 127.0.0.1)")] = None,
    port: Annotated[int | None, typer.Option(help="port (default TONGBAN_PORT or 8080)")] = None,
    log_level: Annotated[str, typer.Option(envvar="TONGBAN_LOG_LEVEL", help="debug, info, warning or error")] = "warning",
    log_format: Annotated[str, typer.Option(envvar="TONGBAN_LOG_FORMAT", help="text, or json (one object a line, for log collectors)")] = "text",
    workers: Annotated[int, typer.Option(envvar="TONGBAN_WORKERS", help="server processes sharing the port, one per core (PostgreSQL only)")] = 1,
    shared_port: Annotated[bool, typer.Option(hidden=True)] = False,
) -> None:
    """Run the server: web chat at /, WeChat webhooks, mini-program API, health and metrics."""
    from aiohttp import web
    from sqlalchemy.engine import make_url

    from tongban.channels.app.server import create_app
    from tongban.channels.app.settings import development_secrets, get_channel_settings, loopback
    from tongban.channels.app.workers import others, refusal
    from tongban.memory.settings import DEV_SECRET
    from tongban.tools.settings import ToolsSettings

    if log_level.lower() not in logs.LEVELS or log_format.lower() not in logs.FORMATS:
        raise typer.BadParameter(f"--log-level is one of {', '.join(logs.LEVELS)}; --log-format one of {', '.join(logs.FORMATS)}")
    _logging(False, level=log_level.lower(), fmt=log_format.lower())
    logging.getLogger("aiohttp.access").setLevel(logging.INFO)
    try:
        settings = get_channel_settings()
    except ValueError as exc:
        typer.secho(f"配置错误: {exc}", fg=typer.colors.RED, err=True)
        raise typer.Exit(2) from exc
    host, port = host or settings.host, port or settings.port
    settings = settings.model_copy(update={"host": host, "port": port})  # links built from them follow the flags
    memory = _memory_settings()
    if why := refusal(workers, make_url(memory.url).get_backend_name()):
        typer.secho(f"拒绝启动: {why}", fg=typer.colors.RED, err=True)
        raise typer.Exit(2)
    published = development_secrets(settings, memory.secret_key.get_secret_value(), DEV_SECRET)
    if published and not loopback(host):
        typer.secho(f"拒绝启动: 监听 {host} 可从网络访问，但 {'、'.join(published)} 仍是公开的开发默认值。"
                    "请设置随机密钥（如 python -c 'import secrets; print(secrets.token_urlsafe(32))'），"
                    "或只监听 127.0.0.1。", fg=typer.colors.RED, err=True)
        raise typer.Exit(2)
    memory.keep_scratch_files_here()
    for progress in ("tongban.tools.index_progress", "tongban.channels.app.server"):  # index build, ready after N s
        logging.getLogger(progress).setLevel(logging.INFO)
    first = not any(ToolsSettings().resolved_index_dir(memory).glob("*/meta.json"))
    if not shared_port:
        typer.echo(f"通办 tongban 正在启动: http://{host}:{port}/" + ("（首次启动需建立检索索引，约半分钟；页面会显示进度）" if first else "")
                   + (f"（{workers} 个服务进程）" if workers > 1 else ""))
    worker = ["serve", "--host", host, "--port", str(port), "--log-level", log_level, "--log-format", log_format,
              "--workers", "1", "--shared-port"]
    with others(worker, workers - 1, host=host, port=port):
        web.run_app(create_app(settings, load_in_background=True), host=host, port=port, shutdown_timeout=30,
                    print=None, reuse_port=workers > 1 or shared_port)


@app.command()
def chat(
    user: Annotated[str, typer.Option(help="the resident's id on the web channel")] = "cli-user",
    name: Annotated[str | None, typer.Option(help="verified name (实名)")] = None,
    phone: Annotated[str | None, typer.Option(help="verified phone")] = None,
    id_number: Annotated[str | None, typer.Option("--id-number", help="verified ID number")] = None,
    now: Annotated[str | None, typer.Option(help="the agent's clock, e.g. 2026-11-24T09:30:00+08:00")] = None,
    llm: Annotated[bool, typer.Option("--llm", help="use the configured language model")] = False,
) -> None:
    """Talk to the agent in the terminal (empty line or Ctrl-D to leave)."""
    import datetime as dt

    from tongban.agent.messages import Inbound
    from tongban.agent.service import make_agent
    from tongban.memory.clock import system_clock
    from tongban.memory.pii import InvalidIdentifier
    from tongban.memory.residents import Identity

    _logging(False)
    store = _store()
    store.initialise()
    fixed = dt.datetime.fromisoformat(now) if now else None
    try:
        identity = Identity(name=name, phone=phone, id_number=id_number) if (name or phone or id_number) else None
    except InvalidIdentifier as exc:
        raise typer.BadParameter(str(exc)) from exc
    agent = make_agent(store, clock=(lambda: fixed) if fixed else system_clock, brain="llm" if llm else "offline")
    typer.echo("通办 tongban — 请输入您的问题（空行退出）")
    while True:
        try:
            text = input("> ").strip()
        except EOFError:
            break
        if not text:
            break
        reply = agent.respond_sync(Inbound(channel="web", user_id=user, text=text, at=fixed, identity=identity))
        label = "【AI生成】" if reply.ai_generated else ""
        typer.echo(f"{label}{reply.text}" if reply.text else "（已转人工，请等待工作人员回复）")
        if reply.quick_replies:
            typer.echo("  可回复：" + " | ".join(reply.quick_replies))


@app.command("eval")
def eval_(
    file: Annotated[Path, typer.Argument(help="conversation cases, JSON Lines (see the eval format)")],
    json_path: Annotated[Path | None, typer.Option("--json", help="write per-turn results here")] = None,
    min_pass: Annotated[float | None, typer.Option("--min-pass", help="exit 1 below this pass rate")] = None,
    llm: Annotated[bool, typer.Option("--llm", help="use the configured language model")] = False,
    catalog: Annotated[list[Path] | None, typer.Option(
        "--catalog", help="run on the items of this catalog file instead of the demo items (repeatable)"
    )] = None,
    kb: Annotated[list[Path] | None, typer.Option("--kb", help="knowledge-base file to load for every case (repeatable)")] = None,
) -> None:
    """Run scripted conversations through the real agent and score what it did."""
    from tongban.agent.evaluation import main_cli

    _logging(False)
    raise typer.Exit(main_cli(file, json_path, min_pass, llm, catalogs=tuple(catalog or ()), kb=kb))


@app.command()
def lookup(
    question: Annotated[str, typer.Argument(help="a resident's question")],
    k: Annotated[int, typer.Option("-k", help="how many results")] = 5,
    city: Annotated[str | None, typer.Option(help="only items handled in this city")] = None,
) -> None:
    """Find the service items for a question, with scores and timing."""
    from tongban.tools.services import lookup as run_lookup

    _logging(False)
    store = _store()
    store.initialise()
    result = run_lookup(store, question, k, city)
    for rank, hit in enumerate(result.hits, start=1):
        typer.echo(f"{rank}. {hit.name}  [{hit.code}] {hit.department}  score={hit.score:.3f}")
        typer.echo(f"   依据：{'、'.join(hit.legal_basis[:2])}")
        typer.echo(f"   匹配：{hit.passage[:80]}")
    typer.echo(f"({result.elapsed_ms:.1f} ms)")


@voice_app.command("models")
def voice_models(
    target: Annotated[Path, typer.Argument(help="directory to download into (one folder per model)")],
    only: Annotated[str | None, typer.Option(help="comma-separated: sensevoice,paraformer-zh,fsmn-vad,ct-punc")] = None,
    verify: Annotated[bool, typer.Option(help="load each model from disk afterwards")] = True,
) -> None:
    """Download the production speech models on a machine with internet, for offline servers."""
    from tongban.voice.models import MODELS, download_models

    names = tuple(n.strip() for n in only.split(",")) if only else tuple(MODELS)
    unknown = [n for n in names if n not in MODELS]
    if unknown:
        raise typer.BadParameter(f"unknown model(s): {', '.join(unknown)}; choose from {', '.join(MODELS)}")
    for name, path in download_models(target, names, verify=verify).items():
        typer.echo(f"{name}: {path}")
    typer.echo("Set TONGBAN_VOICE_MODEL_DIR (and _MANDARIN_DIR, _VAD_DIR, _PUNC_DIR) to these folders.")


def main() -> None:
    app()


if __name__ == "__main__":
    main()
