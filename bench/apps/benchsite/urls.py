from django.http import HttpResponse
from django.urls import path


def sync_view(request):
    return HttpResponse(b"Hello from a sync view", content_type="text/plain")


urlpatterns = [path("", sync_view)]
