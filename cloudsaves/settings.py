"""Cloud-Saves settings.

Everything an operator tunes comes from the environment, with safe local defaults:
SQLite and the in-memory channel layer unless DATABASE_URL / REDIS_URL are set.
Outside development (CLOUDSAVES_ENV=production) the service refuses to start without a
real secret key and encryption keys; in development they are generated once into the
git-ignored `.local/dev-secrets.json`.
"""

from __future__ import annotations

import base64
import json
import os
import secrets
from pathlib import Path

import dj_database_url
from csp.constants import NONE, SELF
from django.core.exceptions import ImproperlyConfigured

from sync.crypto import KeyConfigError, KeyRing

BASE_DIR = Path(__file__).resolve().parent.parent


def env(name: str, default: str | None = None) -> str | None:
    value = os.environ.get(name)
    return value if value not in (None, "") else default


def env_int(name: str, default: int) -> int:
    raw = env(name)
    if raw is None:
        return default
    try:
        return int(raw)
    except ValueError as exc:
        raise ImproperlyConfigured(f"{name} must be an integer, got {raw!r}") from exc


def env_bool(name: str, default: bool) -> bool:
    raw = env(name)
    if raw is None:
        return default
    return raw.strip().lower() in {"1", "true", "yes", "on"}


CLOUDSAVES_ENV = env("CLOUDSAVES_ENV", "development")
PRODUCTION = CLOUDSAVES_ENV == "production"
DEBUG = env_bool("DJANGO_DEBUG", not PRODUCTION)


def _dev_secrets() -> dict[str, str]:
    """Load (or create on first run) the development-only secrets file."""
    path = Path(env("CLOUDSAVES_LOCAL_SECRETS", str(BASE_DIR / ".local" / "dev-secrets.json")))
    if path.exists():
        return json.loads(path.read_text())
    path.parent.mkdir(parents=True, exist_ok=True)
    data = {
        "secret_key": secrets.token_urlsafe(50),
        "encryption_keys": base64.urlsafe_b64encode(secrets.token_bytes(32)).decode(),
    }
    # Write-then-rename so two processes starting at once never read a half file.
    tmp = path.with_suffix(f".{os.getpid()}.tmp")
    tmp.write_text(json.dumps(data, indent=2))
    tmp.chmod(0o600)
    os.replace(tmp, path)
    return json.loads(path.read_text())


SECRET_KEY = env("DJANGO_SECRET_KEY")
_encryption_keys_raw = env("CLOUDSAVES_ENCRYPTION_KEYS")
if PRODUCTION:
    # The same bar as Django's own deploy check (security.W009).
    if not SECRET_KEY or len(SECRET_KEY) < 50 or len(set(SECRET_KEY)) < 5:
        raise ImproperlyConfigured(
            "Set DJANGO_SECRET_KEY to at least 50 random characters in production."
        )
    if SECRET_KEY.startswith("django-insecure-"):
        raise ImproperlyConfigured("DJANGO_SECRET_KEY is a development key: generate a new one.")
    if not _encryption_keys_raw:
        raise ImproperlyConfigured("Set CLOUDSAVES_ENCRYPTION_KEYS in production.")
elif not SECRET_KEY or not _encryption_keys_raw:
    _local = _dev_secrets()
    SECRET_KEY = SECRET_KEY or _local["secret_key"]
    _encryption_keys_raw = _encryption_keys_raw or _local["encryption_keys"]

# Key-encryption keys: comma-separated, url-safe base64 of 32 random bytes each. The first
# wraps new data keys; all of them unwrap. `manage.py rotate_keys` re-wraps under the first.
CLOUDSAVES_ENCRYPTION_KEYS = [k.strip() for k in _encryption_keys_raw.split(",") if k.strip()]
try:
    # Checked at start-up, so a malformed or short key stops the service here instead of
    # failing every write later. The message never includes the key.
    KeyRing.from_encoded(CLOUDSAVES_ENCRYPTION_KEYS)
except KeyConfigError as exc:
    raise ImproperlyConfigured(f"CLOUDSAVES_ENCRYPTION_KEYS: {exc}.") from None

ALLOWED_HOSTS = [
    h.strip() for h in env("ALLOWED_HOSTS", "127.0.0.1,localhost,[::1]").split(",") if h.strip()
]
CSRF_TRUSTED_ORIGINS = [
    o.strip() for o in (env("CSRF_TRUSTED_ORIGINS", "") or "").split(",") if o.strip()
]

