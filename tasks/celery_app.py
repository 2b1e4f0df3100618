"""The Celery app workers, beat and Flower run: `celery -A tasks.celery_app ...`."""
from celery.signals import beat_init, worker_init, worker_process_init
from kombu.transport import redis as kombu_redis

from app import create_app
from app import redis_store
from app.extensions import db
from app.services.control import region_backfill

# kombu 5.7's Redis channel, closed after the broker connection broke, puts its unacked messages
# back through a client it has already dropped: AttributeError, and the worker dies ("Unrecoverable
# error") whenever Redis goes away while a task runs. Nothing needs that restore here: a broker
# message only wakes a worker (PostgreSQL holds the work), the unacked ones come back after the
# visibility timeout anyway, and beat's reconciler re-ticks every running broadcast each second.
kombu_redis.QoS.restore_at_shutdown = False

flask_app = create_app()
celery = flask_app.extensions["celery"]
celery.autodiscover_tasks(["tasks"], related_name=None, force=True)

import tasks.dead_letters  # noqa: E402,F401  (register every task module explicitly)
import tasks.delivery_reports  # noqa: E402,F401
import tasks.fanout  # noqa: E402,F401
import tasks.maintenance  # noqa: E402,F401
import tasks.sending  # noqa: E402,F401


@worker_process_init.connect
def _fresh_connections_after_fork(**_kwargs) -> None:
    """A forked child must not reuse its parent's database sockets."""
    with flask_app.app_context():
        db.engine.dispose(close=False)


@worker_init.connect
@beat_init.connect
def _check_redis_durability(**_kwargs) -> None:
    """Say at startup if Redis would not keep the call journal through a power cut."""
    with flask_app.app_context():
        redis_store.warn_if_not_durable()


@worker_init.connect
@beat_init.connect
def _check_regions(**_kwargs) -> None:
    """Say at startup while rows stored before regions were kept still match routes by calling code."""
    with flask_app.app_context():
        region_backfill.warn_if_missing()
