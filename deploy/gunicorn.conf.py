"""gunicorn settings for production: `gunicorn -c deploy/gunicorn.conf.py`.

Run `grafeas-py db upgrade` once per release before starting instances; every instance is
stateless and shares one PostgreSQL database (GRAFEAS_DATABASE_URL).
"""

import multiprocessing
import os
import sys

from grafeas_py import db, server
from grafeas_py.config import MAX_PROCESSES, Settings, env_count

wsgi_app = "grafeas_py.server:worker_app()"
bind = os.environ.get("GRAFEAS_BIND", "0.0.0.0:8080")
try:
    workers = env_count("GRAFEAS_WORKERS", min(2 * multiprocessing.cpu_count() + 1, 8), MAX_PROCESSES)
    threads = env_count("GRAFEAS_THREADS", 4, MAX_PROCESSES)
    settings = Settings.from_env()
    settings.check_files()  # here, in the master, once; not by each worker as it boots
    # Read here, in the master, once: every worker it forks judges by it (see server.admission_at_start).
    server.admission_at_start(settings.admission_config)
except ValueError as exc:  # one line, as grafeas-py says it, rather than gunicorn's traceback of this file
    print(f"Error: bad configuration: {exc}", file=sys.stderr)
    sys.exit(2)
# A SQLite file the server cannot write is refused here, as `grafeas-py serve` refuses it: it served reads
# and /readyz, and failed every write. PostgreSQL is not asked, nor a missing file made.
try:
    db.refuse_read_only(settings.database_url)
except db.Unreachable as exc:
    print(f"Error: {exc}", file=sys.stderr)
    sys.exit(1)
# Threads read each request themselves, with no bound on how slowly it arrives: serve behind a
# buffering proxy where untrusted clients connect (README: Running in production).
worker_class = "gthread"
timeout = 60
graceful_timeout = 30
keepalive = 5
limit_request_line = server.LIMIT_REQUEST_LINE  # long filters on list calls
max_requests = server.MAX_REQUESTS  # workers are replaced now and then (see grafeas_py.server)
max_requests_jitter = server.MAX_REQUESTS_JITTER
# gunicorn 25.1+ would open a control socket at one path per user, shared by every instance on a
# host; nothing here uses it (older versions ignore the setting).
control_socket_disable = True
accesslog = "-"
errorlog = "-"
# Trust X-Forwarded-* only from the local proxy unless told otherwise.
forwarded_allow_ips = os.environ.get("GRAFEAS_FORWARDED_ALLOW_IPS", "127.0.0.1")
# Garbage collection tuned for batches, and gunicorn's own errors in the API's JSON error shape
# (see grafeas_py.server.post_worker_init).
post_worker_init = server.post_worker_init
# The database pools follow the threads a worker runs, also when GUNICORN_CMD_ARGS changes them.
post_fork = server.post_fork
# The warning that authentication is off, once (see grafeas_py.server.when_ready).
when_ready = server.when_ready