INSTALLED_APPS = [
    "daphne",
    "django.contrib.admin",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "django.contrib.staticfiles",
    "django.contrib.sites",
    "rest_framework",
    "drf_spectacular",
    "drf_spectacular_sidecar",
    "csp",
    "channels",
    "allauth",
    "allauth.account",
    "accounts",
    "sync",
    "handoff",
]

MIDDLEWARE = [
    "django.middleware.security.SecurityMiddleware",
    # daphne serves no files itself: WhiteNoise serves /static/ from the app process.
    "whitenoise.middleware.WhiteNoiseMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
    "allauth.account.middleware.AccountMiddleware",
    "csp.middleware.CSPMiddleware",
    # Sync-only like the one below: the request is then known to the services it calls.
    "accounts.audit.AuditContextMiddleware",
    # A database that cannot be reached: 503 with Retry-After, not a 500 page.
    "cloudsaves.middleware.DatabaseUnavailableMiddleware",
    # Sync-only, and innermost on purpose: with it here the whole chain and the (sync)
    # views run in one worker thread, entered once per request. Placed above the
    # async-capable middleware, each of those would cross between the event loop and
    # the thread on its own (about 0.5 ms a request, measured).
    "accounts.middleware.BrowserDeviceMiddleware",
]

ROOT_URLCONF = "cloudsaves.urls"
ASGI_APPLICATION = "cloudsaves.asgi.application"

TEMPLATES = [
    {
        "BACKEND": "django.template.backends.django.DjangoTemplates",
        "DIRS": [BASE_DIR / "templates"],
        "APP_DIRS": True,
        "OPTIONS": {
            "context_processors": [
                "django.template.context_processors.debug",
                "django.template.context_processors.request",
                "django.contrib.auth.context_processors.auth",
                "django.contrib.messages.context_processors.messages",
                "cloudsaves.context_processors.site",
            ],
        },
    },
]

DATABASE_URL = env("DATABASE_URL", f"sqlite:///{BASE_DIR / 'db.sqlite3'}")
DATABASES = {"default": dj_database_url.parse(DATABASE_URL, conn_max_age=0)}
if DATABASES["default"]["ENGINE"] == "django.db.backends.sqlite3":
    # Writers wait for each other instead of failing at once with "database is locked".
    DATABASES["default"].setdefault("OPTIONS", {})
    DATABASES["default"]["OPTIONS"].update(
        {"timeout": 20, "transaction_mode": "IMMEDIATE", "init_command": "PRAGMA journal_mode=WAL;"}
    )
    # A file (not :memory:) so that a daphne process started by the tests shares it.
    DATABASES["default"]["TEST"] = {
        "NAME": env("CLOUDSAVES_TEST_SQLITE", str(BASE_DIR / ".local" / "test-db.sqlite3"))
    }
elif DATABASES["default"]["ENGINE"] == "django.db.backends.postgresql":
    # A connection pool per process: under ASGI Django cannot keep persistent
    # connections, and opening one per request costs more than the request itself.
    DATABASES["default"].setdefault("OPTIONS", {})["pool"] = {
        "min_size": env_int("CLOUDSAVES_DB_POOL_MIN", 2),
        "max_size": env_int("CLOUDSAVES_DB_POOL_MAX", 20),
        # How long a request waits for a connection (e.g. while PostgreSQL restarts)
        # before it is answered 503.
        "timeout": env_int("CLOUDSAVES_DB_POOL_TIMEOUT", 10),
    }
    # Parameters travel apart from the SQL instead of being quoted into it on the client:
    # cheaper for the sealed content a push writes. Statements a connection has run
    # CLOUDSAVES_DB_PREPARE_THRESHOLD times are prepared; set it to -1 behind a pooler
    # that cannot keep prepared statements (PgBouncer in transaction mode before 1.21).
    prepare_threshold = env_int("CLOUDSAVES_DB_PREPARE_THRESHOLD", 5)
    DATABASES["default"]["OPTIONS"].update(
        {
            "server_side_binding": env_bool("CLOUDSAVES_DB_SERVER_SIDE_BINDING", True),
            "prepare_threshold": None if prepare_threshold < 0 else prepare_threshold,
        }
    )
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

