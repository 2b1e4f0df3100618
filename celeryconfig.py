"""Celery settings: at-least-once delivery, named queues, and the beat schedule.

PostgreSQL holds the truth; a broker message only wakes a worker, so a lost or
repeated message costs time, never a duplicate send.
"""
import os

from kombu import Queue

broker_url = os.environ.get("CELERY_BROKER_URL") or os.environ.get("REDIS_URL", "redis://127.0.0.1:6379/0")
# Results are never read: every outcome lands in PostgreSQL.
task_ignore_result = True
result_backend = None

# Ack a task when it starts. A broker message only wakes a worker: the work itself is rows in
# PostgreSQL, rebuilt by beat's reconciler every second and by the lease reaper, so a message lost
# with a dying worker costs a second, never a send. Acking late would also ack on a channel whose
# broker connection broke meanwhile, which kills the worker under kombu 5.7 (AttributeError).
task_acks_late = False
worker_prefetch_multiplier = 1
# No task may outlive this; the visibility timeout below must stay longer.
task_time_limit = 300
task_soft_time_limit = 240
# Redis redelivers an unacked message after this; longer than any task's hard limit.
broker_transport_options = {"visibility_timeout": 900}
broker_connection_retry_on_startup = True
# A send task that loses the broker connection keeps running and writes its outcomes to PostgreSQL;
# cancelling it would throw away answers the gateway already gave. Its broker message may come back
# (visibility timeout) and find its rows settled.
worker_cancel_long_running_tasks_on_connection_loss = False

task_serializer = "json"
accept_content = ["json"]
timezone = "UTC"
# Lets Flower and `celery inspect` see the workers without extra flags.
worker_send_task_events = True
task_send_sent_event = False

QUEUE_NAMES = ("fanout", "send_bulk", "send_priority", "webhooks", "dead_letter", "maintenance")
task_queues = tuple(Queue(name) for name in QUEUE_NAMES)
task_default_queue = "maintenance"
task_routes = {
    "tasks.fanout.*": {"queue": "fanout"},
    "tasks.sending.send_batch": {"queue": "send_bulk"},
    "tasks.sending.send_priority": {"queue": "send_priority"},
    "tasks.delivery_reports.*": {"queue": "webhooks"},
    "tasks.dead_letters.*": {"queue": "dead_letter"},
    "tasks.maintenance.*": {"queue": "maintenance"},
}



def _every(task: str, seconds: float) -> dict:
    """A beat entry that expires if no worker took it within a few periods (the next run does the same job)."""
    return {"task": task, "schedule": seconds, "options": {"expires": seconds * 5}}


beat_schedule = {
    # The reconciler: any running broadcast with open work gets a tick, even if Redis lost every message.
    "reconcile-broadcasts": _every("tasks.maintenance.reconcile_broadcasts", 1.0),
    # Scheduled broadcasts start within a second of their time; quota pauses lift at a window reset.
    "advance-schedules": _every("tasks.maintenance.advance_schedules", 1.0),
    # Rows whose worker died mid-send go back to pending (or to the dead-letter list).
    "release-expired-leases": _every("tasks.maintenance.release_expired_leases", 5.0),
    # Status flags repaired from PostgreSQL (a failed publish, a Redis restart); cancel stragglers swept.
    "reconcile-status-flags": _every("tasks.maintenance.reconcile_status_flags", 2.0),
    # Transactional messages whose broker message was lost are sent anyway.
    "requeue-transactional": _every("tasks.maintenance.requeue_transactional", 2.0),
    # Open circuit breakers: probe their gateways; resume what a probe got through to.
    "probe-gateways": _every("tasks.maintenance.probe_gateways", 2.0),
    # Safety net for delivery reports whose wake-up was lost.
    "apply-delivery-reports": _every("tasks.delivery_reports.apply_delivery_reports", 5.0),
    # Sent messages whose final report is overdue become unknown_delivery instead of `sent` forever.
    "mark-unknown-deliveries": _every("tasks.delivery_reports.mark_unknown_deliveries", 60.0),
}
