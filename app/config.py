"""Every tunable of Herald in one place, read once from the environment."""
from __future__ import annotations

import os


def _env(name: str, default: str) -> str:
    """Read one variable, falling back to its documented default."""
    return os.environ.get(name, default)


def _int(name: str, default: int) -> int:
    """Read an integer variable."""
    return int(_env(name, str(default)))


def _float(name: str, default: float) -> float:
    """Read a float variable."""
    return float(_env(name, str(default)))


def _bool(name: str, default: bool) -> bool:
    """Read a boolean variable: 1/true/yes/on mean true."""
    return _env(name, "1" if default else "0").strip().lower() in {"1", "true", "yes", "on"}


# Only for loopback gateways (the sandbox); check_config refuses it when a real gateway is configured.
DEVELOPMENT_PSEUDONYM_KEY = "herald-development-pseudonym-key"


class Config:
    """Flask configuration; tasks and services read the same object."""

    # Where truth lives; the embedded server's URL is exported by scripts/stack.py.
    SQLALCHEMY_DATABASE_URI = _env("DATABASE_URL", "postgresql+psycopg2://postgres@127.0.0.1:5432/herald")
    # Status flags, rate buckets, tick locks, and the broker unless CELERY_BROKER_URL says otherwise.
    REDIS_URL = _env("REDIS_URL", "redis://127.0.0.1:6379/0")
    # A separate broker (e.g. RabbitMQ: amqp://...); empty means Redis at REDIS_URL.
    CELERY_BROKER_URL = _env("CELERY_BROKER_URL", "")
    # Pool sized for gunicorn threads plus a little headroom; pre_ping survives server restarts;
    # hide_parameters keeps recipients and report payloads out of logged database errors.
    SQLALCHEMY_ENGINE_OPTIONS = {"pool_size": _int("HERALD_DB_POOL_SIZE", 10), "pool_pre_ping": True,
                                 "hide_parameters": True}
    SQLALCHEMY_TRACK_MODIFICATIONS = False
    # Refuse bodies larger than this (a 1M-recipient JSON is ~70 MB; CSV is smaller).
    MAX_CONTENT_LENGTH = _int("HERALD_MAX_BODY_BYTES", 128 * 1024 * 1024)
    # Most recipients one broadcast may carry.
    HERALD_MAX_RECIPIENTS = _int("HERALD_MAX_RECIPIENTS", 1_000_000)
    # Region assumed for numbers written without a country code.
    HERALD_DEFAULT_REGION = _env("HERALD_DEFAULT_REGION", "ZM")
    # Longest message body accepted (10 SMS segments of GSM-7).
    HERALD_MAX_BODY_CHARS = _int("HERALD_MAX_BODY_CHARS", 1530)

    # Rows one contact import may carry (the target is 100,000 in one request).
    HERALD_MAX_CONTACT_ROWS = _int("HERALD_MAX_CONTACT_ROWS", 200_000)
    # Bytes one contact CSV may weigh: 200,000 rows with a few attributes fit comfortably.
    HERALD_MAX_CONTACT_IMPORT_BYTES = _int("HERALD_MAX_CONTACT_IMPORT_BYTES", 64 * 1024 * 1024)
    # Rejected rows listed one by one in an import's answer; the count is always whole.
    HERALD_MAX_REPORTED_REJECTS = _int("HERALD_MAX_REPORTED_REJECTS", 1000)
    # Contacts one producer tick turns into a segment broadcast's messages rows (one INSERT ... SELECT):
    # a few send batches' worth, so the pending queue stays ahead of the senders and memory stays flat.
    HERALD_AUDIENCE_PAGE = _int("HERALD_AUDIENCE_PAGE", 5000)

    # Rows one send task claims; big enough to amortise SQL, small enough to pause fast.
    HERALD_BATCH_SIZE = _int("HERALD_BATCH_SIZE", 500)
    # Send tasks one broadcast may have queued or running: bounds broker depth.
    HERALD_INFLIGHT_BATCHES = _int("HERALD_INFLIGHT_BATCHES", 6)
    # Send tasks waiting in the broker across all broadcasts before producers hold back.
    HERALD_MAX_QUEUE_DEPTH = _int("HERALD_MAX_QUEUE_DEPTH", 64)
    # Most of the send capacity (in-flight send tasks) one service's broadcasts may hold together.
    HERALD_SERVICE_SHARE = _float("HERALD_SERVICE_SHARE", 0.5)
    # Concurrent gateway requests inside one send task (one-request-per-message mode).
    HERALD_SEND_THREADS = _int("HERALD_SEND_THREADS", 8)
    # A claim older than this is presumed dead and reclaimed; longer than any send task runs.
    HERALD_LEASE_SECONDS = _int("HERALD_LEASE_SECONDS", 120)
    # How long a worker holding a batch's outcomes keeps trying to write them through a database
    # outage: at least a lease, inside Celery's soft time limit (240 s) with the send's own time.
    HERALD_OUTCOME_WRITE_SECONDS = _float("HERALD_OUTCOME_WRITE_SECONDS", 150.0)
    # Attempts before a temporarily failing message is dead-lettered.
    HERALD_MAX_ATTEMPTS = _int("HERALD_MAX_ATTEMPTS", 8)
    # Backoff base and ceiling for temporary failures (exponential with full jitter).
    HERALD_RETRY_BASE_SECONDS = _float("HERALD_RETRY_BASE_SECONDS", 2.0)
    HERALD_RETRY_MAX_SECONDS = _float("HERALD_RETRY_MAX_SECONDS", 600.0)
    # How long a routed retry pinned to its account (the last call's outcome unknown), of a broadcast or
    # transactional, waits once due for that account's breaker to close before it is dead-lettered as
    # outcome_unknown; never moved.
    HERALD_PINNED_RETRY_WAIT_SECONDS = _float("HERALD_PINNED_RETRY_WAIT_SECONDS", 600.0)
    # How long a worker trusts its cached copy of a broadcast's status flag.
    HERALD_GUARD_CACHE_SECONDS = _float("HERALD_GUARD_CACHE_SECONDS", 0.25)
    # Delivery-report rows applied per bulk UPDATE.
    HERALD_REPORT_BATCH = _int("HERALD_REPORT_BATCH", 5000)
    # Webhook requests' reports are stored together by one INSERT and COMMIT per process (group commit);
    # off stores each in its own transaction, the old way, which the benchmark measures as its baseline.
    HERALD_REPORT_GROUP_COMMIT = _bool("HERALD_REPORT_GROUP_COMMIT", True)
    # A report whose message is not found is looked at again after this, doubling per look up to the cap:
    # short at first (its message's `sent` may be committing), rare later (AT posts other systems' reports too).
    HERALD_REPORT_RECHECK_BASE_SECONDS = _float("HERALD_REPORT_RECHECK_BASE_SECONDS", 1.0)
    HERALD_REPORT_RECHECK_MAX_SECONDS = _float("HERALD_REPORT_RECHECK_MAX_SECONDS", 300.0)
    # A report whose message never appears within this long is closed as unmatched.
    HERALD_REPORT_UNMATCHED_SECONDS = _int("HERALD_REPORT_UNMATCHED_SECONDS", 3600)
    # A sent message with no final report after this long becomes unknown_delivery (carriers give up on
    # unreachable handsets after 24-72 h, so no report is coming); a late report still settles it.
    HERALD_DELIVERY_REPORT_TIMEOUT_SECONDS = _int("HERALD_DELIVERY_REPORT_TIMEOUT_SECONDS", 72 * 3600)

    # Quota window length; a day starts at HERALD_QUOTA_RESET_TIME in the scope's time zone.
    HERALD_QUOTA_WINDOW_SECONDS = _int("HERALD_QUOTA_WINDOW_SECONDS", 86400)
    HERALD_QUOTA_RESET_TIME = _env("HERALD_QUOTA_RESET_TIME", "00:00")
    # Daily quotas per provider account, e.g. "africastalking=100000" (unset = unlimited).
    HERALD_PROVIDER_DAILY_QUOTAS = _env("HERALD_PROVIDER_DAILY_QUOTAS", "")
    # Time zone provider-account windows reset in.
    HERALD_PROVIDER_QUOTA_TIMEZONE = _env("HERALD_PROVIDER_QUOTA_TIMEZONE", "UTC")

    # Global rate limits in messages (SMS segments) per second, shared by every worker:
    # "africastalking=200" for the account, "africastalking:MTN=80" for one carrier route.
    HERALD_RATE_LIMITS = _env("HERALD_RATE_LIMITS", "")
    # Seconds of rate that may bunch up, letting the timeline catch up after a gap between
    # batches; well under the one second of burst gateways allow.
    HERALD_RATE_BURST_SECONDS = _float("HERALD_RATE_BURST_SECONDS", 0.25)
    # The producer stops handing out work when a rate timeline is booked this far ahead.
    HERALD_RATE_HORIZON_SECONDS = _float("HERALD_RATE_HORIZON_SECONDS", 2.0)

    # Circuit breaker per provider account (app/services/breaker.py). Requests in a row that find
    # the gateway down before sending stops: enough that one dropped connection does not trip it.
    HERALD_BREAKER_DOWN_FAULTS = _int("HERALD_BREAKER_DOWN_FAULTS", 5)
    # Requests in a row refused for credentials or URL: such a refusal is no fluke, so two suffice.
    HERALD_BREAKER_REJECTED_FAULTS = _int("HERALD_BREAKER_REJECTED_FAULTS", 2)
    # Faults further apart than this are not one outage; the count starts again.
    HERALD_BREAKER_WINDOW_SECONDS = _float("HERALD_BREAKER_WINDOW_SECONDS", 10.0)
    # How long a worker trusts its copy of an account's breaker: no Redis call per message.
    HERALD_BREAKER_CACHE_SECONDS = _float("HERALD_BREAKER_CACHE_SECONDS", 0.2)
    # How often one process's good answers clear the shared fault count (its own faults clear at once).
    HERALD_BREAKER_RESET_SECONDS = _float("HERALD_BREAKER_RESET_SECONDS", 0.2)
    # How often a routed broadcast's tick looks for blocked carriers (a scan of its pending rows,
    # only while some key has no open route); the summary shows a block within this plus a tick.
    HERALD_BLOCKED_CHECK_SECONDS = _float("HERALD_BLOCKED_CHECK_SECONDS", 1.0)

    # Named gateway accounts: JSON {"<account>": {"provider": "africastalking"|"twilio"|"infobip", settings...}},
    # or the path of a file holding it. Unset: one account "africastalking" built from the AT_* variables.
    HERALD_ACCOUNTS = _env("HERALD_ACCOUNTS", "")
    # Routes per channel, country and carrier, each an account with a price per part and a priority:
    # a JSON list (or the path of a file holding it), e.g. [{"name": "mtn-direct", "carrier": "MTN",
    # "country": "ZM", "account": "smpp_mtn", "price": "0.18", "priority": 1}, ..., {"name": "default",
    # "account": "at_main", "price": "0.30"}]. Unset: every SMS goes through HERALD_SMS_PROVIDER.
    HERALD_ROUTES = _env("HERALD_ROUTES", "")
    # Proxies for real gateways, as curl and urllib3's ProxyManager read them; loopback gateways bypass them.
    HTTPS_PROXY = _env("HTTPS_PROXY", "") or _env("https_proxy", "")
    HTTP_PROXY = _env("HTTP_PROXY", "") or _env("http_proxy", "")
    NO_PROXY = _env("NO_PROXY", "") or _env("no_proxy", "")
    # Largest delivery-report body accepted (an Infobip bulk report of 1,000 results is ~500 KB).
    HERALD_WEBHOOK_MAX_BYTES = _int("HERALD_WEBHOOK_MAX_BYTES", 4 * 1024 * 1024)
    # Gateway account used for SMS (the sandbox gateway by default).
    HERALD_SMS_PROVIDER = _env("HERALD_SMS_PROVIDER", "africastalking")
    AT_BASE_URL = _env("AT_BASE_URL", "http://127.0.0.1:8025")
    AT_USERNAME = _env("AT_USERNAME", "sandbox")
    AT_API_KEY = _env("AT_API_KEY", "sandbox-key")
    AT_SENDER_ID = _env("AT_SENDER_ID", "") or None
    # The real AT API ignores idempotency keys; the sandbox honours them.
    AT_HONOURS_IDEMPOTENCY_KEY = _bool("AT_HONOURS_IDEMPOTENCY_KEY", False)
    # Recipients per AT bulk request; 0 sends one request per message.
    AT_BULK_MAX = _int("AT_BULK_MAX", 0)
    AT_CONNECT_TIMEOUT = _float("AT_CONNECT_TIMEOUT", 3.0)
    AT_READ_TIMEOUT = _float("AT_READ_TIMEOUT", 15.0)
    # Secret path segment of the delivery-report URL given to Africa's Talking.
    HERALD_WEBHOOK_SECRET = _env("HERALD_WEBHOOK_SECRET", "")
    # Key of the pseudonyms an erasure leaves on the suppression list (HMAC-SHA256). Set it once and keep it:
    # a new key makes every erased person's pseudonym unfindable, so they would no longer be suppressed.
    HERALD_PSEUDONYM_KEY = _env("HERALD_PSEUDONYM_KEY", DEVELOPMENT_PSEUDONYM_KEY)
    # Price of one SMS part per carrier (the account's price until per-route prices exist), for the
    # dry run's estimate; "other" covers any carrier not named. Defaults are the sandbox gateway's prices.
    HERALD_SMS_PRICES = _env("HERALD_SMS_PRICES", "MTN=0.25,Airtel=0.24,Zamtel=0.22,other=0.30")
    HERALD_SMS_CURRENCY = _env("HERALD_SMS_CURRENCY", "ZMW")
    # First words of an inbound SMS that opt the sender out / back in (case-insensitive). Beyond the
    # English carrier-standard words: Bemba and Nyanja "leka"/"lekeni" (stop, leave off) and Nyanja
    # "siya"/"siyani" (leave, quit); "yamba" (Nyanja) and "tampa" (Bemba) mean begin. Programmes should
    # confirm the words with their own speakers and extend the lists here.
    HERALD_OPTOUT_KEYWORDS = _env("HERALD_OPTOUT_KEYWORDS",
                                  "STOP,STOPALL,UNSUBSCRIBE,CANCEL,END,QUIT,LEKA,LEKENI,SIYA,SIYANI")
    HERALD_OPTIN_KEYWORDS = _env("HERALD_OPTIN_KEYWORDS", "START,UNSTOP,SUBSCRIBE,YAMBA,TAMPA")
    # Which service an inbound SMS belongs to, by the short code or number it was sent to:
    # "12345=1,+260211000000=2"; "*=1" catches every other destination. Unmatched inbound is ignored.
    HERALD_INBOUND_SERVICES = _env("HERALD_INBOUND_SERVICES", "")
    # Confirmation sent on the fast lane after an inbound STOP / START; empty (the default) sends none,
    # since every reply is a billed SMS and some programmes' rules forbid contact after a STOP.
    HERALD_OPTOUT_REPLY = _env("HERALD_OPTOUT_REPLY", "")
    HERALD_OPTIN_REPLY = _env("HERALD_OPTIN_REPLY", "")
    # Bearer token a Prometheus on another host scrapes /metrics with (queue depths and volumes are
    # business data); empty means only scrapes from this host (loopback) are answered.
    HERALD_METRICS_TOKEN = _env("HERALD_METRICS_TOKEN", "")
