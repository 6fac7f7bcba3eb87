"""The local fake payment gateway, started when no real gateway is configured. Its URL and
secret key go into this process's environment before Ray starts, so the Payment replicas
(Ray workers) inherit them; the secret never travels in the Serve config."""

from __future__ import annotations

import os
import secrets
from dataclasses import replace

from engine.payments.fake_gateway import FakeGatewayServer
from engine.settings import Settings


def start_local_gateway(settings: Settings) -> tuple[Settings, FakeGatewayServer | None]:
    """The settings pointing at the gateway to use, and the fake server if one was started
    (the caller stops it)."""
    payments = settings.payments
    if payments.gateway_url:
        return settings, None
    secret = payments.secret_key or f"test_sk_{secrets.token_urlsafe(18)}"
    server = FakeGatewayServer(secret, port=payments.fake_gateway_port)
    server.start()
    os.environ["TIKETI_PAYMENT_GATEWAY_URL"] = server.url
    os.environ["TIKETI_PAYMENT_SECRET_KEY"] = secret
    payments = replace(payments, gateway_url=server.url, secret_key=secret)
    return replace(settings, payments=payments), server
