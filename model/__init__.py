"""China–US competition for defence ties in Latin America and the Caribbean: the Mesa model.

The package never imports Hydra or OmegaConf: entry points turn configs into the frozen parameter objects of
:mod:`model.params` and call :func:`model.run.simulate`.
"""

import hashlib
import logging
import os
import sys
from pathlib import Path

# Mesa logs every step at INFO (Mesa 3.3.1, model._wrapped_step): far too chatty for ensembles of thousands of runs.
logging.getLogger("MESA").setLevel(logging.WARNING)

PACKAGE = Path(__file__).resolve().parent


def kernel_cache_dir(package: Path = PACKAGE) -> Path:
    """Where numba caches the compiled kernels: a folder per version of the package's sources.

    numba refreshes a cached function when its own file changes, not when a function it calls in another module does
    (a kernel in ``arms.py`` keeps the old ``rules.race_pick`` after ``rules.py`` alone changes: measured, docs/ODD.md
    §10.34), so a checkout that changes one module could run stale code. Keying the cache by every source file's
    bytes makes any change start a fresh cache.
    """
    digest = hashlib.sha256()
    for path in sorted(package.glob("*.py")):
        digest.update(path.name.encode() + b"\0" + path.read_bytes())
    return package.parent / ".numba_cache" / digest.hexdigest()[:16]


# Before numba is imported by the kernels (a user's own NUMBA_CACHE_DIR is kept); numba reads it at import.
if "NUMBA_CACHE_DIR" not in os.environ:
    os.environ["NUMBA_CACHE_DIR"] = str(kernel_cache_dir())
    if "numba" in sys.modules:
        from numba.core.config import reload_config

        reload_config()
