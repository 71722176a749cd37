"""What every command shares: consoles, options generated from the settings declarations,
logging, and the one place that turns a user's mistake (a `UserError`, schemas/failures.py)
into a line on stderr and exit 2."""

from __future__ import annotations

import functools
import inspect
import logging
from typing import Any, Callable, TypeVar

import typer
from annotated_types import Ge, Gt, Le, Lt
from pydantic import ValidationError
from rich.console import Console
from rich.markup import escape

from sceneline.schemas.failures import UserError
from sceneline.schemas.settings import SettingsGroup

out = Console()
err = Console(stderr=True)
T = TypeVar("T")

JsonOut = typer.Option(False, "--json", help="Print one machine-readable JSON document.")
Verbose = typer.Option(False, "--verbose", "-v")
# Beam's own flags pass only in an explicit form, so a mistyped sceneline option fails instead
# of reaching Beam unseen: `--beam-arg NAME=VALUE` (repeatable), or after `--`.
BeamArgs = typer.Option(None, "--beam-arg", metavar="NAME=VALUE",
                        help="A flag for Beam itself, e.g. --beam-arg direct_num_workers=2 (repeatable; "
                             "or put Beam flags after `--`).")


def option(group: type[SettingsGroup], name: str, **overrides: Any) -> Any:
    """The Typer option of a declared setting: its flag, default, bounds, help and environment
    variable all come from the declaration (schemas/settings.py)."""
    info = group.model_fields[name]
    dashed = "--" + group.flag(name).replace("_", "-")
    extra = info.json_schema_extra or {}
    bounds: dict[str, Any] = {}
    for rule in info.metadata:
        if isinstance(rule, Ge):
            bounds["min"] = rule.ge
        elif isinstance(rule, Gt) and info.annotation is int:
            bounds["min"] = rule.gt + 1
        elif isinstance(rule, (Le, Lt)):
            bounds["max"] = rule.le if isinstance(rule, Le) else rule.lt
    if info.annotation not in (int, float):
        bounds = {}  # Typer checks bounds on numbers; the rest are pydantic's to check
    decls = [f"{dashed}/--no-{dashed[2:]}"] if info.annotation is bool and info.default else [dashed]
    settings = {"envvar": extra.get("envvar"), "help": info.description, **bounds, **overrides}
    default = settings.pop("default", info.get_default(call_default_factory=True))
    return typer.Option(default, *decls, **settings)


Declared = tuple[type[SettingsGroup], str]


def declared(group: type[SettingsGroup], *names: str) -> tuple[Declared, ...]:
    return tuple((group, name) for name in names)


def with_options(*settings: Declared) -> Callable[[Callable[..., T]], Callable[..., T]]:
    """Give a command the options of these declared settings (see `option`) after its own
    parameters. The command takes them as `**settings`, so commands that run the same chain
    (index, stream, serve) list those options once, in the sets below, instead of each repeating
    the same twenty parameters."""

    def wrap(command: Callable[..., T]) -> Callable[..., T]:
        own = [p for p in inspect.signature(command, eval_str=True).parameters.values()
               if p.kind is not inspect.Parameter.VAR_KEYWORD]
        added = [inspect.Parameter(name, inspect.Parameter.KEYWORD_ONLY, default=option(group, name),
                                   annotation=group.model_fields[name].annotation) for group, name in settings]

        @functools.wraps(command)
        def run(**kwargs: Any) -> T:
            return command(**kwargs)

        # Typer reads the signature (and the type hints) to build the options; --help lists them
        # in its order: the command's arguments, the shared options, then its own options.
        arguments = [p for p in own if isinstance(p.default, typer.models.ArgumentInfo)]
        options = [p.replace(kind=inspect.Parameter.KEYWORD_ONLY) for p in own if p not in arguments]
        ordered = [*arguments, *added, *options]
        run.__signature__ = inspect.Signature(ordered)  # type: ignore[attr-defined]
        run.__annotations__ = {p.name: p.annotation for p in ordered}
        return run

    return wrap


def configure_logging(verbose: bool) -> None:
    logging.basicConfig(level=logging.INFO if verbose else logging.WARNING,
                        format="%(levelname)s %(name)s: %(message)s")
    if not verbose:  # Beam and google-auth are chatty about things users cannot change
        for name in ("apache_beam", "absl", "google.auth"):
            logging.getLogger(name).setLevel(logging.ERROR)


def fail(exc: BaseException) -> None:
    # soft_wrap: one line, however long, so it can be read and grepped whole.
    err.print(f"[bold red]error:[/] {escape(str(exc))}", highlight=False, soft_wrap=True)
    raise typer.Exit(code=2)


def run_guarded(fn: Callable[..., T], *args: Any, **kwargs: Any) -> T:
    """Run a command's work: a user error becomes one line and exit 2; store clients are closed."""
    # qdrant-client takes seconds to import: it loads when a command runs, not for --help.
    from sceneline.transforms.store.scene_store import close_shared_clients

    try:
        return fn(*args, **kwargs)
    except UserError as exc:  # only declared user errors; anything else is a bug with its traceback
        fail(exc)
    finally:
        close_shared_clients()


def split_beam_flags(args: list[str] | None, beam_args: list[str] | None) -> tuple[list[str], list[str]]:
    """(inputs, Beam flags): flags given after `--` arrive among the arguments, `--beam-arg
    NAME=VALUE` ones as their own list."""
    args = list(args or [])
    flags = [a for a in args if a.startswith("--")]
    for given in beam_args or []:
        name, sep, value = given.lstrip("-").partition("=")
        if not name:
            fail(UserError(f"--beam-arg {given!r} is not NAME=VALUE (e.g. direct_num_workers=2)"))
        flags.append(f"--{name}={value}" if sep else f"--{name}")
    return [a for a in args if not a.startswith("--")], flags


def settings_argv(values: dict[str, Any], *groups: type[SettingsGroup]) -> list[str]:
    """The Beam flags of the settings a command was given (its keyword arguments); a value the
    declaration refuses is the user's to fix."""
    try:
        return [flag for group in groups for flag in group.pick(values).argv()]
    except ValidationError as exc:
        error = exc.errors()[0]
        fail(UserError(f"--{str(error['loc'][0]).replace('_', '-')}: {error['msg']}"))
