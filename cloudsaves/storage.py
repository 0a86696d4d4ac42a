"""Static files in production: compressed, fingerprinted, and with the browser client's
ES-module imports rewritten to the fingerprinted names, so a page never mixes two copies
of one module (the fingerprinted one from a template and the plain one from an import)
and the service worker's list of assets is exactly what pages load."""

from whitenoise.storage import CompressedManifestStaticFilesStorage


class StaticFilesStorage(CompressedManifestStaticFilesStorage):
    support_js_module_import_aggregation = True
