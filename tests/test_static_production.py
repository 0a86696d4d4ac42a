"""Production static files: `collectstatic` fingerprints the browser client's modules and
rewrites their imports to the fingerprinted names, so a page loads one copy of each
module and the service worker's asset list is exactly what pages load."""

import json
import re
from pathlib import Path

import pytest
from django.core.management import call_command
from django.test import override_settings

from cloudsaves import views


@pytest.fixture
def collected(tmp_path, settings):
    storages = {
        "default": {"BACKEND": "django.core.files.storage.FileSystemStorage"},
        "staticfiles": {"BACKEND": "cloudsaves.storage.StaticFilesStorage"},
    }
    with override_settings(STATIC_ROOT=tmp_path, STORAGES=storages, DEBUG=False):
        call_command("collectstatic", interactive=False, verbosity=0)
        manifest = json.loads((tmp_path / "staticfiles.json").read_text())["paths"]
        yield tmp_path, manifest


def test_module_imports_point_at_fingerprinted_files(collected):
    root, manifest = collected
    main = (root / manifest["js/main.js"]).read_text()
    imported = re.findall(r'from "([^"]+)"', main)
    assert imported, "main.js imports nothing?"
    for url in imported:
        target = (root / manifest["js/main.js"]).parent / url
        name = target.resolve().relative_to(root.resolve()).as_posix()
        assert name in manifest.values(), f"main.js imports {url}, not a fingerprinted file"
    # Every static import in every module of the client resolves to a fingerprinted file.
    for original, hashed in manifest.items():
        if not (original.startswith(("js/", "vendor/")) and original.endswith(".js")):
            continue
        source = (root / hashed).read_text()
        for url in re.findall(r'(?:from |import\()"(\.[^"]+)"', source):
            resolved = ((root / hashed).parent / url).resolve().relative_to(root.resolve())
            assert resolved.as_posix() in manifest.values(), f"{original} imports {url}"


def test_pages_and_the_service_worker_name_fingerprinted_modules(collected, client, user):
    root, manifest = collected
    storages = {
        "default": {"BACKEND": "django.core.files.storage.FileSystemStorage"},
        "staticfiles": {"BACKEND": "cloudsaves.storage.StaticFilesStorage"},
    }
    views._scan_assets_once.cache_clear()
    with override_settings(STATIC_ROOT=root, STORAGES=storages, DEBUG=False):
        client.force_login(user)
        page = client.get("/items/").content.decode()
        worker = client.get("/sw.js").content.decode()
    views._scan_assets_once.cache_clear()
    assert f'data-page-module="/static/{manifest["js/pages/items.js"]}"' in page
    assert f'src="/static/{manifest["js/main.js"]}"' in page
    assets = json.loads(re.search(r"const ASSETS = (\[.*?\]);", worker).group(1))
    assert f"/static/{manifest['js/core/sync.js']}" in assets
    assert all(Path(a).name != "sync.js" for a in assets)
