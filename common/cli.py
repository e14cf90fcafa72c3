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


def precheck(config_name: str, validate: Callable[[Mapping], object], argv: list[str] | None = None) -> None:
    """Compose ``config_name`` with the command line's overrides and run ``validate`` on it; exit 2 on any problem."""
    args = sys.argv[1:] if argv is None else argv
    if any(a in ("-m", "--multirun", "--help", "-h", "--hydra-help", "--info", "-i") or a.startswith("--cfg")
           for a in args):
        return
    overrides = [a for a in args if not a.startswith("-") and not a.lstrip("+~").startswith("hydra")]
    try:
        with initialize_config_dir(config_dir=str(CONFIG_DIR), version_base="1.3"):
            cfg = compose(config_name=config_name, overrides=overrides)
        validate(OmegaConf.to_container(cfg, resolve=True))
    except ConfigError as exc:
        fail(str(exc))
    except (OverrideParseException, MissingConfigException, HydraException, OmegaConfBaseException) as exc:
        fail(_describe(exc, config_name))


def entry(config_name: str, module: str) -> Callable[[], None]:
    """The Hydra entry of a command: compose ``config_name`` with the command line, call ``module``'s ``command``.

    The module is imported when the command runs, so listing every entry in a package's ``cli`` costs nothing.
    """

    def run(cfg: DictConfig) -> None:
        importlib.import_module(module).command(cfg)

    # Hydra names the job (its --help title, its logs) after the task function's module: the command's, not this one.
    run.__module__ = module
    return hydra.main(version_base="1.3", config_path=str(CONFIG_DIR), config_name=config_name)(run)
