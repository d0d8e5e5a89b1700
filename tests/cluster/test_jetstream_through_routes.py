"""JetStream and a clustered pynatsd: pynatsd does not answer for a JetStream it does not
run. (Reaching a reference node's JetStream from a pynatsd node's clients is not built yet:
see docs/CLUSTERING.md.)"""

from __future__ import annotations

from pathlib import Path

import nats
import pytest
from nats.js.errors import ServiceUnavailableError

from tests.cluster.test_routes import Node, start_node


async def test_a_clustered_pynatsd_does_not_answer_the_jetstream_api(
    tmp_path: Path, nodes: list[Node]
) -> None:
    a = start_node(tmp_path, "pynatsd", "A", [])
    nodes.append(a)
    nc = await nats.connect(a.url)
    try:
        js = nc.jetstream(timeout=5)
        with pytest.raises(ServiceUnavailableError):  # no responders: nobody serves $JS.API
            await js.account_info()
    finally:
        await nc.close()
