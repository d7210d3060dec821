"""The ``initlab`` command: one thin command per job.

Exit codes: 0 success, 1 a run failed at run time, 2 bad input. Errors go to stderr
as one sentence; the traceback only with ``--verbose``.
"""

from __future__ import annotations

import contextlib
import functools
import json
import sys
import time
from pathlib import Path
from typing import Annotated, Any, NoReturn

import typer
from rich.console import Console
from rich.markup import escape
from rich.table import Table

import initlab

try:  # typer >= 0.25 vendors click; older releases use click itself
    from typer._click import exceptions as click_errors
except ImportError:  # pragma: no cover - depends on the typer release
    from click import exceptions as click_errors  # type: ignore[no-redef]
from initlab.study.spec import StudySpec, default_inits, split_entries

EXIT_OK = 0
EXIT_RUNTIME = 1
EXIT_BAD_INPUT = 2

app = typer.Typer(
    help="Neural-network weight initialization: the Keras catalog, reproducible "
    "seeds, diagnostics and multi-seed studies.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)
console = Console()
err_console = Console(stderr=True)
_state = {"verbose": False}


class BadInput(Exception):
    """Raised by command code for input that the user must fix (exit code 2)."""


def fail(message: str, code: int = EXIT_BAD_INPUT) -> NoReturn:
    """Print one sentence to stderr and exit with ``code``.

    The message is escaped: it often quotes user input, and text such as ``[/x]``
    would otherwise be read as rich markup (and crash on an unmatched tag).
    """
    err_console.print(
        f"[red]error:[/red] {escape(str(message))}", highlight=False, soft_wrap=True
    )
    raise typer.Exit(code)


def guarded(code: int = EXIT_BAD_INPUT):
    """Turn known input errors raised inside the block into ``fail``."""

    class _Guard:
        def __enter__(self):
            return self

        def __exit__(self, kind, exc, tb):
            if exc is None or isinstance(exc, (typer.Exit, KeyboardInterrupt)):
                return False
            if isinstance(exc, (BadInput, ValueError, TypeError, KeyError)):
                if _state["verbose"]:  # the traceback, then the same exit code
                    import traceback

                    traceback.print_exception(kind, exc, tb, file=sys.stderr)
                message = exc.args[0] if isinstance(exc, KeyError) and exc.args else exc
                fail(str(message), code)
            return False

    return _Guard()


def _version_callback(value: bool) -> None:
    if value:
        console.print(f"initlab {initlab.__version__}")
        raise typer.Exit()


@app.callback()
def _main(
    version: Annotated[
        bool,
        typer.Option(
            "--version",
            callback=_version_callback,
            is_eager=True,
            help="Print the version and exit.",
        ),
    ] = False,
    verbose: Annotated[
        bool, typer.Option("--verbose", help="Show tracebacks on errors.")
    ] = False,
    imports: Annotated[
        list[str] | None,
        typer.Option(
            "--import",
            metavar="MODULE",
            help="Import a Python module first (repeatable), e.g. one whose "
            "@initlab.register initializers you want to use by name. Also "
            "read from INITLAB_IMPORT (comma-separated).",
        ),
    ] = None,
) -> None:
    _state["verbose"] = verbose
    from initlab._plugins import import_plugins

    with guarded():
        import_plugins(imports)


def parse_initializer(text: str) -> initlab.Initializer:
    """A name (``he_normal``) or a config as JSON (``{"class_name": ...}``)."""
    text = text.strip()
    if text.startswith("{"):
        try:
            config = json.loads(text)
        except json.JSONDecodeError as exc:
            raise BadInput(
                f"Invalid initializer config JSON {text!r}: {exc.msg}."
            ) from None
        return initlab.deserialize(config)
    return initlab.get(text)


def parse_shape(text: str) -> tuple[int, ...]:
    """``"512,256"`` -> ``(512, 256)``; ``""`` or ``"()"`` -> ``()``."""
    stripped = text.strip().strip("()[]").strip()
    if not stripped:
        return ()
    dims = []
    for part in stripped.split(","):
        part = part.strip()
        if not (part.isascii() and part.isdigit()):  # not '²' or other digits
            raise BadInput(
                f"Malformed --shape {text!r}: {part!r} is not a non-negative integer. "
                "Accepted: comma-separated non-negative integers, e.g. 512,256."
            )
        dims.append(int(part))
    return tuple(dims)


# ----------------------------------------------------------------------------- list


@app.command("list")
def list_command(
    as_json: Annotated[bool, typer.Option("--json", help="Print JSON.")] = False,
) -> None:
    """List every initializer with its aliases and formula."""
    entries = initlab.catalog(include_extras=True)
    if as_json:
        print(json.dumps(entries, indent=2))
        return
    table = Table(title="initlab catalog")
    for column in ("name", "class_name", "aliases", "formula"):
        table.add_column(column, overflow="fold")  # never cut a name short
    for entry in entries:
        table.add_row(
            entry["name"] + ("" if entry["keras"] else " *"),
            entry["class_name"],
            ", ".join(entry["aliases"]),
            entry["formula"],
        )
    console.print(table)
    console.print("* beyond Keras's catalog: Keras cannot load these configs.")


# --------------------------------------------------------------------------- sample


def sample_summary(
    init: initlab.Initializer,
    name: str,
    shape: tuple[int, ...],
    layout: str,
    dtype: str,
    seed: int | None,
) -> dict[str, Any]:
    """Draw one array and summarize it against what the initializer promises."""
    import numpy as np

    if seed is not None and init.random:
        config = init.get_config()
        config["seed"] = seed
        init = type(init).from_config(config)
    values = init(shape, dtype, layout=layout)
    stats = init.statistics(shape, layout)
    wide = values.astype(np.float64)
    empty = wide.size == 0
    bounds = stats["bounds"]
    return {
        "name": name,
        "class_name": type(init).__name__,
        "config": init.get_config(),
        "shape": list(shape),
        "layout": layout,
        "dtype": str(values.dtype),
        "seed": seed,
        "fan_in": stats["fan_in"],
        "fan_out": stats["fan_out"],
        "expected_mean": stats["expected_mean"],
        "expected_std": stats["expected_std"],
        "bounds": list(bounds) if bounds is not None else None,
        "mean": None if empty else float(wide.mean()),
        "std": None if empty else float(wide.std()),
        "min": None if empty else float(wide.min()),
        "max": None if empty else float(wide.max()),
        "stream_version": initlab.STREAM_VERSION,
        "_values": wide,
        "_init": init,  # the initializer that drew them, seed applied
    }


@app.command("sample")
def sample_command(
    name: Annotated[
        str, typer.Argument(help="Initializer name, alias, or config as JSON.")
    ],
    shape: Annotated[
        str, typer.Option("--shape", help="Comma-separated shape, e.g. 512,256.")
    ],
    layout: Annotated[
        str, typer.Option("--layout", help="keras (in, out) or torch (out, in).")
    ] = "keras",
    seed: Annotated[
        str | None,
        typer.Option(
            "--seed",
            help="Seed of the draw (non-negative). Default: the config's own "
            "seed, else 0.",
            metavar="INTEGER",
        ),
    ] = None,
    dtype: Annotated[
        str, typer.Option("--dtype", help="float16, bfloat16, float32 or float64.")
    ] = "float32",
    as_json: Annotated[
        bool, typer.Option("--json", help="Print one JSON object.")
    ] = False,
    plot: Annotated[
        Path | None, typer.Option("--plot", help="Write a histogram PNG.")
    ] = None,
) -> None:
    """Draw one weight tensor and compare its statistics with the formula."""
    with guarded():
        init = parse_initializer(name)
        dims = parse_shape(shape)
        if layout not in ("keras", "torch"):
            raise BadInput(f"Invalid --layout {layout!r}. Accepted: keras, torch.")
        if seed is None:  # a config's own int seed, else 0
            seed = getattr(init, "seed", None)
            seed = 0 if seed is None else seed
        else:  # parsed here: typer's own int error does not show the value
            try:
                seed = int(seed)
            except ValueError:
                raise BadInput(
                    f"Invalid --seed {seed!r}: it must be a non-negative integer."
                ) from None
        if seed < 0:
            raise BadInput(f"Invalid --seed {seed}: it must be a non-negative integer.")
        summary = sample_summary(
            init, initlab.canonical_name(init), dims, layout, dtype, seed
        )
    values, drawn = summary.pop("_values"), summary.pop("_init")
    if plot is not None:
        from initlab.plots import sample_histogram

        with guarded(EXIT_RUNTIME):
            try:
                sample_histogram(values, drawn, summary, plot)
            except (ImportError, OSError) as exc:
                if _state["verbose"]:
                    raise
                if isinstance(exc, ImportError):
                    fail(
                        f"--plot needs matplotlib ({exc}); install initlab[plot].",
                        EXIT_RUNTIME,
                    )
                fail(
                    f"Cannot write the histogram to {str(plot)!r}: "
                    f"{exc.strerror or exc}.",
                    EXIT_RUNTIME,
                )
    if as_json:
        print(json.dumps(summary))
        return
    table = Table(
        title=f"{summary['name']} {tuple(dims)} ({layout} layout, {summary['dtype']})"
    )
    table.add_column("quantity")
    table.add_column("value", justify="right")
    for key in (
        "fan_in",
        "fan_out",
        "expected_mean",
        "expected_std",
        "bounds",
        "mean",
        "std",
        "min",
        "max",
    ):
        value = summary[key]
        if isinstance(value, float):
            value = f"{value:.6g}"
        elif isinstance(value, list):
            value = f"[{value[0]:.6g}, {value[1]:.6g}]"
        table.add_row(key, str(value))
    console.print(table)
    if plot is not None:
        console.print(f"histogram written to {plot}")


# ---------------------------------------------------------------------------- study


def parse_study_seed(text: str) -> int | str:
    """``"7"`` -> 7; ``"random"`` stays ``"random"`` (drawn when the spec is built)."""
    text = text.strip()
    if text == "random":
        return text
    if not text.isdigit():
        raise BadInput(
            f"Invalid --seed {text!r}. Accepted: a non-negative integer or 'random'."
        )
    return int(text)


def parse_inits(text: str | None) -> tuple[Any, ...]:
    """``--inits`` text -> entries: names as given, JSON configs as initializers."""
    if text is None:
        return default_inits()
    entries: list[Any] = []
    for entry in split_entries(text):
        if not entry.startswith("{"):
            entries.append(entry)  # a name or policy, resolved by StudySpec
            continue
        try:
            entries.append(parse_initializer(entry))
        except ValueError as exc:
            raise BadInput(f"Invalid --inits entry {entry!r}: {exc}") from None
    return tuple(entries)


def _study_table(cells: list[Any], title: str) -> Table:
    from rich import box

    from initlab.study.report import ranked_rows

    header, rows = ranked_rows(cells, compact=True)
    table = Table(
        title=title,
        box=box.SIMPLE_HEAD,
        collapse_padding=True,
        pad_edge=False,
        show_edge=False,
        caption="n: seeds in the statistics; div: diverged runs, excluded; "
        "± std: sample standard deviation over seeds (ddof=1), not the "
        "standard error; 95% CI: Student t interval of the mean; vs best: "
        "paired t-test on common seeds, Holm-corrected, p < 0.05 (n.s.: "
        "indistinguishable). "
        "Undefined (n/a) below 2 seeds. More in report.html.",
    )
    # The init names must stay readable however narrow the terminal: they get the
    # width they need (folding only past 28 characters); other columns give way.
    position = header.index("init") if "init" in header else -1
    widest = max((len(str(row[position])) for row in rows), default=4)
    for index, column in enumerate(header):
        if index == position:
            table.add_column(column, overflow="fold", min_width=min(widest, 28))
        else:
            table.add_column(column, justify="right", no_wrap=True)
    for row in rows:
        table.add_row(*row)
    return table


#: The study flags that take text (checked by initlab.study.grid.parse_flag); a
#: comma-separated list in a grid key's flag makes it a grid dimension.
_STUDY_TEXT_FLAGS = (
    "dataset",
    "model",
    "inits",
    "seed",
    "epochs",
    "depth",
    "width",
    "activation",
    "optimizer",
    "lr",
    "momentum",
    "batch_size",
    "vary",
    "label_column",
    "labels",
)


@app.command("study")
def study_command(
    spec_file: Annotated[
        Path | None,
        typer.Argument(
            help="A spec file (TOML, or JSON) describing the study: its keys are the "
            "flags' names (batch_size for --batch-size); flags override them.",
            show_default=False,
        ),
    ] = None,
    dataset: Annotated[
        str | None,
        typer.Option(
            help="digits, mnist1d, breast_cancer, wine, iris, or the path of a data "
            "file (.npz with x and y, .csv, MNIST-format IDX). Default: digits.",
            show_default=False,
        ),
    ] = None,
    model: Annotated[
        str | None,
        typer.Option(help="mlp, cnn or lstm. Default: mlp.", show_default=False),
    ] = None,
    inits: Annotated[
        str | None,
        typer.Option(
            help="Comma-separated initializer names or JSON configs, or the policies "
            "keras, torch, lsuv. Default: the 15 catalog initializers."
        ),
    ] = None,
    seeds: Annotated[
        int | None,
        typer.Option(help="Seeds per init entry. Default: 10.", show_default=False),
    ] = None,
    seed: Annotated[
        str | None,
        typer.Option(
            help="First run seed (runs use S..S+N-1), or 'random'. Default: 0.",
            show_default=False,
        ),
    ] = None,
    epochs: Annotated[
        str | None,
        typer.Option(help="Training epochs per run. Default: 20.", show_default=False),
    ] = None,
    out: Annotated[
        Path | None,
        typer.Option(
            help="Output folder. Default: runs/<dataset>-<model>-<spec hash>."
        ),
    ] = None,
    depth: Annotated[
        str | None,
        typer.Option(
            help="Hidden layers (mlp), convolution blocks (cnn) or LSTM layers. "
            "Default: the model's (mlp 2, cnn 2, lstm 1).",
            show_default=False,
        ),
    ] = None,
    width: Annotated[
        str | None,
        typer.Option(
            help="Units, filters or LSTM units per layer. Default: the model's "
            "(mlp 64, cnn 32, lstm 64).",
            show_default=False,
        ),
    ] = None,
    activation: Annotated[
        str | None,
        typer.Option(
            help="relu, tanh, sigmoid, selu, gelu or linear. Default: relu.",
            show_default=False,
        ),
    ] = None,
    optimizer: Annotated[
        str | None, typer.Option(help="sgd or adam. Default: adam.", show_default=False)
    ] = None,
    lr: Annotated[
        str | None,
        typer.Option(help="Learning rate. Default: 0.003.", show_default=False),
    ] = None,
    momentum: Annotated[
        str | None,
        typer.Option(help="SGD momentum (sgd only). Default: 0.", show_default=False),
    ] = None,
    batch_size: Annotated[
        str | None,
        typer.Option(help="Examples per step. Default: 32.", show_default=False),
    ] = None,
    split_seed: Annotated[
        int | None,
        typer.Option(
            help="Seed of the stratified 80/20 train/test split. Default: 0.",
            show_default=False,
        ),
    ] = None,
    vary: Annotated[
        str | None,
        typer.Option(
            help="What the seeds vary: init (the weights; the data order is fixed), "
            "order (the data order; the weights are fixed) or both. Default: both.",
            show_default=False,
        ),
    ] = None,
    label_column: Annotated[
        str | None,
        typer.Option(
            help="The label column of a CSV dataset. Default: label.",
            show_default=False,
        ),
    ] = None,
    labels: Annotated[
        str | None,
        typer.Option(
            help="The labels file of an IDX dataset. Default: the one next to it.",
            show_default=False,
        ),
    ] = None,
    replay: Annotated[
        str | None,
        typer.Option(
            help="Re-run the run RUN_ID of the study in --from into --out, from its "
            "recorded settings and seeds.",
            metavar="RUN_ID",
            show_default=False,
        ),
    ] = None,
    from_dir: Annotated[
        Path | None,
        typer.Option(
            "--from", help="The study folder of --replay.", show_default=False
        ),
    ] = None,
    workers: Annotated[
        int | None,
        typer.Option(
            help="Training processes (or Ray tasks) at once. Default: the CPU count "
            "(a small study trains in this process).",
            show_default=False,
        ),
    ] = None,
    batched: Annotated[
        bool,
        typer.Option(
            "--batched",
            help="Train the seeds of each grid cell as one batched model "
            "(torch.func.vmap): several times faster, equal to sequential runs "
            "within a tolerance (docs/study.md).",
        ),
    ] = False,
    executor: Annotated[
        str,
        typer.Option(help="Where runs train: local (this machine's processes) or ray."),
    ] = "local",
    address: Annotated[
        str | None,
        typer.Option(
            help="With --executor ray: the cluster's address. Default: a local Ray "
            "instance.",
            show_default=False,
        ),
    ] = None,
    threads: Annotated[
        int,
        typer.Option(
            help="torch threads per run, pinned in every process that trains; results "
            "are bitwise reproducible at a given count."
        ),
    ] = 1,
    quiet: Annotated[
        bool,
        typer.Option(
            "--quiet",
            help="For scripts: no progress bar, no table, no summary; "
            "print nothing but errors.",
        ),
    ] = False,
) -> None:
    """Train every init entry on every seed; rank the entries by test accuracy.

    Writes results.sqlite, summary.csv, report.md, curves.png and report.html into
    --out. Running the same command again skips the runs already done.
    """
    flags = {
        "dataset": dataset,
        "model": model,
        "inits": inits,
        "seed": seed,
        "epochs": epochs,
        "depth": depth,
        "width": width,
        "activation": activation,
        "optimizer": optimizer,
        "lr": lr,
        "momentum": momentum,
        "batch_size": batch_size,
        "vary": vary,
        "label_column": label_column,
        "labels": labels,
        "seeds": seeds,
        "split_seed": split_seed,
        "workers": workers,
    }
    if replay is not None or from_dir is not None:
        given = [f"--{k.replace('_', '-')}" for k, v in flags.items() if v is not None]
        given += [
            flag
            for flag, on in (
                ("--batched", batched),
                ("--executor", executor != "local"),
                ("--address", address is not None),
                ("--threads", threads != 1),
            )
            if on
        ]
        _replay(replay, from_dir, out, spec_file, given, quiet)
        return
    with guarded():
        spec, out, workers, quiet = _study_from(spec_file, flags, out, quiet)
        from initlab.study.runner import run_study, validate_study

        execution = {
            "batched": batched,
            "executor": executor,
            "address": address,
            "threads": threads,
        }
        out_dir, n_workers = validate_study(spec, out, workers, **execution)
        run_study = functools.partial(run_study, **execution)
    seed_note = f"seed {spec.seed}" + (
        f" (drawn at random; --seed {spec.seed} repeats it)" if spec.seed_drawn else ""
    )
    started = time.perf_counter()
    with guarded(EXIT_RUNTIME), _warnings_printed():
        if quiet:
            outcome = run_study(spec, out_dir, workers=n_workers)
        else:
            err_console.print(
                f"study {_describe(spec)}: {len(spec.inits)} init entries x "
                f"{spec.seeds} seeds = {len(spec.runs())} runs, "
                f"{seed_note}, into {out_dir}",
                highlight=False,
            )
            outcome = _run_with_progress(spec, out_dir, n_workers, run_study)
    if not quiet:
        title = (
            f"{_describe(spec, ' / ')}: final test accuracy "
            f"({_epochs_text(spec)} epochs, {spec.seeds} seeds)"
        )
        console.print(_study_table(outcome.cells, title))
        _print_spread(outcome.cells)
        console.print(
            _study_summary_line(outcome, time.perf_counter() - started, seed_note),
            highlight=False,
            soft_wrap=True,
        )
    for run_id, error in outcome.failures:
        err_console.print(f"[red]run {run_id} failed:[/red] {error}", highlight=False)
    if outcome.failures:
        fail(
            f"{len(outcome.failures)} run(s) failed; their errors are in "
            f"{out_dir / 'results.sqlite'}; run the command again to retry them.",
            EXIT_RUNTIME,
        )


@contextlib.contextmanager
def _warnings_printed() -> Any:
    """Print the warnings raised inside the block one line each (``warning: ...``),
    as they come, instead of Python's two-line form."""
    import warnings

    def show(message: Any, category: Any, *args: Any, **kwargs: Any) -> None:
        err_console.print(
            f"[yellow]warning:[/yellow] {escape(str(message))}",
            highlight=False,
            soft_wrap=True,
        )

    with warnings.catch_warnings():
        warnings.simplefilter("default")
        warnings.showwarning = show
        yield


def _study_from(
    spec_file: Path | None, flags: dict[str, Any], out: Path | None, quiet: bool
) -> tuple[Any, Path | None, int | None, bool]:
    """The study a spec file and flags describe (flags win), and the command's own
    settings: (a StudySpec, or a StudyGrid of several cells; out; workers; quiet)."""
    from initlab.study.grid import build_grid, check_value, parse_flag, read_spec_file

    values: dict[str, Any] = {}
    origins: dict[str, str | None] = {}
    if spec_file is not None:
        values = read_spec_file(spec_file)
        origins = dict.fromkeys(values, str(spec_file))
    for key, given in flags.items():
        if given is None:
            continue
        values[key] = (
            parse_flag(key, given)
            if key in _STUDY_TEXT_FLAGS
            else check_value(key, given)
        )
        origins[key] = None
    if out is None and "out" in values:
        out = Path(values["out"])
    workers = values.pop("workers", None)
    quiet = quiet or bool(values.pop("quiet", False))
    values.pop("out", None)
    grid = build_grid(values, origins)
    return (grid.specs[0] if len(grid.specs) == 1 else grid), out, workers, quiet


def _describe(spec: Any, sep: str = "/") -> str:
    """``digits/cnn`` for one cell; the grid's dimensions for a grid."""
    if hasattr(spec, "describe"):
        return (
            spec.describe()
            if spec.dimensions
            else (f"{spec.first.source.name}{sep}{spec.first.model}")
        )
    return f"{spec.source.name}{sep}{spec.model}"


def _epochs_text(spec: Any) -> str:
    values = sorted({cell.epochs for cell in getattr(spec, "specs", (spec,))})
    return ",".join(map(str, values))


def _replay(
    run_id: str | None,
    from_dir: Path | None,
    out: Path | None,
    spec_file: Path | None,
    given: list[str],
    quiet: bool,
) -> None:
    """``initlab study --replay RUN_ID --from DIR --out NEWDIR``."""
    from initlab.study.replay import replay_run

    with guarded():
        if run_id is None or from_dir is None:
            raise BadInput(
                "--replay RUN_ID and --from DIR go together: give both "
                "(and --out NEWDIR)."
            )
        extra = given + ([str(spec_file)] if spec_file is not None else [])
        if extra:
            raise BadInput(
                f"--replay takes its settings from the recorded run; "
                f"drop {', '.join(extra)}. Accepted with --replay: --from, "
                "--out, --quiet."
            )
    with guarded(EXIT_RUNTIME):
        outcome = _at_run_time("The replay", replay_run, from_dir, run_id, out)
    if not quiet:
        console.print(outcome.summary(), highlight=False, soft_wrap=True)
    if not outcome.identical:
        fail(outcome.summary(), EXIT_RUNTIME)


def _print_spread(cells: list[Any]) -> None:
    """After a study run with --vary init/order: the std of the final test accuracy
    over seeds, per init entry and source (variance.csv holds it too)."""
    from initlab.study.variance import SOURCES, spread_table

    if all((cell.settings.get("vary") or "both") == "both" for cell in cells):
        return
    header, rows = spread_table(cells)
    table = Table(
        title="Spread of final test accuracy by source of randomness "
        "(std over seeds, ddof=1)",
        caption="init: only the initial weights "
        "vary; order: only the data order; both: both. See variance.csv.",
    )
    for column in header[: len(header) - 3 * len(SOURCES)]:
        table.add_column(column, overflow="fold")
    for source in SOURCES:
        table.add_column(f"{source} (n)", justify="right", no_wrap=True)
    for row in rows:
        head = row[: len(header) - 3 * len(SOURCES)]
        cols = []
        for index in range(len(SOURCES)):
            std, n, _ = row[len(head) + 3 * index : len(head) + 3 * index + 3]
            cols.append("n/a" if std is None else f"{std:.4f} ({n})")
        table.add_row(*map(str, head), *cols)
    console.print(table)


def _duration(seconds: float) -> str:
    seconds = round(seconds)
    return (
        f"{seconds // 3600}:{seconds // 60 % 60:02d}:{seconds % 60:02d}"
        if seconds >= 60
        else f"{seconds} s"
    )


def _study_summary_line(outcome: Any, seconds: float, seed_note: str) -> str:
    """The one line printed after a study: what the folder holds, what was done."""
    counts = ", ".join(
        f"{outcome.counts[status]} {status}"
        for status in ("finished", "diverged", "failed", "pending", "running")
        if outcome.counts.get(status)
    )
    held = f", {outcome.elsewhere} held by another process" if outcome.elsewhere else ""
    return (
        f"{outcome.total} runs ({counts or 'none done'}) in {_duration(seconds)}: "
        f"trained {outcome.trained} run(s), skipped {outcome.skipped} already "
        f"done{held}; {seed_note}. Results and report.html in {outcome.out}"
    )


def _run_with_progress(
    spec: StudySpec, out_dir: Path, workers: int, run_study: Any
) -> Any:
    from rich.progress import (
        BarColumn,
        MofNCompleteColumn,
        Progress,
        TextColumn,
        TimeElapsedColumn,
        TimeRemainingColumn,
    )

    columns = (
        TextColumn("{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        TextColumn("runs"),
        TimeElapsedColumn(),
        TextColumn("left"),
        TimeRemainingColumn(),
    )
    with Progress(*columns, console=err_console) as bar:
        task = bar.add_task("training", total=None)

        problems: dict[str, int] = {}

        def advance(done: int, total: int, result: Any) -> None:
            if result is None:  # the start: runs already done count as done
                bar.reset(task, total=total, completed=done)
                return
            if result.status in ("diverged", "failed"):
                problems[result.status] = problems.get(result.status, 0) + 1
            note = ", ".join(f"{n} {status}" for status, n in sorted(problems.items()))
            bar.update(
                task,
                completed=done,
                description=f"training ({note})" if note else "training",
            )

        return run_study(spec, out_dir, workers=workers, progress=advance)


@app.command("report")
def report_command(
    folder: Annotated[
        Path,
        typer.Argument(
            help="A study folder (holding results.sqlite).", show_default=False
        ),
    ],
    quiet: Annotated[
        bool, typer.Option("--quiet", help="Print nothing but errors.")
    ] = False,
) -> None:
    """Rebuild a study's report from its results.sqlite, without training.

    Rewrites summary.csv, report.md, curves.png and report.html in FOLDER.
    """
    from initlab.study.report import write_report
    from initlab.study.store import RESULTS_FILE, Store

    path = folder / RESULTS_FILE
    with guarded():
        if not path.is_file():
            raise BadInput(
                f"No study in {str(folder)!r}: {RESULTS_FILE} is missing. "
                "Accepted: a folder written by initlab study."
            )
        Store.check_file(path)
    with guarded(EXIT_RUNTIME), Store(path) as store:
        cells = write_report(store, folder)
    if not quiet:
        console.print(_study_table(cells, f"{folder}: final test accuracy"))
        console.print(
            f"report rebuilt from {path}: {folder / 'report.html'}, "
            "report.md, summary.csv, curves.png",
            highlight=False,
        )


@app.command("best")
def best_command(
    folder: Annotated[
        Path,
        typer.Argument(
            help="A study folder (holding results.sqlite).", show_default=False
        ),
    ],
    out: Annotated[
        Path | None,
        typer.Option(
            help="Where to write spec.toml, spec.json and initial_weights.safetensors. "
            "Default: FOLDER/best.",
            show_default=False,
        ),
    ] = None,
    as_json: Annotated[
        bool, typer.Option("--json", help="Print the result as one JSON object.")
    ] = False,
) -> None:
    """Name the best grid cell and run of a study; write that run's spec and
    initial weights so it can be started again (initlab study OUT/spec.toml)."""
    from initlab.study.best import find_best, write_best

    with guarded():
        best = find_best(folder)
    _at_run_time("Writing the best run", write_best, best, out)
    if as_json:
        print(json.dumps(best.to_dict(), indent=2))
        return
    settings = best.cell_settings
    shown = ", ".join(
        f"{key}={settings[key]}"
        for key in (
            "depth",
            "width",
            "activation",
            "optimizer",
            "lr",
            "momentum",
            "batch_size",
            "epochs",
            "vary",
        )
        if key in settings
    )
    run = best.run
    console.print(
        f"best cell: {settings['dataset']} / {settings['model']} / "
        f"{settings['init']} ({shown}): test accuracy {best.accuracy_text()}.\n"
        f"best run: {run['run_id']} (seed {run['seed']}, final test accuracy "
        f"{run['test_acc']:.4f}, fingerprint {run['fingerprint']}).\n"
        f"wrote {', '.join(str(path) for path in best.files)}; train it again with: "
        f"initlab study {best.files[0]} --out NEW_FOLDER",
        highlight=False,
        soft_wrap=True,
    )


# ------------------------------------------------------------------------- diagnose

#: Initializers the depth sweep compares when --inits is not given.
SWEEP_INITS = "glorot_normal,he_normal,lecun_normal,orthogonal"


def _init_entry(text: str) -> Any:
    """An --init entry: keras, torch, lsuv, a name or a JSON config."""
    from initlab.diagnostics import POLICY_ENTRIES

    return text.strip() if text.strip() in POLICY_ENTRIES else parse_initializer(text)


def _first_line(exc: BaseException) -> str:
    lines = str(exc).strip().splitlines()
    return f"{type(exc).__name__}: {lines[0]}" if lines else type(exc).__name__


def _at_run_time(what: str, call: Any, *args: Any, **kwargs: Any) -> Any:
    """Call into the package: input errors exit 2, any other error exits 1, each in
    one line; warnings are printed one line each."""
    import warnings

    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        try:
            with guarded():
                return call(*args, **kwargs)
        except (typer.Exit, KeyboardInterrupt):
            raise
        except Exception as exc:
            if _state["verbose"]:
                raise
            fail(f"{what} failed: {_first_line(exc)}", EXIT_RUNTIME)
        finally:
            for warning in caught:
                text = escape(str(warning.message))
                err_console.print(
                    f"[yellow]warning:[/yellow] {text}", highlight=False, soft_wrap=True
                )


def _model_flags(
    model: str | None,
    depth: int | None,
    width: int | None,
    activation: str | None,
    factory: str | None,
    batch: int | None,
    seed: int,
) -> dict[str, Any]:
    """Check the model flags; return what they describe, defaults filled in."""
    from initlab import diagnostics

    if seed < 0:
        raise BadInput(f"Invalid --seed {seed}: it must be a non-negative integer.")
    if factory is not None:
        given = [
            flag
            for flag, value in (
                ("--model", model),
                ("--depth", depth),
                ("--width", width),
                ("--activation", activation),
                ("--batch", batch),
            )
            if value is not None
        ]
        if given:
            raise BadInput(
                f"{', '.join(given)} cannot be combined with --factory, "
                "whose function returns the model and its batch."
            )
        diagnostics.load_factory(factory)  # fails early on a bad spec
        return {"factory": factory, "seed": seed}
    kind = model or "mlp"
    if kind not in diagnostics.MODELS:
        raise BadInput(
            f"Unknown --model {kind!r}. Accepted: {', '.join(diagnostics.MODELS)}."
        )
    if kind == "lstm" and activation is not None:
        raise BadInput(
            f"--activation {activation} does not apply to --model lstm, "
            "whose gates are built in."
        )
    default_depth, default_width = diagnostics.DEFAULT_SIZES[kind]
    return {
        "model": kind,
        "depth": default_depth if depth is None else depth,
        "width": default_width if width is None else width,
        "activation": activation or (None if kind == "lstm" else "relu"),
        "seed": seed,
        "batch": 512 if batch is None else batch,
    }


def _build(described: dict[str, Any], entry: Any) -> tuple[Any, Any]:
    """The model and its batch, initialized with ``entry`` (see ``_init_entry``) when
    it is not None."""
    from initlab import diagnostics

    if "factory" in described:
        function = diagnostics.load_factory(described["factory"])
        module, example = _at_run_time(
            f"The factory {described['factory']}",
            diagnostics.call_factory,
            function,
            described["factory"],
        )
        if entry is not None:
            described["init"] = diagnostics.resolve_init(entry)[0]
            _at_run_time(
                "Initializing the model",
                diagnostics.apply_init,
                module,
                entry,
                described["seed"],
                example,
            )
        return module, example
    entry = "glorot_uniform" if entry is None else entry
    described["init"] = diagnostics.resolve_init(entry)[0]
    return _at_run_time(
        "Building the model",
        diagnostics.build_case,
        described["model"],
        depth=described["depth"],
        width=described["width"],
        activation=described["activation"],
        init=entry,
        seed=described["seed"],
        batch_size=described["batch"],
    )


def _model_name(described: dict[str, Any]) -> str:
    if "factory" in described:
        return described["factory"]
    activation = f" {described['activation']}" if described["activation"] else ""
    return (
        f"{described['model']} depth {described['depth']} width "
        f"{described['width']}{activation}"
    )


def _write_plot(draw: Any, target: Any, path: Path, title: str) -> None:
    try:
        draw(target, path, title)
    except (ImportError, OSError) as exc:
        if _state["verbose"]:
            raise
        if isinstance(exc, ImportError):
            fail(
                f"--plot needs matplotlib ({exc}); install initlab[plot].", EXIT_RUNTIME
            )
        fail(
            f"Cannot write the plot to {str(path)!r}: {exc.strerror or exc}.",
            EXIT_RUNTIME,
        )


def _print_wide(renderable: Any, table: Table | None = None) -> None:
    """Print ``renderable`` so that ``table`` (by default its ``rich_table()``) is
    never cropped: wider than the terminal if it must be (the terminal wraps it)."""
    from rich.measure import Measurement

    table = renderable.rich_table() if table is None else table
    options = console.options.update_width(10_000)
    needed = Measurement.get(console, options, table).maximum
    if needed <= console.width:
        console.print(renderable)
    else:  # Console.print caps its width at the console's own
        Console(width=needed).print(renderable)


_Model = Annotated[
    str | None,
    typer.Option("--model", help="Built-in model: mlp, cnn or lstm. Default: mlp."),
]
_Depth = Annotated[
    int | None,
    typer.Option("--depth", help="Layers. Default: 50 (mlp), 20 (cnn), 10 (lstm)."),
]
_Width = Annotated[
    int | None,
    typer.Option(
        "--width",
        help="Units or channels per layer. Default: 256 (mlp), 32 (cnn), 64 (lstm).",
    ),
]
_Activation = Annotated[
    str | None,
    typer.Option(
        "--activation",
        help="relu, tanh, sigmoid, selu, gelu or linear (mlp and cnn). Default: relu.",
    ),
]
_Factory = Annotated[
    str | None,
    typer.Option(
        "--factory",
        help="Your model instead: package.module:function, returning (model, batch).",
    ),
]


@app.command("diagnose")
def diagnose_command(
    model: _Model = None,
    depth: _Depth = None,
    width: _Width = None,
    activation: _Activation = None,
    init: Annotated[
        str | None,
        typer.Option(
            "--init",
            help="Initializer name or JSON config, or keras, torch, lsuv. "
            "Default: glorot_uniform for a built-in model; a --factory model is "
            "left as built.",
        ),
    ] = None,
    factory: _Factory = None,
    batch: Annotated[
        int | None,
        typer.Option(
            "--batch",
            help="Standard-normal inputs in the batch of a built-in model. "
            "Default: 512.",
        ),
    ] = None,
    seed: Annotated[
        int, typer.Option("--seed", help="Seed of the weights and of the batch.")
    ] = 0,
    as_json: Annotated[
        bool, typer.Option("--json", help="Print one JSON object.")
    ] = False,
    plot: Annotated[
        Path | None,
        typer.Option(
            "--plot",
            help="Write a PNG of activation and gradient std against depth "
            "(with --depth-sweep, one line per initializer; default depth-sweep.png).",
        ),
    ] = None,
    depth_sweep: Annotated[
        bool,
        typer.Option(
            "--depth-sweep", help="Compare the --inits initializers on one network."
        ),
    ] = False,
    inits: Annotated[
        str | None,
        typer.Option(
            "--inits",
            help="With --depth-sweep: comma-separated names or JSON configs, "
            f"or keras, torch, lsuv. Default: {SWEEP_INITS}.",
        ),
    ] = None,
) -> None:
    """Show, layer by layer, how the signal and its gradient travel through a model.

    Verdict (first that applies): symmetric, exploding, dead, vanishing, saturated,
    else healthy; with the layer where the problem starts and an initializer for
    the activation in use.
    """
    from initlab import diagnostics

    with guarded():
        if inits is not None and not depth_sweep:
            raise BadInput(
                "--inits needs --depth-sweep; diagnose one initializer with --init."
            )
        if depth_sweep and init is not None:
            raise BadInput(
                "--depth-sweep compares the --inits entries; --init cannot "
                "be combined with it."
            )
        described = _model_flags(model, depth, width, activation, factory, batch, seed)
        entry = None if init is None else _init_entry(init)
        entries = (
            [
                _init_entry(entry)
                for entry in diagnostics.split_inits(inits or SWEEP_INITS)
            ]
            if depth_sweep
            else []
        )
    if depth_sweep:
        _depth_sweep(entries, described, as_json, plot or Path("depth-sweep.png"))
        return
    module, example = _build(described, entry)
    report = _at_run_time(
        "The forward/backward pass", diagnostics.diagnose, module, example
    )
    if plot is not None:
        _write_plot(
            diagnostics.plot_diagnosis,
            report,
            plot,
            f"{_model_name(described)}, {described.get('init') or 'as built'}",
        )
    if as_json:
        print(json.dumps({**report.to_dict(), "model": described}))
        return
    _print_wide(report)
    if plot is not None:
        console.print(f"plot written to {plot}", highlight=False)


def _depth_sweep(
    entries: list[Any], described: dict[str, Any], as_json: bool, plot: Path
) -> None:
    from initlab import diagnostics

    if "factory" in described:
        options: dict[str, Any] = {
            "factory": diagnostics.load_factory(described["factory"])
        }
    else:
        options = {key: described[key] for key in ("depth", "width", "activation")}
        options.update(kind=described["model"], batch_size=described["batch"])
    lines = _at_run_time(
        "The depth sweep",
        diagnostics.depth_sweep,
        entries,
        seed=described["seed"],
        **options,
    )
    title = f"activation std against depth: {_model_name(described)}"
    _write_plot(diagnostics.plot_depth_sweep, lines, plot, title)
    if as_json:
        print(
            json.dumps(
                {
                    "model": described,
                    "plot": str(plot),
                    "inits": [line.to_dict() for line in lines],
                }
            )
        )
        return
    from rich import box

    table = Table(title=title, title_justify="left", box=box.SIMPLE_HEAD)
    for column in (
        "init",
        "verdict",
        "first bad layer",
        "first act std",
        "last act std",
        "last / first",
    ):
        table.add_column(
            column,
            no_wrap=True,
            justify="right" if "std" in column or "/" in column else "left",
        )
    for line in lines:
        row = line.to_dict()
        ratio = row["last_over_first"]
        table.add_row(
            line.init,
            row["verdict"],
            row["first_bad_layer"] or "-",
            f"{line.activation_std[0]:.3g}",
            f"{line.activation_std[-1]:.3g}",
            "-" if ratio is None else f"{float(ratio):.3g}",
        )
    _print_wide(table, table)
    console.print(f"plot written to {plot}", highlight=False)


# ------------------------------------------------------------------------ recommend


@app.command("recommend")
def recommend_command(
    model: _Model = None,
    depth: _Depth = None,
    width: _Width = None,
    activation: _Activation = None,
    factory: _Factory = None,
    as_json: Annotated[
        bool, typer.Option("--json", help="Print one JSON object.")
    ] = False,
) -> None:
    """Recommend an initializer for every weight matrix of a model.

    Each row gives Keras's general rule and the activation-aware one, with the
    variance factor fan_in * Var(W) that justifies it.
    """
    from initlab import diagnostics

    with guarded():
        described = _model_flags(model, depth, width, activation, factory, None, 0)
    if "factory" in described:
        module, example = _build(described, None)
        described = {"factory": described["factory"]}
    else:
        module = _at_run_time(
            "Building the model",
            diagnostics.build_model,
            described["model"],
            described["depth"],
            described["width"],
            described["activation"],
        )
        example = None
        described = {
            key: described[key] for key in ("model", "depth", "width", "activation")
        }
    rows = _at_run_time("Tracing the model", diagnostics.recommend, module, example)
    if as_json:
        print(json.dumps({"model": described, "layers": rows.to_dicts()}))
        return
    _print_wide(rows)


# --------------------------------------------------------------------------- search


def _search_int(text: str | None, flag: str, minimum: int) -> int | None:
    """An integer option of ``search`` (None stays None), or one sentence of refusal."""
    if text is None:
        return None
    try:
        value = int(text)
    except ValueError:
        value = minimum - 1
    if value < minimum:
        raise BadInput(
            f"Invalid {flag} {text!r}: it must be an integer of at least {minimum}."
        )
    return value


@app.command("search")
def search_command(
    problem: Annotated[
        str, typer.Option("--problem", help="xor, spirals or digits.")
    ] = "xor",
    methods: Annotated[
        str,
        typer.Option("--methods", help="Comma-separated: gd, sgd, annealing, genetic."),
    ] = "gd,sgd,annealing,genetic",
    seeds: Annotated[
        str, typer.Option("--seeds", help="Number of run seeds.", metavar="INTEGER")
    ] = "50",
    init: Annotated[
        str,
        typer.Option(
            "--init", help="Initializer of the kernels: a name or a config as JSON."
        ),
    ] = "glorot_uniform",
    restarts: Annotated[
        str | None,
        typer.Option(
            "--restarts",
            metavar="INTEGER",
            help="Split the budget into K independent attempts. Default: the "
            "problem's (10 for xor).",
        ),
    ] = None,
    budget: Annotated[
        str | None,
        typer.Option(
            "--budget",
            metavar="INTEGER",
            help="Loss evaluations per run, the same for every method. Default: the "
            "problem's (2000 for xor).",
        ),
    ] = None,
    seed: Annotated[
        str, typer.Option("--seed", help="First run seed.", metavar="INTEGER")
    ] = "0",
    as_json: Annotated[
        bool, typer.Option("--json", help="Print one JSON object.")
    ] = False,
    out: Annotated[
        Path | None,
        typer.Option(
            "--out", help="Write search.json, search.md and two PNG plots here."
        ),
    ] = None,
) -> None:
    """Train a small network with gradient descent, SGD, simulated annealing and a
    genetic algorithm from the same starts, over many seeds, under one budget."""
    from initlab.search import search
    from initlab.search._report import TABLE_COLUMNS, describe, table_rows, write_report

    with guarded():
        result = search(
            problem,
            methods,
            _search_int(seeds, "--seeds", 1),
            init=parse_initializer(init),
            restarts=_search_int(restarts, "--restarts", 1),
            budget=_search_int(budget, "--budget", 1),
            seed=_search_int(seed, "--seed", 0),
        )
    written = None
    if out is not None:
        with guarded(EXIT_RUNTIME):
            written = write_report(result, out)
    if as_json:
        print(json.dumps(result.summary(), allow_nan=False))
        return
    from rich.markup import escape

    table = Table(
        title=f"initlab search: {result.problem.name}", caption=escape(describe(result))
    )
    for column in TABLE_COLUMNS:
        table.add_column(column)
    for row in table_rows(result):
        table.add_row(*(escape(cell) for cell in row))
    console.print(table)
    if written is not None:
        console.print(f"report written to {written['markdown'].parent}")


def _received(exc: click_errors.BadParameter, args: list[str]) -> str:
    """The text the user gave for the parameter that ``exc`` is about."""
    names = getattr(exc.param, "opts", None) or []
    for index, arg in enumerate(args):
        for name in names:
            if arg == name and index + 1 < len(args):
                return f" (received {args[index + 1]!r})"
            if arg.startswith(name + "="):
                return f" (received {arg[len(name) + 1 :]!r})"
    return ""


def main(args: list[str] | None = None) -> None:
    """Entry point of the ``initlab`` script.

    A usage error (unknown option, a value of the wrong type) is one sentence on
    stderr naming the option and the value received, with exit code 2.
    """
    args = sys.argv[1:] if args is None else list(args)
    command = typer.main.get_command(app)
    try:
        code = command.main(args, prog_name="initlab", standalone_mode=False)
        # Without standalone mode, typer.Exit(code) comes back as a return value.
        if isinstance(code, int) and code:
            sys.exit(code)
    except click_errors.NoArgsIsHelpError as exc:
        print(exc.ctx.get_help() if exc.ctx else str(exc))
        sys.exit(EXIT_BAD_INPUT)
    except click_errors.MissingParameter as exc:
        hint = f" See '{exc.ctx.command_path} --help'." if exc.ctx else ""
        err_console.print(
            f"error: {exc.format_message()}{hint}",
            markup=False,
            highlight=False,
            soft_wrap=True,
        )
        sys.exit(EXIT_BAD_INPUT)
    except click_errors.BadParameter as exc:
        hint = f" See 'initlab {exc.ctx.info_name} --help'." if exc.ctx else ""
        opts = getattr(exc.param, "opts", None) or [getattr(exc.param, "name", "")]
        where = " / ".join(f"'{opt}'" for opt in opts)
        err_console.print(
            f"error: Invalid value for {where}{_received(exc, args)}: "
            f"{exc.message}.{hint}",
            markup=False,
            highlight=False,
            soft_wrap=True,
        )
        sys.exit(EXIT_BAD_INPUT)
    except click_errors.UsageError as exc:
        hint = f" See '{exc.ctx.command_path} --help'." if exc.ctx else ""
        message = exc.message.rstrip(".") + "."
        err_console.print(
            f"error: {message}{hint}", markup=False, highlight=False, soft_wrap=True
        )
        sys.exit(EXIT_BAD_INPUT)
    except typer.Exit as exc:
        sys.exit(exc.exit_code)
    except typer.Abort:
        err_console.print("aborted")
        sys.exit(EXIT_RUNTIME)
    except KeyboardInterrupt:
        err_console.print("interrupted")
        sys.exit(130)


if __name__ == "__main__":
    main()
