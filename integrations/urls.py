from django.urls import path

from integrations.views import connect, gallery, items, manage, mine, monitor, notifications, tokens, uploads

app_name = "integrations"

urlpatterns = [
    path("", mine.mine, name="mine"),
    path("gallery/", gallery.gallery, name="gallery"),
    path("connect/<slug:slug>/", connect.settings_form, name="connect"),
    path("connect/<slug:slug>/test/", connect.check_connection, name="connect_test"),
    path("items/", items.items, name="all_items"),
    path("notifications/", notifications.notifications, name="notifications"),
    path("api-tokens/", tokens.tokens, name="tokens"),
    path("api-tokens/<int:token_pk>/revoke/", tokens.revoke, name="revoke_token"),
    path("<int:pk>/", manage.detail, name="detail"),
    path("<int:pk>/settings/", connect.settings_form, name="edit"),
    path("<int:pk>/settings/test/", connect.check_connection, name="edit_test"),
    path("<int:pk>/pause/", manage.pause, name="pause"),
    path("<int:pk>/resume/", manage.resume, name="resume"),
    path("<int:pk>/disconnect/", manage.disconnect, name="disconnect"),
    path("<int:pk>/delete/", manage.delete, name="delete"),
    path("<int:pk>/sync/", monitor.sync_now, name="sync_now"),
    path("<int:pk>/jobs/", monitor.ledger, name="ledger"),
    path("<int:pk>/jobs/<int:job_pk>/", monitor.job, name="job"),
    path("<int:pk>/jobs/<int:job_pk>/status/", monitor.job_status, name="job_status"),
    path("<int:pk>/items/", items.items, name="items"),
    path("<int:pk>/import/", uploads.import_export, name="import_export"),
    path("<int:pk>/import/upload/", uploads.plain_upload, name="plain_upload"),
    path("connect/<slug:slug>/upload/", uploads.plain_upload, name="plain_upload_new"),
    path("uploads/<uuid:upload_id>/remove/", uploads.remove, name="remove_upload"),
]
