"""One Settings object, read from the environment and `.env`."""

from __future__ import annotations

import secrets
from functools import lru_cache
from pathlib import Path
from typing import Literal

from pydantic import Field, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

DEFAULT_SECRET_MARKERS = {"", "change-me", "changeme", "secret", "dev", "development"}


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_file=".env", env_file_encoding="utf-8", extra="ignore")

    ENVIRONMENT: Literal["development", "test", "production"] = "development"
    DATA_DIR: Path = Path("./data")
    DATABASE_URL: str = ""
    SECRET_KEY: str = ""
    REDIS_URL: str = ""
    ACCESS_TOKEN_MINUTES: int = 15
    REFRESH_TOKEN_DAYS: int = 30
    LOGIN_MAX_FAILURES: int = 5
    LOGIN_LOCKOUT_MINUTES: int = 15
    LOGIN_RATE_PER_MINUTE: int = 10
    LOGIN_IP_RATE_PER_MINUTE: int = 120
    COOKIE_SECURE: bool = False
    CORS_ORIGINS: list[str] = Field(default_factory=list)
    LOG_LEVEL: str = "INFO"
    LOG_JSON: bool = True
    DB_POOL_SIZE: int = 20
    SQLITE_DRIVER: Literal["inline", "thread"] = "inline"
    DEFAULT_REGION: str = "US"
    PUBLIC_URL: str = "http://127.0.0.1:8000"
    # jobs: embedded worker inside `aicrm serve` unless CELERY_BROKER_URL is set
    CELERY_BROKER_URL: str = ""
    # Celery mode: the queue this installation's workers consume and beat/API send to, and how
    # long a sent job may stay queued before the beat sweep assumes its message was lost
    CELERY_QUEUE: str = "aicrm"
    JOB_REDISPATCH_SECONDS: float = 30.0
    EMBEDDED_WORKER: bool = True
    JOB_CONCURRENCY: int = 16
    JOB_MAX_ATTEMPTS: int = 5
    JOB_LEASE_SECONDS: float = 60.0
    JOB_POLL_SECONDS: float = 1.0
    JOB_BACKOFF_SECONDS: float = 2.0
    JOB_BACKOFF_MAX_SECONDS: float = 3600.0
    JOB_RETENTION_DAYS: int = 14
    JOB_MODULES: list[str] = Field(default_factory=list)
    # workflow automation: loop protection and scheduled rules
    AUTOMATION_MAX_CHAIN: int = 5
    AUTOMATION_RATE_PER_MINUTE: int = 10
    AUTOMATION_SCHEDULE_EVERY: float = 30.0
    AUTOMATION_SCHEDULE_BATCH: int = 200
    AUTOMATION_SCHEDULE_SCAN: int = 1000
    # outgoing email: SMTP when SMTP_URL is set (smtp://user:pass@host:587, smtps://… for TLS),
    # otherwise messages stay in the outbox, visible in the UI
    SMTP_URL: str = ""
    EMAIL_FROM: str = "aicrm <no-reply@localhost>"
    # realtime
    WS_QUEUE_SIZE: int = 256
    WS_HEARTBEAT_SECONDS: float = 25.0
    # outgoing webhooks
    WEBHOOK_ALLOW_PRIVATE: bool = False
    WEBHOOK_TIMEOUT_SECONDS: float = 10.0
    WEBHOOK_MAX_ATTEMPTS: int = 8
    WEBHOOK_DISABLE_AFTER: int = 20
    # AI: embeddings provider — "wordllama" (bundled, CPU, the default), "sentence-transformers"
    # (a model folder at AI_MODEL_PATH; needs the package installed) or "openai" (any
    # OpenAI-compatible /embeddings endpoint at EMBEDDINGS_BASE_URL)
    AI_EMBEDDINGS: str = "wordllama"
    AI_MODEL_PATH: str = ""
    EMBEDDINGS_BASE_URL: str = ""
    EMBEDDINGS_MODEL: str = "text-embedding-3-small"
    EMBEDDINGS_API_KEY: str = ""
    AI_EMBEDDING_CACHE: int = 20000
    # chat model: any OpenAI-compatible /chat/completions endpoint; empty → the offline engine
    LLM_BASE_URL: str = ""
    LLM_MODEL: str = "gpt-4o-mini"
    LLM_API_KEY: str = ""
    LLM_TIMEOUT_SECONDS: float = 30.0
    LLM_MAX_RETRIES: int = 2
    # chat assistant: messages kept per conversation (older ones are pruned)
    ASSISTANT_MEMORY_MESSAGES: int = Field(default=40, ge=2)
    # predictions: below this many closed outcomes an organization is scored by cold-start rules
    AI_MIN_OUTCOMES: int = 40
    # how often models are retrained and the pattern scans run (seconds; 0 turns them off)
    AI_RETRAIN_EVERY: float = 86400.0
    AI_SCAN_EVERY: float = 3600.0
    # custom classifiers: default confidence floor when the held-out data cannot calibrate one
    AI_CONFIDENCE_FLOOR: float = 0.5
    # load the embedding and text models in the background when the API starts, so the first
    # request that needs them does not wait
    AI_WARM: bool = True

    @model_validator(mode="after")
    def _resolve(self) -> Settings:
        if not self.DATABASE_URL:
            self.DATABASE_URL = f"sqlite+aiosqlite:///{(self.DATA_DIR / 'aicrm.db').as_posix()}"
        if self.DATABASE_URL.startswith("postgresql://"):
            self.DATABASE_URL = "postgresql+asyncpg://" + self.DATABASE_URL[len("postgresql://") :]
        if self.DATABASE_URL.startswith("sqlite:///"):
            self.DATABASE_URL = "sqlite+aiosqlite:///" + self.DATABASE_URL[len("sqlite:///") :]
        if self.SECRET_KEY.strip().lower() in DEFAULT_SECRET_MARKERS or len(self.SECRET_KEY) < 32:
            if self.ENVIRONMENT == "production":
                raise ValueError(
                    "SECRET_KEY must be set to a random value of at least 32 characters "
                    "in production (e.g. `python -c 'import secrets; print(secrets.token_urlsafe(48))'`)"
                )
            self.SECRET_KEY = _data_dir_secret(self.DATA_DIR)
        return self

    @property
    def is_sqlite(self) -> bool:
        return self.DATABASE_URL.startswith("sqlite")


def _data_dir_secret(data_dir: Path) -> str:
    """Generate a secret on first run and keep it in the data folder (development only)."""
    data_dir.mkdir(parents=True, exist_ok=True)
    path = data_dir / "secret_key"
    if path.exists():
        value = path.read_text().strip()
        if len(value) >= 32:
            return value
    value = secrets.token_urlsafe(48)
    path.write_text(value)
    path.chmod(0o600)
    return value


@lru_cache
def get_settings() -> Settings:
    return Settings()
