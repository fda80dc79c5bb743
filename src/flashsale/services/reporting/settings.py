"""The reporting service's settings (FLASHSALE_* environment variables), beyond every service's own."""

from __future__ import annotations

from pathlib import Path

from pydantic import model_validator
from sqlalchemy.engine import make_url

from flashsale.kit.settings import ServiceSettings

STORE_FILE_SUFFIX = ".duckdb"


class ReportingSettings(ServiceSettings):
    # FLASHSALE_REPORTING_PATH: the DuckDB file of the projection. Default: beside the SQLite file
    # the house names as this service's database (`DIR/reporting.db` -> `DIR/reporting.duckdb`);
    # with a PostgreSQL house there is no such directory, so it must be given.
    reporting_path: str = ""

    @model_validator(mode="after")
    def _store_path_known(self) -> ReportingSettings:
        self.store_path()
        return self

    def store_path(self) -> Path:
        if self.reporting_path:
            return Path(self.reporting_path)
        if self.database_url:
            url = make_url(self.database_url)
            if url.get_backend_name() == "sqlite" and url.database:
                return Path(url.database).with_suffix(STORE_FILE_SUFFIX)
        raise ValueError("set FLASHSALE_REPORTING_PATH: no SQLite data directory to put the reporting store in")
