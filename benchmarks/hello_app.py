"""The hello-world baselines of the HTTP benchmark: the same tiny Starlette app, run by plain
uvicorn and as a Ray Serve deployment."""

from __future__ import annotations

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route


async def hello(request: Request) -> JSONResponse:
    return JSONResponse({"hello": "world"})


app = Starlette(routes=[Route("/", hello), Route("/{rest:path}", hello)])
