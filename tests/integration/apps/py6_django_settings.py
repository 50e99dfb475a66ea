"""Settings for the Django example (examples/django) as
tests/integration/test_python.py runs it: the example's own settings, with
py6_django_urls as the URL map (the example's URLs plus two test views).
Use with `pythonpath` naming examples/django and this directory and
`env = DJANGO_SETTINGS_MODULE=py6_django_settings`."""
from mysite.settings import *  # noqa: F401,F403

ROOT_URLCONF = "py6_django_urls"
# the 10 MB upload goes to a temporary file, as in production
FILE_UPLOAD_MAX_MEMORY_SIZE = 1024 * 1024
