"""Production mode: one variable switches it on; it refuses to start with bad keys; it
passes Django's own deploy checks; it redirects to HTTPS and sends HSTS; and a daphne
serving TLS itself syncs over https and wss."""

from __future__ import annotations

import asyncio
import base64
import json
import os
import secrets
import ssl
import subprocess
import sys
import uuid
from pathlib import Path

import httpx
import pytest
import trustme
import websockets
from django.conf import settings

from tests.conftest import PASSWORD
from tests.live import start_live_server

ROOT = Path(__file__).resolve().parent.parent
GOOD_KEY = base64.urlsafe_b64encode(secrets.token_bytes(32)).decode()
SECRET = secrets.token_urlsafe(50)


def production_env(**overrides: str | None) -> dict[str, str]:
    env = {
        k: v
        for k, v in os.environ.items()
        if not k.startswith(("CLOUDSAVES_", "DJANGO_", "SECURE_")) and k != "ALLOWED_HOSTS"
    }
    env.update(
        CLOUDSAVES_ENV="production",
        DJANGO_SECRET_KEY=SECRET,
        CLOUDSAVES_ENCRYPTION_KEYS=GOOD_KEY,
        ALLOWED_HOSTS="sync.example.com",
        DJANGO_SETTINGS_MODULE="cloudsaves.settings",
    )
    for name, value in overrides.items():
        if value is None:
            env.pop(name, None)
        else:
            env[name] = value
    return env


def run_python(code: str, env: dict[str, str]) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-c", code], cwd=ROOT, env=env, capture_output=True, text=True, timeout=60
    )


def manage(*args: str, env: dict[str, str]) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "manage.py", *args],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )


def test_the_deploy_check_passes_at_warning_level():
    result = manage("check", "--deploy", "--fail-level", "WARNING", env=production_env())
    assert result.returncode == 0, result.stdout + result.stderr
    assert "no issues" in result.stdout


SHORT_KEY = base64.urlsafe_b64encode(secrets.token_bytes(16)).decode()


@pytest.mark.parametrize(
    "overrides,says",
    [
        ({"CLOUDSAVES_ENCRYPTION_KEYS": None}, "CLOUDSAVES_ENCRYPTION_KEYS"),
        ({"CLOUDSAVES_ENCRYPTION_KEYS": SHORT_KEY}, "must be 32 bytes"),
        ({"CLOUDSAVES_ENCRYPTION_KEYS": "not base64 at all!"}, "not url-safe base64"),
        ({"CLOUDSAVES_ENCRYPTION_KEYS": f"{GOOD_KEY},{SHORT_KEY}"}, "must be 32 bytes"),
        ({"CLOUDSAVES_ENCRYPTION_KEYS": f"{GOOD_KEY},{GOOD_KEY}"}, "twice"),
        ({"DJANGO_SECRET_KEY": None}, "DJANGO_SECRET_KEY"),
        ({"DJANGO_SECRET_KEY": "s" * 60}, "DJANGO_SECRET_KEY"),
        ({"DJANGO_SECRET_KEY": "django-insecure-" + SECRET}, "development key"),
    ],
    ids=[
        "no-key",
        "short-key",
        "malformed",
        "short-old-key",
        "twice",
        "no-secret",
        "one-char",
        "insecure",
    ],
)
def test_production_refuses_to_start_with_bad_keys(overrides, says):
    result = manage("check", env=production_env(**overrides))
    assert result.returncode != 0
    assert "ImproperlyConfigured" in result.stderr
    assert says in result.stderr
    # The message names the setting, never its value.
    for value in overrides.values():
        if value:
            for part in value.split(","):
                assert part not in result.stderr


HTTPS_PROBE = """
import django, json
django.setup()
from django.test import Client
client = Client(HTTP_HOST="sync.example.com")
plain = client.get("/api/v1/info")
health = client.get("/healthz")
secure = client.get("/api/v1/info", secure=True)
print(json.dumps({
    "plain": [plain.status_code, plain.headers.get("Location")],
    "health": health.status_code,
    "secure": [secure.status_code, secure.headers.get("Strict-Transport-Security")],
    "proxied": client.get("/api/v1/info", HTTP_X_FORWARDED_PROTO="https").status_code,
}))
"""


