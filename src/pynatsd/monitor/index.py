"""``/``: an index of the monitoring endpoints, with the same link labels and targets as the
reference's page (endpoints pynatsd does not serve yet are left out)."""

from __future__ import annotations

import html

from pynatsd.version import REFERENCE_VERSION, __version__

# (label, path) in the reference's order.
ENDPOINTS = (
    ("General", "/varz"),
    ("JetStream", "/jsz"),
    ("Connections", "/connz"),
    ("Accounts", "/accountz"),
    ("Account Stats", "/accstatz"),
    ("Subscriptions", "/subsz"),
    ("Routes", "/routez"),
    ("LeafNodes", "/leafz"),
    ("Gateways", "/gatewayz"),
    ("Health Probe", "/healthz"),
)


def index_page(base: str) -> str:
    links = "\n".join(
        f'    <li><a href=".{html.escape(base + path)}">{label}</a> <code>{path}</code></li>'
        for label, path in ENDPOINTS
    )
    return f"""<!DOCTYPE html>
<html lang="en">
  <head>
    <meta charset="utf-8">
    <meta name="viewport" content="width=device-width, initial-scale=1">
    <title>pynatsd monitoring</title>
    <style>
      body {{ font-family: system-ui, sans-serif; margin: 2rem; }}
      li {{ margin: 0.3rem 0; }}
      code {{ color: #888; }}
    </style>
  </head>
  <body>
    <h1>pynatsd</h1>
    <p>NATS server {REFERENCE_VERSION} protocol, pynatsd {__version__}</p>
    <ul>
{links}
    </ul>
    <p><a href="https://docs.nats.io/running-a-nats-service/nats_admin/monitoring">Help</a></p>
  </body>
</html>
"""