REDIS_URL = env("REDIS_URL")
if REDIS_URL:
    CHANNEL_LAYERS = {
        "default": {
            "BACKEND": "channels_redis.core.RedisChannelLayer",
            "CONFIG": {
                # No read timeout: the layer blocks in BRPOP for up to 5 s, and redis-py's
                # own 5 s default would otherwise cut idle sockets off their channel.
                "hosts": [{"address": REDIS_URL, "socket_timeout": None}],
                "prefix": env("CLOUDSAVES_CHANNEL_PREFIX", "cloudsaves"),
                "capacity": 500,
                "expiry": 30,
            },
        }
    }
    CACHES = {
        "default": {
            "BACKEND": "cloudsaves.cache.RedisCacheWithFallback",
            "LOCATION": REDIS_URL,
            "KEY_PREFIX": env("CLOUDSAVES_CACHE_PREFIX", "cloudsaves"),
        }
    }
else:
    CHANNEL_LAYERS = {"default": {"BACKEND": "channels.layers.InMemoryChannelLayer"}}
    CACHES = {"default": {"BACKEND": "django.core.cache.backends.locmem.LocMemCache"}}

AUTH_USER_MODEL = "accounts.User"
AUTHENTICATION_BACKENDS = [
    "django.contrib.auth.backends.ModelBackend",
    "allauth.account.auth_backends.AuthenticationBackend",
]
AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.UserAttributeSimilarityValidator"},
    {"NAME": "django.contrib.auth.password_validation.MinimumLengthValidator"},
    {"NAME": "django.contrib.auth.password_validation.CommonPasswordValidator"},
    {"NAME": "django.contrib.auth.password_validation.NumericPasswordValidator"},
]
if env_bool("CLOUDSAVES_FAST_PASSWORD_HASHER", False):
    # Test runs only: hashing is not what the suite measures.
    PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]

SITE_ID = 1
LOGIN_REDIRECT_URL = "home"
ACCOUNT_LOGOUT_REDIRECT_URL = "home"
ACCOUNT_LOGIN_METHODS = {"email"}
ACCOUNT_SIGNUP_FIELDS = ["email*", "password1*", "password2*"]
ACCOUNT_USER_MODEL_USERNAME_FIELD = None
# Mandatory verification is what keeps sign-up from telling which emails have accounts:
# a taken email then gets the same "check your inbox" page as a new one, and its owner a
# mail saying someone tried. With "optional" (development's default, so a local instance
# needs no mail) a new account is signed in at once and a taken email is not.
ACCOUNT_EMAIL_VERIFICATION = env(
    "CLOUDSAVES_EMAIL_VERIFICATION", "mandatory" if PRODUCTION else "optional"
)
ACCOUNT_UNIQUE_EMAIL = True
ACCOUNT_LOGIN_ON_PASSWORD_RESET = False
ACCOUNT_ADAPTER = "accounts.adapter.AccountAdapter"
# Failed sign-ins, counted alike on the login page and the token endpoint
# (accounts/adapter.py): one address against one account, one address against any
# accounts, and one account from everywhere — the last not counted against addresses the
# account signed in from before, so an attack from elsewhere never locks the owner out
# at home. A successful sign-in takes its attempt back.
ACCOUNT_RATE_LIMITS = {
    "login_failed": env("CLOUDSAVES_LOGIN_FAILED_PER_IP", "30/m/ip"),
    "login_failed_pair": env("CLOUDSAVES_LOGIN_FAILED_PER_IP_AND_ACCOUNT", "10/m/key,50/h/key"),
    "login_failed_account": env("CLOUDSAVES_LOGIN_FAILED_PER_ACCOUNT", "100/h/key"),
}
# How long an address that signed in to an account counts as known to it.
CLOUDSAVES_KNOWN_ADDRESS_DAYS = env_int("CLOUDSAVES_KNOWN_ADDRESS_DAYS", 90)
EMAIL_BACKEND = env("EMAIL_BACKEND", "django.core.mail.backends.console.EmailBackend")
DEFAULT_FROM_EMAIL = env("DEFAULT_FROM_EMAIL", "Cloud-Saves <noreply@localhost>")

