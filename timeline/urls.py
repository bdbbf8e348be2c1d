from django.urls import path

from timeline import automate_views, views

app_name = "timeline"

urlpatterns = [
    path("", views.timeline, name="index"),
    path("records/<int:pk>/", views.record, name="record"),
    path("records/<int:pk>/photo/", views.photo, name="photo"),
    path("places/<int:pk>/", views.place, name="place"),
    path("people/<int:pk>/", views.person, name="person"),
]
urlpatterns += [
    path("export/", views.export_start, name="export_start"),
    path("export/<int:pk>/", views.export_status, name="export"),
    path("export/<int:pk>/download/", views.export_download, name="export_download"),
]
urlpatterns += [path("automate/", automate_views.automate, name="automate")]