def test_production_redirects_to_https_and_sends_hsts(tmp_path):
    env = production_env(
        DATABASE_URL=f"sqlite:///{tmp_path / 'db.sqlite3'}", CLOUDSAVES_TRUSTED_PROXY_COUNT="1"
    )
    result = run_python(HTTPS_PROBE, env)
    assert result.returncode == 0, result.stderr
    seen = json.loads(result.stdout.strip().splitlines()[-1])
    assert seen["plain"] == [301, "https://sync.example.com/api/v1/info"]
    assert seen["health"] != 301  # load balancers probe over plain HTTP
    assert seen["secure"] == [200, "max-age=31536000; includeSubDomains"]
    assert seen["proxied"] == 200  # a TLS proxy's X-Forwarded-Proto counts as HTTPS

    off = run_python(HTTPS_PROBE, {**env, "CLOUDSAVES_SSL_REDIRECT": "0"})
    assert json.loads(off.stdout.strip().splitlines()[-1])["plain"][0] == 200


@pytest.fixture
def tls_files(tmp_path):
    ca = trustme.CA()
    cert = ca.issue_cert("127.0.0.1", "localhost")
    cert_path, key_path = tmp_path / "cert.pem", tmp_path / "key.pem"
    cert.private_key_pem.write_to_path(str(key_path))
    cert.cert_chain_pems[0].write_to_path(str(cert_path))
    client = ssl.create_default_context()
    ca.configure_trust(client)
    return str(cert_path), str(key_path), client


def _change(item_id: str, content: str, base: int | None) -> dict:
    return {
        "change_id": str(uuid.uuid4()),
        "item_id": item_id,
        "op": "put",
        "kind": "text",
        "name": "over tls.txt",
        "content": content,
        "base_version": base,
    }


@pytest.mark.live
@pytest.mark.django_db(transaction=True)
def test_daphne_with_tls_syncs_over_https_and_wss(user, tls_files):
    env = {
        "CLOUDSAVES_ENV": "production",
        "DJANGO_SECRET_KEY": SECRET,
        "ALLOWED_HOSTS": "127.0.0.1",
        "DJANGO_DEBUG": "0",
        # The test run's own keys: the server shares its database.
        "CLOUDSAVES_ENCRYPTION_KEYS": ",".join(settings.CLOUDSAVES_ENCRYPTION_KEYS),
    }
    server = start_live_server(extra_env=env, tls=tls_files)
    context = tls_files[2]
    try:
        assert server.url.startswith("https://")

        def sign_in(name: str) -> httpx.Client:
            response = httpx.post(
                f"{server.url}/api/v1/auth/token",
                json={
                    "email": user.email,
                    "password": PASSWORD,
                    "device": {"name": name, "kind": "desktop", "platform": "tls"},
                },
                verify=context,
                timeout=10,
            )
            assert response.status_code == 201, response.text
            assert response.headers["Strict-Transport-Security"].startswith("max-age=")
            token = response.json()["token"]
            return httpx.Client(
                base_url=server.url,
                headers={"Authorization": f"Bearer {token}"},
                verify=context,
                timeout=10,
            ), token

        laptop, _ = sign_in("Laptop")
        phone, phone_token = sign_in("Phone")
        item_id = str(uuid.uuid4())
        pushed = laptop.post("/api/v1/sync/push", json={"changes": [_change(item_id, "one", None)]})
        assert pushed.json()["results"][0]["status"] == "applied"

        async def live() -> list[dict]:
            headers = {"Authorization": f"Bearer {phone_token}"}
            async with websockets.connect(
                server.ws_url, ssl=context, additional_headers=headers
            ) as ws:
                assert json.loads(await ws.recv())["type"] == "hello"
                await ws.send(json.dumps({"type": "subscribe", "since": ""}))
                seen = []
                while not any(c["version"] == 2 for c in seen):
                    message = json.loads(await asyncio.wait_for(ws.recv(), 10))
                    if message["type"] == "changes":
                        seen.extend(message["changes"])
                        if not message["has_more"] and len(seen) == 1:
                            change = _change(item_id, "two", 1)
                            await asyncio.to_thread(
                                laptop.post, "/api/v1/sync/push", json={"changes": [change]}
                            )
                return seen

        seen = asyncio.run(live())
        assert [(c["id"], c["version"]) for c in seen] == [(item_id, 1), (item_id, 2)]
        assert phone.get(f"/api/v1/items/{item_id}/").json()["content"] == "two"
        # Plain HTTP is not served on the TLS port at all.
        with pytest.raises(httpx.HTTPError):
            httpx.get(f"http://127.0.0.1:{server.port}/healthz", timeout=5)
    finally:
        server.stop()