SESSION_COOKIE_HTTPONLY = True
SESSION_COOKIE_SAMESITE = "Lax"
CSRF_COOKIE_SAMESITE = "Lax"
SESSION_COOKIE_SECURE = PRODUCTION
CSRF_COOKIE_SECURE = PRODUCTION
# How many proxies in front of the service append to X-Forwarded-For (0: none, the peer
# is the client). Only these hops are believed: for the client's address
# (cloudsaves/clientip.py, used by sign-in limits and the audit trail) and for
# X-Forwarded-Proto saying the request came over HTTPS.
CLOUDSAVES_TRUSTED_PROXY_COUNT = env_int("CLOUDSAVES_TRUSTED_PROXY_COUNT", 0)
# HTTPS in production. Behind a TLS-terminating proxy, the proxy must send
# X-Forwarded-Proto; a proxy that redirects plain HTTP itself may switch Django's redirect
# off with CLOUDSAVES_SSL_REDIRECT=0. The health check stays reachable over plain HTTP for
# load balancers.
SECURE_PROXY_SSL_HEADER = (
    ("HTTP_X_FORWARDED_PROTO", "https") if CLOUDSAVES_TRUSTED_PROXY_COUNT > 0 else None
)
SECURE_SSL_REDIRECT = env_bool("CLOUDSAVES_SSL_REDIRECT", PRODUCTION)
SECURE_REDIRECT_EXEMPT = [r"^healthz$"]
SECURE_HSTS_SECONDS = env_int("SECURE_HSTS_SECONDS", 31536000 if PRODUCTION else 0)
SECURE_HSTS_INCLUDE_SUBDOMAINS = env_bool("SECURE_HSTS_INCLUDE_SUBDOMAINS", True)
# Preloading is a commitment browsers keep for months after it is dropped: the operator
# opts in. Not preloading is a choice, so Django's reminder about it stays quiet.
SECURE_HSTS_PRELOAD = env_bool("SECURE_HSTS_PRELOAD", False)
SILENCED_SYSTEM_CHECKS = [] if SECURE_HSTS_PRELOAD else ["security.W021"]
SECURE_CONTENT_TYPE_NOSNIFF = True
SECURE_REFERRER_POLICY = "same-origin"
SECURE_CROSS_ORIGIN_OPENER_POLICY = "same-origin"
X_FRAME_OPTIONS = "DENY"
# Every page, in every environment (so the test suite's browser runs exercise it): only
# this instance's own scripts, styles and connections, nothing inline, no framing.
# Images and media may also be blob: URLs (previews of binary items the client decrypted
# into memory) and data: URLs (icons in the stylesheet). Raw item content is served with
# its own `sandbox` policy (sync/apis.py).
CONTENT_SECURITY_POLICY = {
    "DIRECTIVES": {
        "default-src": [SELF],
        "script-src": [SELF],
        "style-src": [SELF],
        "img-src": [SELF, "data:", "blob:"],
        "media-src": [SELF, "blob:"],
        "font-src": [SELF],
        "connect-src": [SELF],
        "worker-src": [SELF],
        "manifest-src": [SELF],
        "object-src": [NONE],
        "base-uri": [NONE],
        "form-action": [SELF],
        "frame-ancestors": [NONE],
    }
}

LANGUAGE_CODE = "en-us"
TIME_ZONE = "UTC"
USE_I18N = True
USE_TZ = True

STATIC_URL = "/static/"
STATICFILES_DIRS = [BASE_DIR / "static"]
STATIC_ROOT = BASE_DIR / "staticfiles"
# Development serves straight from the app folders; production runs `collectstatic`
# (`make run` does) and serves compressed, fingerprinted files from STATIC_ROOT.
WHITENOISE_USE_FINDERS = DEBUG
WHITENOISE_AUTOREFRESH = DEBUG
if not DEBUG:
    STORAGES = {
        "default": {"BACKEND": "django.core.files.storage.FileSystemStorage"},
        "staticfiles": {"BACKEND": "cloudsaves.storage.StaticFilesStorage"},
    }

