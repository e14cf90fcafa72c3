"""One-line errors for command-line mistakes that Hydra itself would report over several lines.

Before a Hydra entry point runs, :func:`precheck` composes the same config with the same overrides through Hydra's
compose API and validates it; a bad override, an unknown config option, a wrong type or an out-of-range value ends the
process with ``error: <key>: <problem>; allowed: ...`` on stderr and exit status 2, before any output is written.
Multirun sweeps (``-m``) are validated job by job inside the entry point instead. :func:`entry` builds the Hydra entry
of a command over its module's plain ``command`` function (the packages' ``cli`` modules list theirs).
"""

from __future__ import annotations

import importlib
import os
import re
import sys
import traceback
from collections.abc import Callable, Mapping
from pathlib import Path

import hydra
from hydra import compose, initialize_config_dir
from hydra.errors import HydraException, MissingConfigException, OverrideParseException
from omegaconf import DictConfig, OmegaConf
from omegaconf.errors import OmegaConfBaseException

from model.params import ConfigError

CONFIG_DIR = Path(__file__).resolve().parent.parent / "configs"
EXIT_BAD_INPUT = 2


DEBUG_ENV = "LACDEF_DEBUG"


def fail(message: str) -> None:
    """Print ``error: message`` (one line) and exit with status 2; with LACDEF_DEBUG=1, the traceback first."""
    if os.environ.get(DEBUG_ENV) == "1" and sys.exc_info()[0] is not None:
        traceback.print_exc()
    print(f"error: {' '.join(message.split())}", file=sys.stderr)
    sys.exit(EXIT_BAD_INPUT)


def _known_keys(config_name: str, dotted: str) -> str:
    """The keys next to ``dotted`` in the config without overrides, for an 'unknown key' message."""
    with initialize_config_dir(config_dir=str(CONFIG_DIR), version_base="1.3"):
        node = OmegaConf.to_container(compose(config_name=config_name), resolve=False)
    for part in dotted.split(".")[:-1]:
        node = node.get(part) if isinstance(node, dict) else None
    return ", ".join(node) if isinstance(node, dict) and node else "none (not a mapping)"


def _describe(exc: Exception, config_name: str) -> str:
    text = str(exc)
    if isinstance(exc, MissingConfigException) and exc.missing_cfg_file:
        group, _, name = exc.missing_cfg_file.rpartition("/")
        options = ", ".join(exc.options or [])
        return f"{group or 'config'}: {name!r} is not a known option; allowed: {options}"
    match = re.search(r"Could not override '([^']+)'", text)
    if match:
        cause = str(exc.__cause__ or "").splitlines()[0] if exc.__cause__ else ""
        if "not in struct" in cause or "append to your config" in text:
            return f"{match.group(1)}: unknown key; allowed: {_known_keys(config_name, match.group(1))}"
        return f"{match.group(1)}: {cause or text.splitlines()[0]}"
    if isinstance(exc, OverrideParseException):
        return f"{text.splitlines()[0]}; allowed: key=value overrides of configs/ (see README)"
    return text.splitlines()[0]


# Hydra's flags that take a value (``--config-dir DIR``, ``-cd DIR`` or ``--config-dir=DIR``).
VALUE_FLAGS = {"--config-dir": "config_dir", "-cd": "config_dir", "--config-path": "config_path",
               "-cp": "config_path", "--config-name": "config_name", "-cn": "config_name",
               "--experimental-rerun": "rerun"}


def split_args(args: list[str]) -> tuple[list[str], dict[str, str]]:
    """The command line's overrides (``key=value``) and the values of Hydra's flags that take one."""
    overrides, flags = [], {}
    i = 0
    while i < len(args):
        arg = args[i]
        flag, eq, value = arg.partition("=")
        if flag in VALUE_FLAGS:
            if not eq:
                i += 1
                value = args[i] if i < len(args) else ""
            flags[VALUE_FLAGS[flag]] = value
        elif not arg.startswith("-"):
            overrides.append(arg)
        i += 1
    return overrides, flags


