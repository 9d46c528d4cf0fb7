"""The one settings object: ``churn.toml`` overlaid by ``CHURN_*`` environment variables.

Nested keys use a double underscore in the environment, e.g.
``CHURN_TRAINING__HORIZON_DAYS=60`` or ``CHURN_SERVING__API_KEY=...``. Nothing is read at
import time; :func:`load_settings` reads when a command runs.
"""

from __future__ import annotations

import logging
import os
import tomllib
from importlib import resources
from pathlib import Path
from typing import Literal

from pydantic import AliasChoices, BaseModel, Field, SecretStr, ValidationError
from pydantic_settings import BaseSettings, PydanticBaseSettingsSource, SettingsConfigDict

from features.contract.errors import ConfigError

log = logging.getLogger(__name__)

DEFAULT_CONFIG = Path("churn.toml")
DEFAULT_OFFERS = Path("offers.toml")


def packaged_offers_file() -> Path:
    """The default offer catalog shipped in the package (``serving/policy/default_offers.toml``)."""
    return Path(str(resources.files("serving.policy").joinpath("default_offers.toml")))


class DataSettings(BaseModel):
    """Where the tables are and how CSV files are written."""

    dir: Path = Field(Path("data/demo"), description="Folder with the contract tables.")
    delimiter: str = Field(",", description="CSV field delimiter.")
    encoding: str = Field("utf-8", description="CSV text encoding.")
    columns: dict[str, dict[str, str]] = Field(
        default_factory=dict,
        description="Per table, {contract column: your column} for your own column names.",
    )
    event_types: dict[str, str] = Field(
        default_factory=dict,
        description="{your event type: family} for the events table; families are session, "
        "login, email_open, email_click, review, referral, other. Types neither mapped nor "
        "a family name count as other (reported at load).",
    )


class ImportSettings(BaseModel):
    """How ``churn import orders`` reads an order-lines export (section ``[import]``)."""

    columns: dict[str, str] = Field(
        default_factory=dict,
        description="{field: your column} for invoice, customer_id, ordered_at, quantity, "
        "unit_price, country; unset fields keep the UCI Online Retail names (InvoiceNo, "
        "CustomerID, InvoiceDate, Quantity, UnitPrice, Country).",
    )
    refund_prefix: str = Field("C", description='Invoice prefix of cancellations; "" for none.')
    date_format: str = Field(
        "ISO8601", description='How text timestamps are written, e.g. "%m/%d/%Y %H:%M".'
    )
    delimiter: str = Field(",", description="CSV field delimiter of the export.")
    encoding: str = Field("utf-8", description="CSV text encoding of the export.")


class FeatureSettings(BaseModel):
    """How point-in-time features are computed."""

    windows: list[int] = Field([30, 90, 180, 365], description="Look-back windows, days.")
    sla_hours: float = Field(48.0, gt=0, description="Support resolution SLA, hours.")
    partitions: int = Field(
        4, ge=1, description="Customer partitions built one at a time (the fewest)."
    )
    memory_mb: float | None = Field(
        1024,
        gt=0,
        description="Working memory a partition may take; more partitions than `partitions` "
        "when the rows need them (unset: exactly `partitions`).",
    )


class ComputeSettings(BaseModel):
    """Threads of the native pools (LightGBM's OpenMP, BLAS); section ``[compute]``."""

    threads: int | None = Field(
        None,
        ge=1,
        description="Threads per fit or predict; unset: the cores this process may use "
        "(affinity mask and cgroup CPU quota), one for small fits.",
    )


