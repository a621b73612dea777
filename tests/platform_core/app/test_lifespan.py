"""What the API process does once start-up is done: start-up objects frozen, collector thresholds set."""

from __future__ import annotations

import gc

from platform_core.app.main import GC_THRESHOLDS, create_app
from platform_core.kernel.db.engines import Database


async def test_start_up_freezes_its_objects_and_sets_the_collector_thresholds(settings):
    before = gc.get_threshold()
    database = Database(settings, pool_size=1)
    app = create_app(settings.model_copy(update={"metrics_port": 0}), db=database, access_log=False)
    try:
        gc.unfreeze()
        async with app.router.lifespan_context(app):
            assert gc.get_freeze_count() > 10_000  # routes, models, schemas: out of the collector's sight
            assert gc.get_threshold() == GC_THRESHOLDS
    finally:
        gc.set_threshold(*before)
        await database.dispose()
