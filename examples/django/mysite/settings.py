"""Settings of the example site served by Corral.

No database: the views need none, so there is nothing to migrate. DEBUG is
off, as in production, so errors go to the log (LOGGING below) and the
client gets a plain 500.
"""
from pathlib import Path

BASE_DIR = Path(__file__).resolve().parent.parent

SECRET_KEY = "corral-example-not-a-secret-do-not-use-in-production"
DEBUG = False
ALLOWED_HOSTS = ["*"]

INSTALLED_APPS = [
    "django.contrib.staticfiles",
    "pages",
]

MIDDLEWARE = [
    "django.middleware.security.SecurityMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
]

ROOT_URLCONF = "mysite.urls"
WSGI_APPLICATION = "mysite.wsgi.application"

TEMPLATES = [
    {
        "BACKEND": "django.template.backends.django.DjangoTemplates",
        "DIRS": [],
        "APP_DIRS": True,
        "OPTIONS": {"context_processors": ["django.template.context_processors.csrf"]},
    },
]

DATABASES = {}

USE_TZ = True
TIME_ZONE = "UTC"
LANGUAGE_CODE = "en-us"

# nginx serves /static/ from STATIC_ROOT (see examples/nginx/corral.conf);
# fill it with `manage.py collectstatic`.
STATIC_URL = "/static/"
STATIC_ROOT = BASE_DIR / "staticfiles"

# With DEBUG off Django would only mail tracebacks to ADMINS; send them to
# stderr instead, which the container writes to its log.
LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "handlers": {"stderr": {"class": "logging.StreamHandler"}},
    "loggers": {
        "django": {"handlers": ["stderr"], "level": "ERROR", "propagate": False},
    },
}
