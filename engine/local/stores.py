"""Starts the embedded PostgreSQL and Redis that the settings leave unconfigured."""

from __future__ import annotations

from engine.local.postgres import EmbeddedPostgres
from engine.local.redis_server import EmbeddedRedis
from engine.settings import Settings

EmbeddedServer = EmbeddedPostgres | EmbeddedRedis


class LocalStores:
    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self.started: list[EmbeddedServer] = []
        self._database_url = settings.stores.database_url
        self._redis_url = settings.stores.redis_url

    @property
    def database_url(self) -> str:
        if self._database_url is None:
            raise RuntimeError("the embedded PostgreSQL is not started")
        return self._database_url

    @property
    def redis_url(self) -> str:
        if self._redis_url is None:
            raise RuntimeError("the embedded Redis is not started")
        return self._redis_url

    def __enter__(self) -> LocalStores:
        self.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def start(self) -> None:
        data_dir = self.settings.data_dir
        try:
            if self.settings.stores.database_url is None:
                postgres = EmbeddedPostgres(data_dir, self.settings.stores.pg_port)
                self.started.append(postgres)
                self._database_url = postgres.start()
            if self.settings.stores.redis_url is None:
                redis = EmbeddedRedis(data_dir, self.settings.stores.redis_port)
                self.started.append(redis)
                self._redis_url = redis.start()
        except BaseException:
            self.stop()
            raise

    def stop(self) -> None:
        """Stops, newest first, every server this instance started; each is tried."""
        errors: list[BaseException] = []
        for server in reversed(self.started):
            try:
                server.stop()
            except Exception as exc:
                errors.append(exc)
        self._database_url = self.settings.stores.database_url
        self._redis_url = self.settings.stores.redis_url
        if errors:
            raise errors[0]
