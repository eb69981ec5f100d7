# The marketplace image: one image for every process of the production stack (web, Celery worker,
# Celery beat, the one-shot migration, and the emulator in the compose `dev` profile).
FROM python:3.11-slim

ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1

RUN groupadd --system --gid 10001 app \
    && useradd --system --uid 10001 --gid app --home-dir /app --shell /usr/sbin/nologin app

WORKDIR /app

# Dependencies first, so this layer is rebuilt only when requirements.txt changes.
COPY requirements.txt ./
RUN pip install -r requirements.txt

# The project, installed editable like `make install` (its dependencies are already in place).
# var/ (settings' MARKETPLACE_VAR_DIR: static files, scratch) and /data (the emulator's volume
# in the dev profile) belong to the app user, so nothing runs as root.
COPY . .
RUN pip install --no-deps -e . \
    && mkdir -p /app/var /data \
    && chown -R app:app /app/var /data

USER app

# Static files are baked into the image and served by whitenoise. Settings refuse to load without
# a secret key when DEBUG is off; this throwaway one exists only for this command, not in the image.
RUN DJANGO_SECRET_KEY=collectstatic-only-not-a-secret DJANGO_DEBUG=0 \
    python manage.py collectstatic --no-input

EXPOSE 8000
CMD ["sh", "-c", "exec gunicorn marketplace.wsgi:application --bind 0.0.0.0:8000 --workers ${WEB_CONCURRENCY:-3} --access-logfile -"]
