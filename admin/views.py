"""Administration pages under /admin/: one module per resource, one blueprint (``admin.common``).

``sites`` (with the overview and logos), ``services``, ``desks``, ``categories``,
``users``, ``devices``, ``audit``, ``layouts`` (the TOML file) and ``channels``
(appointments, turns from phones, notices, the public page) each add their
pages to the blueprint; ``api`` is the administration part of the JSON API.
"""

from . import api, audit, categories, channels, desks, devices, layouts, services, sites, users
from .common import bp

# The modules above add their pages to the blueprint when imported.
RESOURCES = (sites, services, desks, categories, users, devices, audit, layouts, channels)


def init_app(app) -> None:
    """Register the administration pages and their API."""
    app.register_blueprint(bp)
    api.init_app(app)
