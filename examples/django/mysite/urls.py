"""URL map of the example site; each view is in pages/views.py."""
from django.urls import path

from pages import views

urlpatterns = [
    path("", views.index, name="index"),
    path("async/", views.async_view, name="async"),
    path("form/", views.form, name="form"),
    path("boom/", views.boom, name="boom"),
    path("echo/", views.echo, name="echo"),
    path("pid/", views.pid, name="pid"),
]