class TrainingSettings(BaseModel):
    """Labels, cutoffs and model training."""

    horizon_days: int = Field(90, gt=0, description="Churn label horizon H, days.")
    ltv_horizon_days: int = Field(365, gt=0, description="LTV label horizon L, days.")
    cutoffs: int = Field(
        6,
        ge=1,
        description="Training cutoffs stacked (the calibration and validation cutoffs come "
        "on top).",
    )
    cutoff_spacing_days: int = Field(30, gt=0, description="Days between cutoffs.")
    seed: int = Field(0, description="Random seed for every model.")
    max_rows: int | None = Field(
        300_000,
        ge=1000,
        description="Rows the fits read at most: above it, a customer-level sample (rate "
        "logged); the validation cutoff is judged on every customer. Unset: no sample.",
    )
    promote_metric: Literal["roc_auc", "pr_auc", "log_loss", "brier"] = "roc_auc"


class UpliftSettings(BaseModel):
    """The ``offer-uplift`` model learned from the offers history (section ``[uplift]``)."""

    window_days: int = Field(
        14, gt=0, description="Days after a campaign's first offer that count as that campaign."
    )
    max_cutoffs: int = Field(24, ge=1, description="Newest campaigns trained on.")
    holdout: int = Field(3, ge=1, description="Newest complete campaigns held out.")
    overlap_low: float = Field(
        0.05, gt=0, lt=0.5, description="Balanced propensity must lie in [low, 1 − low]."
    )
    min_overlap_share: float = Field(
        0.9,
        ge=0,
        le=1,
        description="Least share of an offer's rows inside those bounds; below it the "
        "promotion gate refuses the model.",
    )
    min_treated_rows: int = Field(
        30, ge=1, description="Fewest training rows per offer; fewer refuses promotion."
    )


class ScoringSettings(BaseModel):
    """Who is trained on and scored."""

    population: Literal["active", "all"] = Field(
        "all",
        description="all (default): every customer who ever ordered, with a status: "
        "active, lapsed (no order in the last 90 days: win-back offers) or cancelled "
        "(reported as churned); active: customers with an order in the last 90 days only. "
        "Models are trained on the population they score.",
    )


class ServingSettings(BaseModel):
    """The HTTP service.

    The API key is best given in the environment (``CHURN_SERVING__API_KEY``) or in a
    file readable by the service only (``api_key_file``, e.g. a mounted secret), not in
    ``churn.toml`` in clear.
    """

    api_key: SecretStr | None = Field(None, description="Required in the X-API-Key header.")
    api_key_file: Path | None = Field(
        None, description="File holding the API key (instead of api_key); whitespace trimmed."
    )
    require_api_key: bool = Field(True, description="Set false only for local trials.")
    max_batch: int = Field(1000, ge=1, description="Most customers per request.")
    max_body_bytes: int = Field(
        4 * 1024 * 1024,
        ge=1024,
        description="Largest request body accepted, bytes; larger ones get a 413.",
    )
    offers_file: Path = Field(
        DEFAULT_OFFERS,
        description="Retention offer catalog (with risk and value bands); when not set and "
        "there is no offers.toml, the catalog shipped with the package.",
    )
    reload_seconds: float = Field(
        30.0, gt=0, description="Seconds between checks for a new champion or snapshot."
    )
    header_timeout_seconds: float = Field(
        10.0,
        gt=0,
        description="Seconds a client has to send a request's headers; then 408, closed.",
    )
    body_timeout_seconds: float = Field(
        30.0,
        gt=0,
        description="Seconds a client has to send a request's whole body; then 408, closed.",
    )
    drain_seconds: float = Field(
        20.0,
        ge=0,
        description="On SIGTERM, seconds requests in flight get to finish (new ones get 503).",
    )

    def resolved_api_key(self) -> str | None:
        """The API key from ``api_key`` or from ``api_key_file``; None when neither is set.

        Raises
        ------
        ConfigError
            When both are set, or the file cannot be read or is empty.
        """
        if self.api_key_file is None:
            return self.api_key.get_secret_value() if self.api_key else None
        if self.api_key is not None:
            raise ConfigError(
                "serving.api_key_file", str(self.api_key_file), "either it or api_key, not both"
            )
        try:
            key = self.api_key_file.read_text(encoding="utf-8").strip()
        except OSError as e:
            raise ConfigError(
                "serving.api_key_file", str(self.api_key_file), f"a readable file ({e.strerror})"
            ) from e
        if not key:
            raise ConfigError(
                "serving.api_key_file", str(self.api_key_file), "a file holding the key"
            )
        return key


