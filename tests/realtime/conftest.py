from __future__ import annotations

from collections.abc import AsyncIterator, Iterator

import pytest

from aicrm.db import Database
from aicrm.realtime.hub import Hub, hub_for
from tests.fixtures.server import LiveServer


@pytest.fixture
def hub(live_server: LiveServer) -> Iterator[Hub]:
    """The test server's hub; a test may reconfigure it (heartbeat, queue size), restored after."""
    hub = hub_for(live_server.app)
    heartbeat, queue_size = hub.heartbeat_seconds, hub.queue_size
    yield hub
    hub.configure(heartbeat_seconds=heartbeat, queue_size=queue_size)


@pytest.fixture
async def db(database_url: str) -> AsyncIterator[Database]:
    """A second database handle in the test's own thread and loop: a commit here is a commit
    made outside the server's loop, like a CLI command's or a worker's."""
    database = Database(url=database_url)
    yield database
    await database.dispose()
