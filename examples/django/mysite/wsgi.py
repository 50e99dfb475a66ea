"""WSGI entry point: `module = mysite.wsgi:application` in uwsgi.ini.sample."""
import os

from django.core.wsgi import get_wsgi_application

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "mysite.settings")

application = get_wsgi_application()
