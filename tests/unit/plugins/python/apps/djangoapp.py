"""A one-file Django site: a view reading the body, and a FileResponse
(which uses wsgi.file_wrapper)."""
import os

from django.conf import settings

settings.configure(
    DEBUG=False,
    SECRET_KEY="test",
    ROOT_URLCONF=__name__,
    ALLOWED_HOSTS=["*"],
    MIDDLEWARE=["django.middleware.common.CommonMiddleware"],
)

from django.core.wsgi import get_wsgi_application  # noqa: E402
from django.http import FileResponse, HttpResponse  # noqa: E402
from django.shortcuts import redirect  # noqa: E402
from django.urls import path, reverse  # noqa: E402

HERE = os.path.dirname(os.path.abspath(__file__))


def echo(request):
    return HttpResponse("%s %s %s" % (request.method, request.GET.get("q"), request.body.decode()))


def download(request):
    return FileResponse(open(os.path.join(HERE, "data.txt"), "rb"))


def where(request):
    """What a view sees when the site is mounted under a prefix."""
    return HttpResponse("%s %s %s" % (reverse("echo"), request.path, request.path_info))


def go(request):
    return redirect("echo")


urlpatterns = [path("echo", echo, name="echo"), path("download", download),
               path("where", where), path("go", go)]
application = get_wsgi_application()
