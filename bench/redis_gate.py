"""The in-memory reference point: a hold gate that only decrements a Redis counter.

    python -m bench.redis_gate PORT REDIS_URL KEY

Same server stack and worker count as the hello-world ceiling (one uvicorn process, uvloop,
httptools). POST /reserve takes the same JSON body as the inventory's reserve and runs one Lua
script that decrements KEY by the quantity only if at least that much is left: 200 when it did,
409 when it did not. Nothing is durable and no hold is recorded; it shows what a gate costs when
the only shared state is one counter in memory.
"""

from __future__ import annotations

import sys
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

import redis.asyncio as redis
import uvicorn
from fastapi import FastAPI
from fastapi.responses import JSONResponse
from pydantic import BaseModel, ConfigDict, Field

# Read, compare and decrement in one step: Redis runs a script without interleaving other commands.
TAKE_IF_ENOUGH = """
local left = tonumber(redis.call('GET', KEYS[1]) or '0')
local wanted = tonumber(ARGV[1])
if left < wanted then return -1 end
return redis.call('DECRBY', KEYS[1], wanted)
"""
POOL_SIZE = 20  # the services' PostgreSQL pool: 10 connections + 10 overflow (kit/db.py)


class Hold(BaseModel):
    model_config = ConfigDict(populate_by_name=True)

    product_id: str = Field(alias="productId")
    quantity: int = Field(ge=1)


def create_app(redis_url: str, key: str) -> FastAPI:
    # A bounded pool that makes requests wait for a connection, as a database pool does (an
    # unbounded one would open a connection per concurrent request).
    pool = redis.BlockingConnectionPool.from_url(redis_url, max_connections=POOL_SIZE)
    client = redis.Redis(connection_pool=pool)
    take = client.register_script(TAKE_IF_ENOUGH)

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        yield
        await client.aclose()
        await pool.aclose()

    app = FastAPI(lifespan=lifespan)

    @app.post("/reserve")
    async def reserve(hold: Hold) -> Any:
        left = int(await take(keys=[key], args=[hold.quantity]))
        if left < 0:
            return JSONResponse({"code": "out_of_stock", "productId": hold.product_id}, status_code=409)
        return {"productId": hold.product_id, "quantity": hold.quantity, "left": left}

    @app.get("/health")
    async def health() -> dict[str, str]:
        return {"status": "ok"}

    return app


if __name__ == "__main__":
    port, redis_url, key = int(sys.argv[1]), sys.argv[2], sys.argv[3]
    uvicorn.run(create_app(redis_url, key), host="127.0.0.1", port=port, loop="uvloop", http="httptools",
                access_log=False, log_level="warning")