def config_dirs(args: list[str] | None = None) -> list[Path]:
    """The user's config folders of the command line (``--config-dir``, ``hydra.searchpath=[...]``), searched after
    ``configs/``: a folder holding ``scenario/<name>.yaml`` adds scenarios from outside the repository.

    Raises:
        ConfigError: a named folder does not exist.
    """
    overrides, flags = split_args(sys.argv[1:] if args is None else args)
    found = [flags["config_dir"]] if flags.get("config_dir") is not None else []
    for o in overrides:
        key, _, value = o.lstrip("+~").partition("=")
        if key == "hydra.searchpath":
            found += [v.strip().strip("'\"") for v in value.strip("[]").split(",") if v.strip()]
    dirs = []
    for text in found:
        path = Path(text.removeprefix("file://")).expanduser()
        if not path.is_dir():
            key = "--config-dir" if text == flags.get("config_dir") else "hydra.searchpath"
            raise ConfigError(f"{key}: {text!r} is not a folder; allowed: a folder holding scenario/<name>.yaml "
                              "(or other config groups) to add to configs/")
        dirs.append(path.resolve())
    return dirs


def searchpath_override(dirs: list[Path]) -> list[str]:
    """The compose API's override adding ``dirs`` to the config search path (none without ``dirs``)."""
    return [f"hydra.searchpath=[{','.join(f'file://{d}' for d in dirs)}]"] if dirs else []


def _yaml_error(exc: BaseException) -> str | None:
    """``FILE:LINE:COL: what is wrong`` for a YAML syntax error anywhere in the exception's chain."""
    seen = exc
    while seen is not None:
        mark = getattr(seen, "problem_mark", None)
        if mark is not None:
            problem = getattr(seen, "problem", None) or str(seen).splitlines()[0]
            context = getattr(seen, "context", None)
            return f"{mark.name}:{mark.line + 1}:{mark.column + 1}: {problem}" + (f" ({context})" if context else "")
        seen = seen.__cause__ or seen.__context__
    return None


def flags_first(args: list[str]) -> list[str]:
    """``args`` with Hydra's flags (and their values) before the overrides: Hydra's argument parser takes the
    overrides as one positional list, so ``key=value --config-dir DIR key=value`` would leave the last ones
    unrecognised."""
    flags, rest = [], []
    i = 0
    while i < len(args):
        arg = args[i]
        if arg.startswith("-"):
            flags.append(arg)
            if arg in VALUE_FLAGS and i + 1 < len(args):
                i += 1
                flags.append(args[i])
        else:
            rest.append(arg)
        i += 1
    return flags + rest


def precheck(config_name: str, validate: Callable[[Mapping], object], argv: list[str] | None = None) -> None:
    """Compose ``config_name`` with the command line's overrides and run ``validate`` on it; exit 2 on any problem.

    Without ``argv``, it checks ``sys.argv`` and puts Hydra's flags first in it (:func:`flags_first`) for the entry
    point that runs next.
    """
    if argv is None:
        sys.argv[1:] = flags_first(sys.argv[1:])
    args = sys.argv[1:] if argv is None else argv
    if any(a in ("-m", "--multirun", "--help", "-h", "--hydra-help", "--info", "-i") or a.startswith("--cfg")
           for a in args):
        return
    given, _ = split_args(args)
    overrides = [a for a in given if not a.lstrip("+~").startswith("hydra")]
    try:
        with initialize_config_dir(config_dir=str(CONFIG_DIR), version_base="1.3"):
            cfg = compose(config_name=config_name, overrides=overrides + searchpath_override(config_dirs(args)))
        validate(OmegaConf.to_container(cfg, resolve=True))
    except ConfigError as exc:
        fail(str(exc))
    except (OverrideParseException, MissingConfigException, HydraException, OmegaConfBaseException) as exc:
        fail(_yaml_error(exc) or _describe(exc, config_name))
    except Exception as exc:  # a YAML syntax error surfaces as the parser's own exception
        message = _yaml_error(exc)
        if message is None:
            raise
        fail(message)


def entry(config_name: str, module: str) -> Callable[[], None]:
    """The Hydra entry of a command: compose ``config_name`` with the command line, call ``module``'s ``command``.

    The module is imported when the command runs, so listing every entry in a package's ``cli`` costs nothing.
    """

    def run(cfg: DictConfig) -> None:
        importlib.import_module(module).command(cfg)

    # Hydra names the job (its --help title, its logs) after the task function's module: the command's, not this one.
    run.__module__ = module
    return hydra.main(version_base="1.3", config_path=str(CONFIG_DIR), config_name=config_name)(run)