REST_FRAMEWORK = {
    "DEFAULT_AUTHENTICATION_CLASSES": [
        "accounts.authentication.DeviceTokenAuthentication",
        "accounts.authentication.BrowserSessionAuthentication",
    ],
    "DEFAULT_PERMISSION_CLASSES": ["rest_framework.permissions.IsAuthenticated"],
    "DEFAULT_RENDERER_CLASSES": ["cloudsaves.renderers.OrjsonRenderer"],
    "DEFAULT_PARSER_CLASSES": ["cloudsaves.parsers.BoundedJSONParser"],
    "EXCEPTION_HANDLER": "cloudsaves.exceptions.exception_handler",
    "DEFAULT_SCHEMA_CLASS": "cloudsaves.openapi.ApiSchema",
    "UNAUTHENTICATED_USER": None,
}
SPECTACULAR_SETTINGS = {
    "TITLE": "Cloud-Saves API",
    "DESCRIPTION": "Sync protocol v1: devices, items, changes, conflicts and handoff.",
    "VERSION": "1",
    # 3.1: a nullable object or enum is `oneOf: [it, {type: 'null'}]`, which generators
    # read as an optional type; 3.0's `nullable` beside an `allOf` is not valid null.
    "OAS_VERSION": "3.1.0",
    "SCHEMA_PATH_PREFIX": r"/api/v1",
    "SERVE_INCLUDE_SCHEMA": False,
    "POSTPROCESSING_HOOKS": [
        "drf_spectacular.hooks.postprocess_schema_enums",
        "cloudsaves.openapi.postprocess",
    ],
    # The docs page's assets are served by this instance, never from a CDN.
    "SWAGGER_UI_DIST": "SIDECAR",
    "SWAGGER_UI_FAVICON_HREF": "SIDECAR",
    "REDOC_DIST": "SIDECAR",
    "ENUM_NAME_OVERRIDES": {
        "DeviceKindEnum": "accounts.models.Device.Kind",
        "ItemKindEnum": "sync.models.Item.Kind",
        "ConflictStatusEnum": "sync.models.Conflict.Status",
        "ResultStatusEnum": ["applied", "merged", "conflict", "unchanged", "rejected"],
        "ConflictResolutionEnum": "sync.models.Conflict.Resolution",
        "VersionOriginEnum": "sync.models.Version.Origin",
        "OfferOriginEnum": "handoff.models.Offer.Origin",
    },
}

# Limits, published by GET /api/v1/info so clients never hard-code them.
CLOUDSAVES_MAX_ITEM_BYTES = env_int("CLOUDSAVES_MAX_ITEM_BYTES", 25 * 1024 * 1024)
CLOUDSAVES_MAX_BATCH_CHANGES = env_int("CLOUDSAVES_MAX_BATCH_CHANGES", 100)
CLOUDSAVES_MAX_REQUEST_BYTES = env_int(
    "CLOUDSAVES_MAX_REQUEST_BYTES", CLOUDSAVES_MAX_ITEM_BYTES * 4 // 3 + 1024 * 1024
)
CLOUDSAVES_INLINE_BINARY_MAX = env_int("CLOUDSAVES_INLINE_BINARY_MAX", 256 * 1024)
CLOUDSAVES_HANDOFF_TTL_S = env_int("CLOUDSAVES_HANDOFF_TTL_S", 600)
CLOUDSAVES_HANDOFF_OFFER_TTL_S = env_int("CLOUDSAVES_HANDOFF_OFFER_TTL_S", 120)
# A device's last_seen_at is written at most this often, not on every request.
CLOUDSAVES_LAST_SEEN_RESOLUTION_S = 60
CLOUDSAVES_WS_TICKET_TTL_S = 30
DATA_UPLOAD_MAX_MEMORY_SIZE = CLOUDSAVES_MAX_REQUEST_BYTES

LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "formatters": {"plain": {"format": "%(asctime)s %(levelname)s %(name)s %(message)s"}},
    "handlers": {"console": {"class": "logging.StreamHandler", "formatter": "plain"}},
    "root": {"handlers": ["console"], "level": env("LOG_LEVEL", "INFO")},
    "loggers": {"django.channels.server": {"level": "WARNING"}},
}
# A socket refreshes its presence row every heartbeat; a row older than the TTL (a
# process that died without closing its sockets) no longer counts as online.
CLOUDSAVES_PRESENCE_HEARTBEAT_S = env_int("CLOUDSAVES_PRESENCE_HEARTBEAT_S", 25)
CLOUDSAVES_PRESENCE_TTL_S = env_int("CLOUDSAVES_PRESENCE_TTL_S", 75)
# How often each socket re-reads the change sequence in case a notification was lost.
CLOUDSAVES_WS_RECHECK_S = env_int("CLOUDSAVES_WS_RECHECK_S", 10)
# Operators of a private instance can close the sign-up page.
CLOUDSAVES_OPEN_SIGNUP = env_bool("CLOUDSAVES_OPEN_SIGNUP", True)
# How emails and pages name the service: the django.contrib.sites row (SITE_ID) takes
# these after every migrate (accounts/signals.py), so allauth's mail never says
# "example.com". The domain defaults to the first of ALLOWED_HOSTS in production.
CLOUDSAVES_SITE_NAME = env("CLOUDSAVES_SITE_NAME", "Cloud-Saves")
_site_hosts = [h.lstrip(".") for h in ALLOWED_HOSTS if h.lstrip(".") not in ("", "*")]
CLOUDSAVES_SITE_DOMAIN = env(
    "CLOUDSAVES_SITE_DOMAIN", _site_hosts[0] if PRODUCTION and _site_hosts else "localhost:8000"
)
