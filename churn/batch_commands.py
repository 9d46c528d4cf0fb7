"""`churn score` and `churn campaign`: nightly batch scoring and budgeted campaigns."""

from __future__ import annotations

import dataclasses
from datetime import datetime
from enum import StrEnum
from pathlib import Path
from typing import Annotated

import typer
from rich.table import Table

from churn.app import (
    ConfigOpt,
    DataOpt,
    app,
    console,
    err_console,
    load_data,
    note_default_offers,
    open_data,
    print_data_warnings,
    print_warning,
    progress_bar,
    read_settings,
    reading,
)
from churn.options import Engine, MkdirOpt, as_of_option
from features.contract.errors import ConfigError


class Attribution(StrEnum):
    """How ``churn score`` computes the contributions behind the reasons."""

    path = "path"
    shap = "shap"


@app.command()
def score(
    as_of: Annotated[
        datetime, as_of_option("Feature cutoff date (exclusive, UTC): the scoring day.")
    ],
    out: Annotated[
        str,
        typer.Option(
            help="Scores to write, replaced atomically: a Parquet file (local engine) or a "
            "folder of Parquet part files (spark; a path or URI on shared storage)."
        ),
    ],
    data: Annotated[
        str | None,
        typer.Option(
            "--data",
            help="Folder (or, for spark, URI) of the contract tables "
            "(default: data.dir of the settings).",
        ),
    ] = None,
    churn_version: Annotated[
        str,
        typer.Option("--churn-version", help="churn-classifier version number or alias."),
    ] = "champion",
    ltv_version: Annotated[
        str, typer.Option("--ltv-version", help="ltv-regressor version number or alias.")
    ] = "champion",
    snapshot: Annotated[
        Path | None,
        typer.Option(
            help="Feature snapshot to score from (default: <data>/features/features_<as-of>"
            ".parquet when it was built from the current data, else features are built)."
        ),
    ] = None,
    engine: Annotated[
        Engine, typer.Option(help="local: chunks in this process; spark: per partition on Spark.")
    ] = Engine.local,
    partitions: Annotated[
        int | None,
        typer.Option(
            min=1,
            help="Customer partitions (default: features.partitions of the settings); more "
            "means less memory per partition.",
        ),
    ] = None,
    reasons: Annotated[
        int, typer.Option(min=0, max=10, help="Reasons in words per customer (0: none, faster).")
    ] = 3,
    reasons_from: Annotated[
        Attribution,
        typer.Option(
            help="Contributions behind the reasons: path attributions (about a predict's "
            "cost) or exact TreeSHAP (≈ 40× slower)."
        ),
    ] = Attribution.path,
    mkdir: MkdirOpt = False,
    config: ConfigOpt = None,
) -> None:
    """Score the base (\\[scoring] population): risk, predicted LTV, reasons and the offer."""
    from features.compute import usable_cores
    from features.contract.files import table_files
    from serving.batch.local import score_base
    from serving.batch.runs import ScoreOptions
    from serving.batch.snapshot import find_snapshot, score_snapshot
    from serving.models import load_scoring_models

    settings = read_settings(config)
    cutoff = as_of
    if engine is Engine.local:
        from features.io.atomic import check_target

        check_target(out, mkdir=mkdir)  # before loading models or data
    options = ScoreOptions(
        windows=tuple(settings.features.windows),
        sla_hours=settings.features.sla_hours,
        reasons=reasons,
        attribution=reasons_from.value,
    )
    n = partitions or settings.features.partitions
    note_default_offers(settings)
    with err_console.status("loading the models"):
        models = load_scoring_models(
            tracking_uri=settings.tracking_uri,
            churn_ref=churn_version,
            ltv_ref=ltv_version,
            offers_file=settings.serving.offers_file,
        )
    if models.uplift is None:
        from serving.models import NO_UPLIFT_MODEL

        print_warning(NO_UPLIFT_MODEL, label="note")
    chosen = "population" in settings.scoring.model_fields_set  # set, not the default
    if chosen and models.population != settings.scoring.population:
        raise ConfigError(
            "[scoring] population",
            settings.scoring.population,
            f"the population {models.churn.name} v{models.churn.version} was trained on "
            f"('{models.population}'): models score the population they learned from; "
            "retrain with `churn train` after changing it",
        )
    options = dataclasses.replace(options, active_days=models.active_days)
    if engine is Engine.spark:
        if snapshot is not None:
            raise ConfigError(
                "--snapshot",
                str(snapshot),
                "no snapshot with --engine spark (Spark builds "
                "the features from the tables); use --engine local to score a snapshot",
            )
        from serving.batch.spark import score_spark

        with err_console.status(f"scoring on Spark ({n} partitions)"):
            result = score_spark(
                data or str(settings.data.dir),
                models,
                as_of=cutoff,
                out=out,
                partitions=n,
                options=options,
                mkdir=mkdir,
                **reading(settings),
            )
    else:
        data_dir = Path(data) if data else settings.data.dir
        snapshot = snapshot or find_snapshot(data_dir, cutoff)
        with progress_bar() as bar:
            task = bar.add_task("scoring", total=n)

            def progress(done: int, total: int) -> None:
                bar.update(task, completed=done, total=total)

            if snapshot is not None:  # who is active is read from it: no table is loaded
                result = score_snapshot(
                    snapshot,
                    models,
                    as_of=cutoff,
                    out=out,
                    partitions=n,
                    options=options,
                    sources=table_files(data_dir),
                    on_progress=progress,
                    mkdir=mkdir,
                )
            else:
                source = open_data(settings, data_dir, partitions=n)
                result = score_base(
                    source,
                    models,
                    as_of=cutoff,
                    out=out,
                    partitions=n,
                    options=options,
                    on_progress=progress,
                    mkdir=mkdir,
                    workers=usable_cores().usable,
                )
                print_data_warnings(source)
    _print_scores(result, cutoff)


