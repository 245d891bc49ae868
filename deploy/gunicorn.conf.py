"""gunicorn's configuration for otpsite (deploy/systemd/otpsite-web.service runs it; so does `make serve`).

Workers: sync, (2 x CPUs) + 1 unless GUNICORN_WORKERS says otherwise. Nothing slow runs in an API request (codes
are sent by the delivery worker); the longest requests are the console's import steps, about 70 s for 100 000
people on 2 vCPU, so a worker is replaced after GUNICORN_TIMEOUT (150 s) and nginx waits as long for /admin/.
Each request is logged once, as a JSON line by the application (otpsite/logs.py, with its request id,
organization, actor and surface); gunicorn's own access log is off unless GUNICORN_ACCESS_LOG names a file
or "-", and then carries the request id too.
"""

import multiprocessing
import os
import re
import tempfile
from pathlib import Path

bind = os.environ.get("OTPSITE_BIND", "127.0.0.1:8000")
workers = int(os.environ.get("GUNICORN_WORKERS") or multiprocessing.cpu_count() * 2 + 1)
worker_class = "sync"
timeout = int(os.environ.get("GUNICORN_TIMEOUT") or 150)
graceful_timeout = 30
keepalive = 5
# Recycle workers now and then, staggered, so a slow leak cannot grow for ever.
max_requests = 5000
max_requests_jitter = 500
# nginx (deploy/nginx/otpsite.conf) is the only client; it sets these headers.
forwarded_allow_ips = os.environ.get("GUNICORN_FORWARDED_ALLOW_IPS", "127.0.0.1")
accesslog = os.environ.get("GUNICORN_ACCESS_LOG") or None
access_log_format = '%(h)s "%(r)s" %(s)s %(b)s %(M)sms request_id=%({x-request-id}o)s'
errorlog = "-"
loglevel = os.environ.get("GUNICORN_LOG_LEVEL", "info")
proc_name = "otpsite-web"
# gunicorn's control socket would live in the service user's home, which the unit keeps read-only.
control_socket_disable = True

# prometheus_client's multiprocess mode: every worker (and the delivery worker, given the same folder)
# writes its metrics to files there, and /metrics adds them up. Set before any worker imports the client.
os.environ.setdefault("PROMETHEUS_MULTIPROC_DIR", str(Path(tempfile.gettempdir()) / "otpsite-metrics"))
METRICS_DIR = Path(os.environ["PROMETHEUS_MULTIPROC_DIR"])
METRIC_FILE = re.compile(r"_(\d+)\.db$")


def on_starting(server):
    """Clears the files of processes that are gone (a restart), keeping those of a running delivery worker."""
    METRICS_DIR.mkdir(parents=True, exist_ok=True)
    for path in METRICS_DIR.glob("*.db"):
        match = METRIC_FILE.search(path.name)
        if match and not Path(f"/proc/{match.group(1)}").exists():
            path.unlink(missing_ok=True)


def child_exit(server, worker):
    from prometheus_client import multiprocess

    multiprocess.mark_process_dead(worker.pid)
