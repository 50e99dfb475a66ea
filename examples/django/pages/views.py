"""Views of the example site, each one exercising a part of the container:
a plain page, an async view, a CSRF-protected form, an exception, and a
JSON echo of the request body used by the integration tests."""
import asyncio
import os

from django.http import HttpResponse, JsonResponse
from django.shortcuts import render
from django.views.decorators.csrf import csrf_exempt


def index(request):
    return render(request, "pages/index.html", {"pid": os.getpid()})


async def async_view(request):
    await asyncio.sleep(0)
    return HttpResponse(
        "<!doctype html><title>async</title><p>Hello from an async view.</p>\n"
    )


def form(request):
    if request.method == "POST":
        name = request.POST.get("name", "")
        return render(request, "pages/form_done.html", {"name": name})
    return render(request, "pages/form.html")


def boom(request):
    raise RuntimeError("boom: this view always fails")


@csrf_exempt
def echo(request):
    body = request.body
    return JsonResponse(
        {
            "method": request.method,
            "path": request.path,
            "query": request.META.get("QUERY_STRING", ""),
            "content_type": request.META.get("CONTENT_TYPE", ""),
            "length": len(body),
            "body": body.decode("utf-8", "replace"),
        }
    )


def pid(request):
    return HttpResponse(str(os.getpid()), content_type="text/plain")