def _print_scores(result, cutoff) -> None:
    summary, meta = result.summary, result.meta
    models = ", ".join(
        f"{name} v{m['version']} (run {m['run_id'][:8]})" for name, m in meta["models"].items()
    )
    bands = " · ".join(f"{band} {n:,}" for band, n in summary.risk_bands.items())
    offers = ", ".join(f"{offer} {n:,}" for offer, n in summary.offers.items()) or "none"
    grid = Table.grid(padding=(0, 2))
    grid.add_column(style="bold")
    grid.add_column()
    grid.add_row("models", models)
    grid.add_row("features", meta["features"])
    grid.add_row("risk bands", bands)
    grid.add_row("offers", f"{summary.offers_recommended:,} recommended: {offers}")
    grid.add_row("no offer", summary.describe_no_offer())
    uplift = meta.get("uplift_source", "catalog")
    grid.add_row("uplift", f"{uplift} (uplift_source of each row)")
    grid.add_row("expected value", f"{summary.expected_value:,.2f} (Σ p × uplift × LTV − cost)")
    console.print(f"Wrote {result.path}: {summary.describe(cutoff)}")
    console.print(grid)


@app.command()
def campaign(
    budget: Annotated[
        float, typer.Option(min=0, help="Most the campaign may cost, currency units.")
    ],
    scores: Annotated[
        Path | None,
        typer.Option(help="Scores written by `churn score` (not needed with --compare-policies)."),
    ] = None,
    out: Annotated[
        Path | None,
        typer.Option(help="Target list CSV to write (default: campaign.csv beside the scores)."),
    ] = None,
    offers: Annotated[
        Path | None,
        typer.Option(help="Offer catalog the scores were made with (default: the settings')."),
    ] = None,
    compare_policies: Annotated[
        bool,
        typer.Option(
            "--compare-policies",
            help="Compare random, top_churn, top_expected_value and top_uplift targeting "
            "under --budget on the offer-uplift model's held-out campaigns; write "
            "policies.csv.",
        ),
    ] = False,
    data: DataOpt = None,
    uplift_version: Annotated[
        str | None,
        typer.Option(
            help="offer-uplift version or alias to compare with (default: champion, else "
            "challenger)."
        ),
    ] = None,
    policies_out: Annotated[
        Path | None,
        typer.Option(help="Where --compare-policies writes (default: <data>/policies.csv)."),
    ] = None,
    mkdir: MkdirOpt = False,
    config: ConfigOpt = None,
) -> None:
    """Choose whom to target with which offer to get the most expected value within a budget.

    Greedy by expected value per unit cost, checked against greedy by value and the
    single best offer (never below half the best possible total). Each offer's uplift
    is the one the scores name (``uplift_source``: catalog or offer-uplift model).
    """
    if scores is None and not compare_policies:
        raise ConfigError("--scores", None, "the scores to plan from (or --compare-policies)")
    settings = read_settings(config)
    if compare_policies:
        _compare_policies(
            settings,
            budget=budget,
            data=data,
            offers=offers,
            uplift_version=uplift_version,
            out=policies_out,
            mkdir=mkdir,
        )
        if scores is None:
            return
    _campaign(settings, scores=scores, budget=budget, out=out, offers=offers, mkdir=mkdir)


