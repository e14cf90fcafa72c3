"""``python -m experiments.gather FOLDER [FOLDER ...] --out DIR``: one Parquet dataset per table of many forecasts.

A multirun (``python -m experiments.forecast -m forecast.draws=100,500 ...``) leaves one work folder per job under
``forecast.out_root``. Given those folders, or any folders above them (searched recursively; a work folder is one whose
``manifest.json``, or ``tables/manifest.json``, has a ``forecast`` entry), this concatenates each table the jobs
wrote (``tables/<name>.parquet``) into ``DIR/<name>/``, a Parquet dataset with one part per job, read back whole with
``pandas.read_parquet(DIR/<name>)`` or lazily with ``pyarrow.dataset``. Every row gets a ``job`` column (the work
folder's name, the hash of its inputs) and one column per config key whose value differs between the jobs (the
flattened ``config`` of the manifests, e.g. ``forecast.draws``; lists as JSON text), so the jobs' overrides can be
grouped on directly. ``DIR/jobs.parquet`` lists the jobs, their folders and those values.

Jobs are read one at a time (memory stays at one job's table). Each dataset is written into a temporary folder inside
``DIR`` and renamed into place, so a failure never leaves a half-written dataset. Errors are one line on stderr, exit
status 2: a folder that does not exist, no work folder found, a work folder without tables, an unwritable ``DIR``.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import sys
import tempfile
from collections.abc import Mapping, Sequence
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq

from common.cli import fail

MANIFEST = "manifest.json"
TABLES = "tables"
JOB = "job"
ALLOWED = "forecast work folders or folders containing them (each with manifest.json and tables/*.parquet)"


class GatherError(Exception):
    """A one-line problem with the inputs or the output folder."""


def read_manifest(folder: Path) -> dict | None:
    """The manifest of a forecast work folder (``manifest.json``, else ``tables/manifest.json``); ``None`` when
    ``folder`` is not one.

    Raises:
        GatherError: the manifest exists but is not a JSON object.
    """
    path = next((p for p in (folder / MANIFEST, folder / TABLES / MANIFEST) if p.is_file()), None)
    if path is None:
        return None
    try:
        record = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise GatherError(f"{path}: unreadable manifest ({' '.join(str(exc).split())}); allowed: {ALLOWED}") from None
    if not isinstance(record, dict):
        raise GatherError(f"{path}: not a JSON object; allowed: {ALLOWED}")
    return record if "forecast" in record else None


def find_work_folders(folders: Sequence[Path]) -> list[tuple[Path, dict]]:
    """Every forecast work folder at or below ``folders`` with its manifest, sorted by path, each once.

    The search does not descend into a work folder (its ensemble holds thousands of parts) nor into hidden folders.

    Raises:
        GatherError: a folder does not exist, or none holds a work folder.
    """
    found: dict[Path, dict] = {}
    for folder in folders:
        if not folder.is_dir():
            raise GatherError(f"{folder}: not found (or not a folder); allowed: {ALLOWED}")
        for root, dirs, _files in os.walk(folder, followlinks=False):
            here = Path(root)
            record = read_manifest(here)
            if record is not None:
                if here.name == TABLES and not (here / TABLES).is_dir():
                    here = here.parent  # given the tables folder of a work folder whose manifest sits beside them
                found.setdefault(here.resolve(), record)
                dirs.clear()
                continue
            dirs[:] = sorted(d for d in dirs if not d.startswith("."))
    if not found:
        names = ", ".join(str(f) for f in folders)
        raise GatherError(f"{names}: no forecast work folder found (manifest.json with a forecast entry); "
                          f"allowed: {ALLOWED}")
    return sorted(found.items())


def flatten(config: Mapping, prefix: str = "") -> dict[str, object]:
    """A nested config as ``{dotted.key: value}``; lists and other non-mappings are leaves."""
    out: dict[str, object] = {}
    for key, value in config.items():
        name = f"{prefix}{key}"
        if isinstance(value, Mapping) and value:
            out.update(flatten(value, f"{name}."))
        else:
            out[name] = value
    return out


def _canonical(value: object) -> str:
    return json.dumps(value, sort_keys=True, default=str)


def differing(configs: Sequence[Mapping]) -> dict[str, list[object]]:
    """The flattened keys whose values are not the same in every config (a missing key counts as ``None``).

    Returns:
        ``{key: [value of each config, None where missing]}``, keys sorted.
    """
    flat = [flatten(c) for c in configs]
    keys = sorted(set().union(*flat)) if flat else []
    out = {}
    for key in keys:
        values = [f.get(key) for f in flat]
        if len({_canonical(v) for v in values}) > 1:
            out[key] = values
    return out


def _column(values: Sequence[object]) -> pa.Array:
    """One override's values as an Arrow column: scalars keep their type (ints and floats mix to float), anything
    else (lists, mappings, mixed types) becomes JSON text."""
    kinds = {type(v) for v in values if v is not None}
    if kinds and kinds <= {int, float} and bool not in kinds:
        return pa.array([None if v is None else float(v) for v in values], pa.float64()) if float in kinds \
            else pa.array(values, pa.int64())
    if len(kinds) == 1 and kinds <= {bool, str}:
        return pa.array(values, pa.bool_() if kinds == {bool} else pa.string())
    return pa.array([None if v is None else _canonical(v) for v in values], pa.string())


def _column_name(key: str, taken: set[str]) -> str:
    name = key if key not in taken else f"config.{key}"
    taken.add(name)
    return name


def _tables_of(folder: Path) -> dict[str, Path]:
    return {p.stem: p for p in sorted((folder / TABLES).glob("*.parquet")) if not p.name.startswith(".")}


def gather(folders: Sequence[Path], out: Path) -> dict[str, Path]:
    """Concatenate the tables of every work folder found under ``folders`` into ``out/<table>/`` datasets.

    Args:
        folders: work folders, or folders to search for them.
        out: the output folder (created if missing); existing datasets of the same names are replaced.

    Returns:
        ``{table name: dataset folder}`` in name order, plus ``"jobs"``: ``out/jobs.parquet``.

    Raises:
        GatherError: see the module docstring; nothing is written before the inputs are checked.
        OSError: ``out`` cannot be written.
    """
    found = find_work_folders(folders)
    jobs: list[tuple[str, Path, dict]] = []
    names_seen: dict[str, Path] = {}
    for path, record in found:
        key = path.name
        if key in names_seen:
            # The name is the hash of everything that changes the results: a second folder of that name (a copy
            # elsewhere) holds the same job.
            print(f"gather: {path} repeats job {key} of {names_seen[key]}; using the first", file=sys.stderr)
            continue
        names_seen[key] = path
        jobs.append((key, path, record))
    tables = {key: _tables_of(path) for key, path, _ in jobs}
    for key, path, _ in jobs:
        if not tables[key]:
            raise GatherError(f"{path}: no {TABLES}/*.parquet; allowed: {ALLOWED} (a forecast still running or "
                              f"killed writes its tables when rerun)")
    overrides = differing([r.get("config") or {} for _, _, r in jobs])
    names = sorted(set().union(*(t.keys() for t in tables.values())))

    try:
        out.mkdir(parents=True, exist_ok=True)
        tmp = Path(tempfile.mkdtemp(prefix=".gather-", dir=out))
    except OSError as exc:
        raise GatherError(_unwritable(out, exc)) from None
    try:
        written = {}
        for name in names:
            _write_dataset(name, jobs, tables, overrides, tmp / name)
        job_columns = {JOB: pa.array([k for k, _, _ in jobs], pa.string()),
                       "folder": pa.array([str(p) for _, p, _ in jobs], pa.string()),
                       "code_version": pa.array([str(r.get("code_version", "")) for _, _, r in jobs], pa.string())}
        taken = set(job_columns)
        for key, values in overrides.items():
            job_columns[_column_name(key, taken)] = _column(values)
        pq.write_table(pa.table(job_columns), tmp / "jobs.parquet")
        for name in names:
            written[name] = _replace(tmp / name, out / name)
        written["jobs"] = _replace(tmp / "jobs.parquet", out / "jobs.parquet")
        return written
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


def _write_dataset(name: str, jobs: Sequence[tuple[str, Path, dict]], tables: Mapping[str, Mapping[str, Path]],
                   overrides: Mapping[str, list], folder: Path) -> None:
    """One part per job that has the table, all with one schema: the union of the jobs' columns (missing ones null),
    then ``job`` and the override columns."""
    have = [(i, key) for i, (key, _, _) in enumerate(jobs) if name in tables[key]]
    schemas = [_read(tables[key][name], pq.read_schema).remove_metadata() for _, key in have]
    base = pa.unify_schemas(schemas, promote_options="permissive")
    taken = set(base.names) | {JOB}
    extra = {_column_name(key, taken): _column(values) for key, values in overrides.items()}
    schema = base
    if JOB in base.names:
        raise GatherError(f"{tables[have[0][1]][name]}: has a {JOB!r} column already; allowed: forecast tables")
    schema = schema.append(pa.field(JOB, pa.string()))
    for col, arr in extra.items():
        schema = schema.append(pa.field(col, arr.type))
    folder.mkdir(parents=True)
    for part, (i, key) in enumerate(have):
        table = _read(tables[key][name], pq.read_table).replace_schema_metadata(None)
        n = table.num_rows
        columns = [table[f.name].cast(f.type) if f.name in table.column_names else pa.nulls(n, f.type) for f in base]
        columns.append(pa.array([key] * n, pa.string()))
        columns += [pa.repeat(arr[i], n) if arr[i].is_valid else pa.nulls(n, arr.type) for arr in extra.values()]
        pq.write_table(pa.Table.from_arrays(columns, schema=schema), folder / f"part-{part:05d}.parquet",
                       compression="zstd")


def _read(path: Path, reader):
    """``reader(path)``, a GatherError naming the file when it is not readable Parquet."""
    try:
        return reader(path)
    except (OSError, pa.ArrowException) as exc:
        first = (str(exc).strip().splitlines() or [type(exc).__name__])[0]
        raise GatherError(f"{path}: not a readable Parquet file ({first}); allowed: {ALLOWED}") from None


def _unwritable(out: Path, exc: OSError) -> str:
    return (f"--out: cannot write {out} ({exc.strerror or type(exc).__name__}: {exc.filename or out}); "
            f"allowed: a writable folder")


def _replace(src: Path, dst: Path) -> Path:
    """Move ``src`` to ``dst``, replacing what is there; a folder is swapped with a rename on each side."""
    if dst.is_dir() and not dst.is_symlink():
        old = dst.with_name(f".{dst.name}.old-{os.getpid()}")
        os.replace(dst, old)
        os.replace(src, dst)
        shutil.rmtree(old, ignore_errors=True)
    else:
        os.replace(src, dst)
    return dst


def main(argv: list[str] | None = None) -> None:
    """Command line: gather, then print each dataset written with its rows and jobs."""
    parser = argparse.ArgumentParser(prog="python -m experiments.gather", description=__doc__.splitlines()[0])
    parser.add_argument("folders", nargs="+", type=Path, help="forecast work folders, or folders containing them")
    parser.add_argument("--out", type=Path, required=True, help="folder for one Parquet dataset per table")
    args = parser.parse_args(argv)
    try:
        written = gather(args.folders, args.out)
    except GatherError as exc:
        fail(str(exc))
    except OSError as exc:  # writing into --out after it was created (a full disk, a folder in the way)
        fail(_unwritable(args.out, exc))
    jobs = pq.read_metadata(written["jobs"]).num_rows
    for name, path in written.items():
        if name != "jobs":
            rows = sum(pq.read_metadata(p).num_rows for p in sorted(path.glob("*.parquet")))
            print(f"{path}: {rows} rows")
    print(f"{written['jobs']}: {jobs} jobs")


if __name__ == "__main__":
    main()
