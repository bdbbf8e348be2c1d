from django.urls import path

from timeline import views

app_name = "timeline"

urlpatterns = [
    path("", views.timeline, name="index"),
    path("records/<int:pk>/", views.record, name="record"),
    path("records/<int:pk>/photo/", views.photo, name="photo"),
    path("places/<int:pk>/", views.place, name="place"),
    path("people/<int:pk>/", views.person, name="person"),
]
