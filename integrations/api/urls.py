from django.urls import re_path

from integrations.api import views

# Mounted after the API's routes (metacortex.api, on django-ninja): anything else under /api/v1/
# is a JSON 404, never Django's HTML page.
urlpatterns = [
    re_path(r"^", views.no_such_endpoint, name="api_no_such_endpoint"),
]
