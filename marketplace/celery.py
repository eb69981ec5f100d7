"""The marketplace's Celery app. Broker: Redis when REDIS_URL is set, else a server-less one."""

import os

from celery import Celery
from celery.signals import task_prerun

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "marketplace.settings")

app = Celery("marketplace")
app.config_from_object("django.conf:settings", namespace="CELERY")
app.autodiscover_tasks()


@task_prerun.connect
def _drop_broken_connections(**kwargs: object) -> None:
    # Workers reuse DB connections across tasks (CELERY_DB_REUSE_MAX); like Django does per
    # request, drop one that is broken or past CONN_MAX_AGE before the task uses it.
    from django.db import close_old_connections

    close_old_connections()
