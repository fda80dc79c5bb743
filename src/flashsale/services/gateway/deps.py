"""FastAPI dependencies for what the gateway's app holds (built in app.py's lifespan)."""

from __future__ import annotations

from typing import Annotated

from fastapi import Depends, Request

from flashsale.kit.app_state import from_app_state
from flashsale.services.gateway.auth import Keys
from flashsale.services.gateway.compose import Reads
from flashsale.services.gateway.edge import Admission
from flashsale.services.gateway.settings import GatewaySettings
from flashsale.services.gateway.sold_out import SoldOut
from flashsale.services.gateway.upstream import Upstreams


async def _settings(request: Request) -> GatewaySettings:
    settings: GatewaySettings = request.app.state.runtime.settings
    return settings


UpstreamsDep = Annotated[Upstreams, from_app_state("upstreams")]
ReadsDep = Annotated[Reads, from_app_state("reads")]
KeysDep = Annotated[Keys, from_app_state("keys")]
AdmissionDep = Annotated[Admission, from_app_state("admission")]
SoldOutDep = Annotated[SoldOut, from_app_state("sold_out")]
SettingsDep = Annotated[GatewaySettings, Depends(_settings)]
