"""`churn serve`: start the BentoML scoring service (registered by importing this module)."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path
from typing import Annotated

import typer

from churn.cli import ConfigOpt, DataOpt, _settings, app, console
from features.errors import ChurnError

SERVICE = "serving.service:ChurnService"


def _preflight(settings, *, data: Path | None, reload_seconds: float | None) -> str:
    """Check what the service needs at start-up; return a one-line description of it.

    Raises
    ------
    ChurnError
        When the API key is required but unset, the catalog is invalid, a champion is
        missing or there is no snapshot: the service would not become ready.
    """
    from serving.offers import load_catalog
    from serving.online import current_key
    from serving.service import ServiceConfig

    if data is not None:
        settings.data.dir = data
    config = ServiceConfig.from_settings(settings)
    if config.require_api_key and not config.api_key:
        raise ChurnError(
            "The API needs a key: set CHURN_SERVING__API_KEY (clients send it in the "
            "X-API-Key header), or set serving.require_api_key = false for a local trial."
        )
    load_catalog(config.source.offers_file)
    key = current_key(config.source)
    every = reload_seconds or config.reload_seconds
    return f"{key.describe()}; checking for a new champion every {every:g} s"


@app.command()
def serve(
    host: Annotated[
        str, typer.Option(help="Interface to listen on; 0.0.0.0 opens the API to the network.")
    ] = "127.0.0.1",
    port: Annotated[int, typer.Option(min=1, max=65535, help="TCP port.")] = 3000,
    data: DataOpt = None,
    reload_seconds: Annotated[
        float | None,
        typer.Option(
            "--reload-seconds",
            min=0.1,
            help="Seconds between checks for a new champion or snapshot "
            "(default: serving.reload_seconds or 30).",
        ),
    ] = None,
    config: ConfigOpt = None,
) -> None:
    """Start the scoring API on the champion models and the latest feature snapshot."""
    from serving.service import RELOAD_ENV

    settings = _settings(config)
    summary = _preflight(settings, data=data, reload_seconds=reload_seconds)
    env = dict(os.environ)
    env.setdefault("BENTOML_DO_NOT_TRACK", "true")
    if config is not None:
        env["CHURN_CONFIG"] = str(config.resolve())
    if data is not None:
        env["CHURN_DATA__DIR"] = str(data.resolve())
    if reload_seconds is not None:
        env[RELOAD_ENV] = str(reload_seconds)
    url = f"http://{host}:{port}"
    console.print(f"Serving {summary}.")
    console.print(
        f"Swagger page: {url}  (API key in the X-API-Key header: "
        f"{'required' if settings.serving.require_api_key else 'NOT required'})"
    )
    command = [
        sys.executable,
        "-m",
        "bentoml",
        "serve",
        SERVICE,
        "--host",
        host,
        "--port",
        str(port),
    ]
    process = subprocess.Popen(command, env=env)
    try:
        code = process.wait()
    except KeyboardInterrupt:
        process.terminate()
        code = process.wait()
    if code not in (0, -2, -15, 130):
        raise typer.Exit(code)