def _campaign(settings, *, scores: Path, budget: float, out, offers, mkdir: bool) -> None:
    from features.io.atomic import check_target
    from serving.batch.campaign import select_campaign, write_targets_csv
    from serving.batch.reader import campaign_scores, read_scores
    from serving.policy.catalog import load_catalog

    target = out or scores.parent / "campaign.csv"
    check_target(target, mkdir=mkdir)  # before reading anything
    if offers is None:
        note_default_offers(settings)
    catalog = load_catalog(offers or settings.serving.offers_file)
    frame, _ = read_scores(scores)
    chosen = select_campaign(campaign_scores(frame, catalog), budget=budget)
    path = write_targets_csv(chosen, target, mkdir=mkdir)
    mix = chosen.targets["offer_id"].value_counts()
    grid = Table.grid(padding=(0, 2))
    grid.add_column(style="bold")
    grid.add_column()
    grid.add_row("budget", f"{chosen.budget:,.2f}; cost {chosen.total_cost:,.2f}")
    grid.add_row("offers", ", ".join(f"{k} {v:,}" for k, v in mix.items()) or "none")
    if "uplift_source" in frame.columns:
        sources = frame["uplift_source"].value_counts()
        grid.add_row("uplift source", ", ".join(f"{k} {v:,}" for k, v in sources.items()))
    grid.add_row("expected customers saved", f"{chosen.expected_customers_saved:,.1f}")
    grid.add_row("expected revenue saved", f"{chosen.expected_revenue_saved:,.2f}")
    grid.add_row("expected net value", f"{chosen.expected_net_value:,.2f} (after offer costs)")
    console.print(
        f"Wrote {path}: {chosen.customers_targeted:,} of {len(frame):,} customers targeted "
        f"(selection: {chosen.strategy})."
    )
    console.print(grid)


def _compare_policies(
    settings, *, budget: float, data, offers, uplift_version, out, mkdir: bool
) -> None:
    """``--compare-policies``: the four policies on the held-out campaigns → policies.csv."""
    import pandas as pd

    from features.io.atomic import atomic_write, check_target
    from serving.evaluation.policies import compare_on_history, held_out_cutoffs
    from serving.models import load_uplift
    from serving.policy.catalog import load_catalog
    from training.registry.registry import CHALLENGER, CHAMPION, LTV_MODEL, load_model

    data_dir = Path(data) if data else settings.data.dir
    target = out or data_dir / "policies.csv"
    check_target(target, mkdir=mkdir)
    if offers is None:
        note_default_offers(settings)
    catalog = load_catalog(offers or settings.serving.offers_file)
    with err_console.status("loading the models"):
        refs = [uplift_version] if uplift_version else [CHAMPION, CHALLENGER]
        uplift = next(
            (m for ref in refs if (m := load_uplift(ref, tracking_uri=settings.tracking_uri))),
            None,
        )
        if uplift is None:
            raise ConfigError(
                "offer-uplift model",
                uplift_version or "none registered",
                "a version trained from the offers history (`churn train-uplift`); without "
                "offer history the offer policy uses the catalog and there is no held-out "
                "campaign to compare policies on",
            )
        ltv = load_model(LTV_MODEL, CHAMPION, tracking_uri=settings.tracking_uri)
    tables = load_data(settings, data_dir)
    truth_file = data_dir / "ground_truth.parquet"
    ground_truth = pd.read_parquet(truth_file) if truth_file.is_file() else None
    with err_console.status("comparing targeting policies on the held-out campaigns"):
        table = compare_on_history(
            tables,
            catalog,
            uplift=uplift,
            predict_ltv=ltv.validated.predict,  # it adds its own BTYD features
            budget=budget,
            ground_truth=ground_truth,
        )
    with (
        atomic_write(target, mkdir=mkdir) as tmp,
        open(tmp, "w", encoding="utf-8", newline="") as fh,
    ):
        table.to_csv(fh, index=False)
    how = (
        "true effects planted by the generator (ground_truth.parquet)"
        if ground_truth is not None
        else "the offer-uplift model's estimate (an estimate, not an observed outcome)"
    )
    cutoffs = ", ".join(f"{t:%Y-%m-%d}" for t in held_out_cutoffs(uplift))
    grid = Table(title=f"policies, budget {budget:,.2f} per campaign; held out {cutoffs}")
    for column in ("policy", "targeted", "cost", "customers_saved", "net_value", "saved_per_1000"):
        grid.add_column(column, justify="left" if column == "policy" else "right")
    for row in table.itertuples(index=False):
        grid.add_row(
            row.policy,
            f"{row.targeted:,}",
            f"{row.cost:,.2f}",
            f"{row.customers_saved:,.2f}",
            f"{row.net_value:,.2f}",
            f"{row.saved_per_1000:,.2f}",
        )
    console.print(grid)
    alias = ", ".join(uplift.aliases) or "no alias"
    console.print(
        f"Wrote {target}. customers_saved from {how}; offer-uplift v{uplift.version} ({alias})."
    )
