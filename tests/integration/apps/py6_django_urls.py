"""The Django example's URLs, plus the views the Python plugin's
integration tests need:

  sleep/?S    sleeps S seconds (at most 5), answers the worker's pid and
              thread id ("pid thread")
  upload/     multipart POST: each file of request.FILES with its field,
              name, size and sha256 (JSON)
"""
import hashlib
import os
import threading
import time

from django.http import HttpResponse, JsonResponse
from django.urls import path
from django.views.decorators.csrf import csrf_exempt

from mysite.urls import urlpatterns as example_urlpatterns


def sleep(request):
    time.sleep(min(float(request.META.get("QUERY_STRING") or "1"), 5.0))
    return HttpResponse("%d %d" % (os.getpid(), threading.get_ident()),
                        content_type="text/plain")


@csrf_exempt
def upload(request):
    out = []
    for field, files in request.FILES.lists():
        for f in files:
            h = hashlib.sha256()
            for chunk in f.chunks():
                h.update(chunk)
            out.append({"field": field, "filename": f.name, "size": f.size,
                        "sha256": h.hexdigest()})
    return JsonResponse({"files": out, "form": request.POST.dict()})


urlpatterns = list(example_urlpatterns) + [
    path("sleep/", sleep),
    path("upload/", upload),
]