class Settings(BaseSettings):
    """Everything the CLI passes to the library, from ``churn.toml`` and the environment."""

    model_config = SettingsConfigDict(env_prefix="CHURN_", env_nested_delimiter="__")

    data: DataSettings = DataSettings()
    # `import` is a Python keyword: the field is import_, the section [import], and the
    # second alias keeps the environment's prefix (CHURN_IMPORT__REFUND_PREFIX=...).
    import_: ImportSettings = Field(
        default_factory=ImportSettings, validation_alias=AliasChoices("import", "churn_import")
    )
    features: FeatureSettings = FeatureSettings()
    compute: ComputeSettings = ComputeSettings()
    training: TrainingSettings = TrainingSettings()
    uplift: UpliftSettings = UpliftSettings()
    scoring: ScoringSettings = ScoringSettings()
    serving: ServingSettings = ServingSettings()
    tracking_uri: str | None = Field(
        None, description="MLflow tracking URI; MLFLOW_TRACKING_URI wins, else mlruns/mlflow.db."
    )

    @classmethod
    def settings_customise_sources(
        cls,
        settings_cls: type[BaseSettings],
        init_settings: PydanticBaseSettingsSource,
        env_settings: PydanticBaseSettingsSource,
        dotenv_settings: PydanticBaseSettingsSource,
        file_secret_settings: PydanticBaseSettingsSource,
    ) -> tuple[PydanticBaseSettingsSource, ...]:
        # The environment overrides the file; the file is passed as init values.
        return env_settings, init_settings


def load_settings(path: str | Path | None = None) -> Settings:
    """Read ``path`` (default ``$CHURN_CONFIG`` or ``./churn.toml`` when present) + env.

    Raises
    ------
    ConfigError
        When the file is not valid TOML or a value is out of range.
    """
    explicit = path is not None or "CHURN_CONFIG" in os.environ
    path = Path(path or os.environ.get("CHURN_CONFIG", DEFAULT_CONFIG))
    values: dict = {}
    if path.is_file():
        try:
            values = tomllib.loads(path.read_text(encoding="utf-8"))
        except tomllib.TOMLDecodeError as e:
            raise ConfigError(f"settings file {path}", "(unparseable)", f"valid TOML: {e}") from e
    elif explicit:
        raise ConfigError("settings file", str(path), "an existing TOML file")
    try:
        settings = Settings(**values)
    except ValidationError as e:
        first = e.errors()[0]
        where = ".".join(str(p) for p in first["loc"])
        raise ConfigError(f"setting {where} in {path}", first.get("input"), first["msg"]) from e
    if values.get("serving", {}).get("api_key"):
        log.warning(
            "%s holds the API key in clear; set CHURN_SERVING__API_KEY or "
            "serving.api_key_file instead.",
            path,
        )
    if uri := os.environ.get("MLFLOW_TRACKING_URI"):
        settings.tracking_uri = uri  # MLflow's own variable wins over the file
    _fall_back_to_packaged_offers(settings.serving)
    return settings


def _fall_back_to_packaged_offers(serving: ServingSettings) -> None:
    """Use the packaged catalog when ``offers_file`` is not set and ``offers.toml`` is absent.

    A path the user set (in the file or ``CHURN_SERVING__OFFERS_FILE``) is kept even when
    it does not exist, so a typo is an error, not a silent switch to the default.
    """
    if "offers_file" in serving.model_fields_set or serving.offers_file.is_file():
        return
    serving.offers_file = packaged_offers_file()
    log.info("No %s here: using the default offer catalog %s.", DEFAULT_OFFERS, serving.offers_file)


def uses_packaged_offers(settings: Settings) -> bool:
    """Whether the offer catalog is the one shipped with the package (none was found)."""
    return settings.serving.offers_file == packaged_offers_file()
