"""FastAPI dependencies for what the gateway's app holds (built in app.py's lifespan)."""

from __future__ import annotations

from typing import Annotated

from fastapi import Depends, Request

from flashsale.services.gateway.auth import Keys
from flashsale.services.gateway.compose import Reads
from flashsale.services.gateway.settings import GatewaySettings
from flashsale.services.gateway.upstream import Upstreams


async def _upstreams(request: Request) -> Upstreams:
    upstreams: Upstreams = request.app.state.upstreams
    return upstreams


async def _reads(request: Request) -> Reads:
    reads: Reads = request.app.state.reads
    return reads


async def _keys(request: Request) -> Keys:
    keys: Keys = request.app.state.keys
    return keys


async def _settings(request: Request) -> GatewaySettings:
    settings: GatewaySettings = request.app.state.runtime.settings
    return settings


UpstreamsDep = Annotated[Upstreams, Depends(_upstreams)]
ReadsDep = Annotated[Reads, Depends(_reads)]
KeysDep = Annotated[Keys, Depends(_keys)]
SettingsDep = Annotated[GatewaySettings, Depends(_settings)]
